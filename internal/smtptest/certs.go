// Package smtptest provides in-process SMTP servers and test certificates
// for the exporter's tests: well-behaved servers with STARTTLS, implicit TLS
// and AUTH, and raw servers for misbehaviour a real server won't produce.
// Everything listens on 127.0.0.1 only.
package smtptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// File is the CA certificate as PEM, for a module's ca_file.
	File string
}

// NewCA creates a CA valid from an hour ago for ten years.
func NewCA(t T) *CA {
	t.Helper()
	return newCA(t, newKey(t), time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour))
}

// NewRSACA is NewCA with an RSA key of bits, for SHA1-RSA signatures.
func NewRSACA(t T, bits int) *CA {
	t.Helper()
	return newCA(t, RSAKey(t, bits), time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour))
}

// RSAKey makes an RSA key of bits (1024 at least: Go refuses smaller ones).
func RSAKey(t T, bits int) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newCA(t T, key crypto.Signer, notBefore, notAfter time.Time) *CA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest root CA", Organization: []string{"smtp_exporter tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, File: file}
}

// Leaf describes a server certificate to issue.
type Leaf struct {
	DNSNames  []string
	IPs       []net.IP
	NotBefore time.Time // zero: an hour ago
	NotAfter  time.Time // zero: in 90 days
	Serial    int64     // zero: 2
	// Key is the leaf's key (nil: a fresh ECDSA P-256 key), for weak RSA keys.
	Key crypto.Signer
	// SignatureAlgorithm is how the CA signs it (zero: Go's choice for the
	// CA's key), for SHA-1 signatures.
	SignatureAlgorithm x509.SignatureAlgorithm
}

// Issue signs a server certificate and returns it with its key, for tls.Config.
func (ca *CA) Issue(t T, leaf Leaf) tls.Certificate {
	t.Helper()
	if leaf.Key != nil {
		return ca.issue(t, leaf, leaf.Key)
	}
	return ca.issue(t, leaf, newKey(t))
}

func (ca *CA) issue(t T, leaf Leaf, key crypto.Signer) tls.Certificate {
	t.Helper()
	if leaf.NotBefore.IsZero() {
		leaf.NotBefore = time.Now().Add(-time.Hour)
	}
	if leaf.NotAfter.IsZero() {
		leaf.NotAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	if leaf.Serial == 0 {
		leaf.Serial = 2
	}
	cn := "smtptest"
	if len(leaf.DNSNames) > 0 {
		cn = leaf.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(leaf.Serial),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     leaf.DNSNames,
		IPAddresses:  leaf.IPs,
		NotBefore:    leaf.NotBefore,
		NotAfter:     leaf.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},

		SignatureAlgorithm: leaf.SignatureAlgorithm,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}
}

// ServerTLS returns a server TLS config presenting cert.
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10}
}

// LocalhostLeaf is a certificate for localhost and 127.0.0.1.
func LocalhostLeaf() Leaf {
	return Leaf{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
}

func newKey(t T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
