package config

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keyPair makes a self-signed certificate (which serves as a CA too) and
// returns its PEM certificate and key.
func keyPair(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// rotationFixture is a config whose module reads every kind of file.
type rotationFixture struct {
	dir                   string
	cfg                   *Config
	m                     *Module
	logs                  *bytes.Buffer
	logger                *slog.Logger
	ca, cert, key, passwd string
}

func newRotationFixture(t *testing.T) *rotationFixture {
	t.Helper()
	f := &rotationFixture{dir: t.TempDir(), logs: &bytes.Buffer{}}
	f.logger = slog.New(slog.NewTextHandler(f.logs, nil))
	f.ca, f.cert, f.key, f.passwd = filepath.Join(f.dir, "ca.pem"), filepath.Join(f.dir, "client.pem"),
		filepath.Join(f.dir, "client.key"), filepath.Join(f.dir, "password")
	caPEM, _ := keyPair(t, "CA one")
	certPEM, keyPEM := keyPair(t, "client one")
	write(t, f.ca, caPEM)
	write(t, f.cert, certPEM)
	write(t, f.key, keyPEM)
	write(t, f.passwd, []byte("password-one\n"))
	doc := "modules:\n  m:\n    tls: starttls\n    tls_config: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key, server_name: mx.example.net}\n" +
		"    auth: {username: u, password_file: password}\n"
	write(t, filepath.Join(f.dir, "config.yml"), []byte(doc))
	cfg, err := Load(filepath.Join(f.dir, "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg, f.m = cfg, cfg.Modules["m"]
	return f
}

// write replaces a file by a rename, as Kubernetes and most tools rotate.
func write(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (f *rotationFixture) clientCN(t *testing.T) string {
	t.Helper()
	certs := f.m.ClientTLS("x").Certificates
	if len(certs) != 1 {
		t.Fatalf("%d client certificates, want 1", len(certs))
	}
	c, err := x509.ParseCertificate(certs[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c.Subject.CommonName
}

// trusts reports whether the module's CA pool holds the certificate.
func (f *rotationFixture) trusts(t *testing.T, certPEM []byte) bool {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: f.m.Roots()})
	return err == nil
}

func TestRotation(t *testing.T) {
	f := newRotationFixture(t)
	expectEq(t, "password before", f.m.Auth.Password().Reveal(), "password-one")
	expectEq(t, "client certificate before", f.clientCN(t), "client one")

	// Nothing changed: nothing is re-read or logged.
	f.cfg.RefreshFiles(f.logger)
	expectEq(t, "log without a rotation", f.logs.String(), "")

	// The password.
	write(t, f.passwd, []byte("password-two\n"))
	f.cfg.RefreshFiles(f.logger)
	expectEq(t, "password after", f.m.Auth.Password().Reveal(), "password-two")
	expectLog(t, f.logs, "Rotated file re-read", f.passwd)

	// The CA.
	caPEM, _ := keyPair(t, "CA two")
	expectEq(t, "new CA trusted before", f.trusts(t, caPEM), false)
	write(t, f.ca, caPEM)
	f.cfg.RefreshFiles(f.logger)
	expectEq(t, "new CA trusted after", f.trusts(t, caPEM), true)
	expectLog(t, f.logs, "Rotated file re-read", f.ca)

	// The client certificate and key: the certificate first, which does not
	// match the old key, so the old pair stays until the key follows.
	certPEM, keyPEM := keyPair(t, "client two")
	write(t, f.cert, certPEM)
	f.logs.Reset()
	f.cfg.RefreshFiles(f.logger)
	expectEq(t, "half-rotated pair", f.clientCN(t), "client one")
	expectLog(t, f.logs, "Rotated file not used", "private key does not match public key")
	f.logs.Reset()
	f.cfg.RefreshFiles(f.logger)
	expectEq(t, "a refused file is logged once", f.logs.String(), "")
	write(t, f.key, keyPEM)
	f.cfg.RefreshFiles(f.logger)
	expectEq(t, "rotated pair", f.clientCN(t), "client two")
	expectLog(t, f.logs, "Rotated file re-read", f.key)

	// A vanished or broken file keeps the previous contents.
	if err := os.Remove(f.passwd); err != nil {
		t.Fatal(err)
	}
	write(t, f.ca, []byte("not PEM"))
	f.logs.Reset()
	f.cfg.RefreshFiles(f.logger)
	expectEq(t, "password kept", f.m.Auth.Password().Reveal(), "password-two")
	expectEq(t, "CA kept", f.trusts(t, caPEM), true)
	expectLog(t, f.logs, "Cannot re-read file", f.passwd)
	expectLog(t, f.logs, "holds no PEM certificate")
	if strings.Contains(f.logs.String(), "password-two") {
		t.Errorf("the log holds the password:\n%s", f.logs)
	}
}

// TestWatchFiles: the exporter's watcher puts a rotated password into use
// without a reload.
func TestWatchFiles(t *testing.T) {
	f := newRotationFixture(t)
	sc := NewSafeConfig(filepath.Join(f.dir, "config.yml"), nil, nil)
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sc.WatchFiles(ctx, 10*time.Millisecond, slog.New(slog.DiscardHandler)); close(done) }()
	defer func() { cancel(); <-done }()
	write(t, f.passwd, []byte("password-three"))
	deadline := time.Now().Add(10 * time.Second)
	for sc.Get().Modules["m"].Auth.Password().Reveal() != "password-three" {
		if time.Now().After(deadline) {
			t.Fatal("the rotated password was not put into use")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func expectEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func expectLog(t *testing.T, logs *bytes.Buffer, parts ...string) {
	t.Helper()
	for line := range strings.SplitSeq(logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return
		}
	}
	t.Errorf("no log line with %q:\n%s", parts, logs)
}
