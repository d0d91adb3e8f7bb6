package mtasts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mtasts test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return testCA{c, key, pool}
}

func (ca testCA) leaf(t *testing.T, name string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serve starts an HTTPS server on loopback with cert and returns a fetcher
// whose dialer goes there whatever name it is asked for.
func serve(t *testing.T, ca testCA, cert tls.Certificate, h http.HandlerFunc) (*Fetcher, *[]string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	var dialed []string
	return &Fetcher{
		RootCAs: ca.pool,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}, &dialed
}

func policyHandler(ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write([]byte(body))
	}
}

func TestFetch(t *testing.T) {
	ca := newCA(t)
	good := ca.leaf(t, "mta-sts.example.com", time.Now().Add(20*time.Hour))
	tests := []struct {
		name    string
		cert    tls.Certificate
		handler http.HandlerFunc
		timeout time.Duration
		wantErr string
		status  int
	}{
		{"enforce policy", good, policyHandler("text/plain", rfcPolicy), 0, "", 200},
		{"charset parameter", good, policyHandler("text/plain; charset=utf-8", rfcPolicy), 0, "", 200},
		{"redirect", good, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example.com/mta-sts.txt", http.StatusMovedPermanently)
		}, 0, "redirect to", 301},
		{"not found", good, http.NotFound, 0, "HTTP status 404", 404},
		{"wrong type", good, policyHandler("text/html", rfcPolicy), 0, `Content-Type "text/html"`, 200},
		{"no type", good, func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = w.Write([]byte(rfcPolicy))
		}, 0, "not text/plain", 200},
		{"oversize", good, policyHandler("text/plain", rfcPolicy+strings.Repeat("x: y\n", 14000)), 0, "larger than 65536", 200},
		{"bad syntax", good, policyHandler("text/plain", "version: STSv1\nmode: strict\nmax_age: 1\n"), 0, "mode \"strict\"", 200},
		{"slow headers", good, func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			// Returning would send an empty 200, which a loaded machine
			// can deliver before the client notices its deadline.
			panic(http.ErrAbortHandler)
		}, 200 * time.Millisecond, "deadline", 0},
		{"slow body", good, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("version: STSv1\n"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, 200 * time.Millisecond, "deadline", 200},
		{"certificate for another name", ca.leaf(t, "www.example.com", time.Now().Add(time.Hour)), policyHandler("text/plain", rfcPolicy), 0, "certificate not valid for mta-sts.example.com", 0},
		{"expired certificate", ca.leaf(t, "mta-sts.example.com", time.Now().Add(-time.Hour)), policyHandler("text/plain", rfcPolicy), 0, "expired", 0},
		{"untrusted CA", newCA(t).leaf(t, "mta-sts.example.com", time.Now().Add(time.Hour)), policyHandler("text/plain", rfcPolicy), 0, "unknown authority", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, dialed := serve(t, ca, tc.cert, tc.handler)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			p, fe, err := f.Fetch(ctx, "example.com.")
			if fe.URL != "https://mta-sts.example.com/.well-known/mta-sts.txt" {
				t.Errorf("URL %s", fe.URL)
			}
			if len(*dialed) != 1 || (*dialed)[0] != "mta-sts.example.com:443" {
				t.Errorf("dialed %q, want once mta-sts.example.com:443", *dialed)
			}
			if fe.StatusCode != tc.status {
				t.Errorf("status %d, want %d", fe.StatusCode, tc.status)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.Mode != ModeEnforce || len(p.MX) != 3 || fe.Err != "" {
					t.Errorf("policy %+v, fetch %+v", p, fe)
				}
				leaf, _ := x509.ParseCertificate(tc.cert.Certificate[0])
				if !fe.CertNotAfter.Equal(leaf.NotAfter) {
					t.Errorf("cert not after %v, want %v", fe.CertNotAfter, leaf.NotAfter)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if fe.Err != err.Error() {
				t.Errorf("Fetch.Err %q, err %q", fe.Err, err)
			}
			if tc.timeout > 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err %v is not a deadline", err)
			}
		})
	}
}

// TestFetchRecordsExpiredCertificate: the expiry of a certificate that
// fails verification is still recorded, so the metric can say when it
// expired.
func TestFetchRecordsExpiredCertificate(t *testing.T) {
	ca := newCA(t)
	exp := time.Now().Add(-time.Hour).Truncate(time.Second)
	f, _ := serve(t, ca, ca.leaf(t, "mta-sts.example.com", exp), policyHandler("text/plain", rfcPolicy))
	_, fe, err := f.Fetch(context.Background(), "example.com")
	if err == nil {
		t.Fatal("an expired certificate was accepted")
	}
	if !fe.CertNotAfter.Equal(exp) || fe.CertError == "" {
		t.Errorf("not after %v (want %v), cert error %q", fe.CertNotAfter, exp, fe.CertError)
	}
}

// TestFetchIgnoresProxy: an HTTPS_PROXY in the environment is not used.
func TestFetchIgnoresProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	ca := newCA(t)
	f, _ := serve(t, ca, ca.leaf(t, "mta-sts.example.com", time.Now().Add(time.Hour)), policyHandler("text/plain", rfcPolicy))
	if _, _, err := f.Fetch(context.Background(), "example.com"); err != nil {
		t.Fatal(err)
	}
}
