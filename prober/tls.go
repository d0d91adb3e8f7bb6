package prober

import (
	"crypto/dsa" //nolint:staticcheck // only to name the key of an old certificate
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Bounds on what a certificate may add to a result.
const (
	maxCertsReported = 16
	maxSANsReported  = 64
	maxNameBytes     = 256
)

// verifyChain checks the presented chain against roots (nil: the system
// pool) and the host name, as crypto/tls would have, and says which of the
// certificate failure reasons applies.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, serverName string, now time.Time) ([]*x509.Certificate, Reason, error) {
	if len(certs) == 0 {
		return nil, ReasonTLSHandshakeFailed, errors.New("server presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		CurrentTime:   now,
		DNSName:       serverName,
		Intermediates: x509.NewCertPool(),
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err == nil {
		return chains[0], "", nil
	}
	var invalid x509.CertificateInvalidError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return nil, ReasonCertExpired, err
	case errors.As(err, &hostErr):
		return nil, ReasonCertHostnameMismatch, err
	default:
		// An expired intermediate also surfaces as "unknown authority", so
		// look at the dates ourselves before calling the chain untrusted.
		for _, c := range certs {
			if now.After(c.NotAfter) || now.Before(c.NotBefore) {
				return nil, ReasonCertExpired, fmt.Errorf("certificate %s is outside its validity period (%s to %s): %w",
					// not %q: escaping would hide a secret from redaction
					`"`+c.Subject.String()+`"`, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), err)
			}
		}
		return nil, ReasonCertUntrusted, err
	}
}

// describeTLS captures the session and certificate facts a probe reports.
func describeTLS(state tls.ConnectionState, clean func(string, int) string) *TLSInfo {
	info := &TLSInfo{
		Version:    tlsVersionName(state.Version),
		Cipher:     tls.CipherSuiteName(state.CipherSuite),
		ServerName: state.ServerName,
	}
	for i, c := range state.PeerCertificates {
		if i >= maxCertsReported {
			break
		}
		info.Certificates = append(info.Certificates, describeCert(c, clean))
	}
	info.ChainCertificates = len(state.PeerCertificates)
	info.EarliestExpiry = earliestExpiry(state.PeerCertificates)
	info.LastChainExpiry = info.EarliestExpiry
	return info
}

// describeChain describes a verified chain, reusing the descriptions of
// the presented certificates it holds (the leaf, usually the
// intermediates), which are the same certificates.
func describeChain(chain, presented []*x509.Certificate, described []CertInfo, clean func(string, int) string) []CertInfo {
	infos := make([]CertInfo, 0, min(len(chain), maxCertsReported))
	for _, c := range chain[:cap(infos)] {
		i := slices.Index(presented, c)
		if i >= 0 && i < len(described) {
			infos = append(infos, described[i])
		} else {
			infos = append(infos, describeCert(c, clean))
		}
	}
	return infos
}

func earliestExpiry(certs []*x509.Certificate) time.Time {
	var earliest time.Time
	for _, c := range certs {
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest
}

// describeCert describes c; clean sanitizes, redacts and caps its
// server-chosen names.
func describeCert(c *x509.Certificate, clean func(string, int) string) CertInfo {
	sum := sha256.Sum256(c.Raw)
	info := CertInfo{
		Subject:            clean(c.Subject.String(), maxNameBytes),
		Issuer:             clean(c.Issuer.String(), maxNameBytes),
		SerialNumber:       strings.ToLower(c.SerialNumber.Text(16)),
		FingerprintSHA256:  hex.EncodeToString(sum[:]),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		IsCA:               c.IsCA,
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
	}
	info.KeyType, info.KeyBits = keyFacts(c.PublicKey)
	add := func(s string) bool {
		if len(info.SANs) >= maxSANsReported {
			return false
		}
		info.SANs = append(info.SANs, clean(s, maxNameBytes))
		return true
	}
	for _, n := range c.DNSNames {
		if !add(n) {
			break
		}
	}
	for _, ip := range c.IPAddresses {
		if !add(net.IP(ip).String()) {
			break
		}
	}
	for _, e := range c.EmailAddresses {
		if !add(e) {
			break
		}
	}
	return info
}

// keyFacts names a public key's algorithm and size.
func keyFacts(pub any) (string, int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "rsa", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ecdsa", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "ed25519", 256
	case *dsa.PublicKey: //nolint:staticcheck // reported, not used: DSA keys still turn up on old servers
		return "dsa", k.P.BitLen()
	}
	return "unknown", 0
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS 1.0"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("unknown (0x%04x)", v)
}
