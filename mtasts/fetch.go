package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"
)

// Fetcher fetches policies. The zero value dials with a plain net.Dialer
// and trusts the system's roots.
type Fetcher struct {
	// RootCAs verifies the policy host's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// DialContext opens the TCP connection to "mta-sts.DOMAIN:443"; the
	// caller resolves the name through its own resolver and applies its
	// allow-list there. Nil: net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock certificates are verified at; nil: time.Now.
	Now func() time.Time
}

// Fetch is what one policy fetch found, whether or not it succeeded.
type Fetch struct {
	URL         string `json:"url"`
	StatusCode  int    `json:"status_code,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// CertNotAfter is the policy host's certificate's expiry (zero when no
	// TLS handshake completed); it is recorded even when the certificate
	// does not verify, to say when it expired.
	CertNotAfter time.Time `json:"cert_not_after,omitzero"`
	// CertError is why the certificate is not valid for the host.
	CertError string `json:"cert_error,omitempty"`
	// Body is the policy text (at most MaxPolicySize bytes).
	Body     string        `json:"body,omitempty"`
	Duration time.Duration `json:"duration"`
	// Err says why there is no usable policy; empty when there is one.
	Err string `json:"error,omitempty"`
}

// maxHeaderBytes bounds the response headers of the policy host.
const maxHeaderBytes = 16 << 10

// PolicyURL is where the policy of domain is served (RFC 8461 §3.3).
func PolicyURL(domain string) string {
	return "https://mta-sts." + strings.TrimSuffix(domain, ".") + "/.well-known/mta-sts.txt"
}

// Fetch gets and parses the policy of domain (RFC 8461 §3.3): HTTPS to
// mta-sts.DOMAIN with a certificate valid for that name, no redirects,
// status 200, Content-Type text/plain, at most MaxPolicySize bytes, all
// inside ctx's deadline. The returned Fetch describes the attempt; the
// error is also in Fetch.Err.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (Policy, Fetch, error) {
	start := time.Now()
	host := "mta-sts." + strings.TrimSuffix(domain, ".")
	fe := Fetch{URL: PolicyURL(domain)}
	p, err := f.fetch(ctx, host, &fe)
	fe.Duration = time.Since(start)
	if err != nil {
		fe.Err = err.Error()
	}
	return p, fe, err
}

func (f *Fetcher) fetch(ctx context.Context, host string, fe *Fetch) (Policy, error) {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	dial := f.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tlsConf := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// The standard verification runs in VerifyConnection instead, so the
		// certificate's expiry is recorded even when it fails.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate presented")
			}
			leaf := cs.PeerCertificates[0]
			fe.CertNotAfter = leaf.NotAfter
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := leaf.Verify(x509.VerifyOptions{
				Roots: f.RootCAs, Intermediates: inter, DNSName: host, CurrentTime: now(),
			})
			if err != nil {
				fe.CertError = err.Error()
				return fmt.Errorf("certificate not valid for %s: %w", host, err)
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                  nil, // never through a proxy from the environment
		DialContext:            dial,
		TLSClientConfig:        tlsConf,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: maxHeaderBytes,
		ForceAttemptHTTP2:      false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		// RFC 8461 §3.3: senders must not follow redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fe.URL, http.NoBody)
	if err != nil {
		return Policy{}, err
	}
	req.Header.Set("User-Agent", "smtp_exporter")
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop net/http's `Get "URL": ` prefix
		}
		return Policy{}, fmt.Errorf("fetching the policy: %w", err)
	}
	defer resp.Body.Close()
	fe.StatusCode = resp.StatusCode
	fe.ContentType = resp.Header.Get("Content-Type")
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return Policy{}, fmt.Errorf("HTTP %d redirect to %q, which senders do not follow", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.StatusCode != http.StatusOK {
		return Policy{}, fmt.Errorf("HTTP status %d, not 200", resp.StatusCode)
	}
	mt, _, err := mime.ParseMediaType(fe.ContentType)
	if err != nil || mt != "text/plain" {
		return Policy{}, fmt.Errorf("Content-Type %q, not text/plain", fe.ContentType)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err == nil && ctx.Err() != nil {
		// net/http may end a body cut short by the deadline with EOF: a
		// truncated policy must not be parsed as a whole one.
		err = ctx.Err()
	}
	if err != nil {
		return Policy{}, fmt.Errorf("reading the policy: %w", err)
	}
	if len(body) > MaxPolicySize {
		return Policy{}, fmt.Errorf("policy larger than %d bytes", MaxPolicySize)
	}
	fe.Body = string(body)
	p, err := ParsePolicy(body)
	if err != nil {
		return Policy{}, fmt.Errorf("policy: %w", err)
	}
	return p, nil
}
