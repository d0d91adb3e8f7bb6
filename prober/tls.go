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
	// maxSANBytesReported bounds the names of all the certificates one
	// probe reports: 64 names of 256 bytes in each of 16 certificates would
	// be 256 KiB, where a real leaf's names take a few hundred bytes.
	maxSANBytesReported = 4 << 10
)

// verifyErrorText is the text of a chain verification error, built no
// longer than a result keeps of it when Go's would be long: its
// HostnameError lists every name of the certificate, which from a hostile
// server is 28 KB of names, built three times over on the way. Only whole
// names are listed, so that redaction, which comes after, sees each one.
func verifyErrorText(err error) string {
	var h x509.HostnameError
	if !errors.As(err, &h) || h.Certificate == nil || len(h.Certificate.DNSNames) == 0 {
		return err.Error()
	}
	names := h.Certificate.DNSNames
	total := 0
	for _, n := range names {
		total += len(n) + 2
	}
	if total <= 2*MaxErrorBytes {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString("x509: certificate is valid for ")
	listed := 0
	for _, n := range names {
		if b.Len()+len(n) > 2*MaxErrorBytes {
			continue
		}
		if listed > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
		listed++
	}
	fmt.Fprintf(&b, " and %d more names, not %s", len(names)-listed, h.Host)
	return b.String()
}

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
		Version:    TLSVersion(state.Version),
		Cipher:     tls.CipherSuiteName(state.CipherSuite),
		ServerName: state.ServerName,
	}
	budget := maxSANBytesReported
	for i, c := range state.PeerCertificates {
		if i >= maxCertsReported {
			break
		}
		info.Certificates = append(info.Certificates, describeCert(c, clean, &budget))
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
	budget := maxSANBytesReported // for the roots: the trust store's, not the server's
	for _, c := range chain[:cap(infos)] {
		i := slices.Index(presented, c)
		if i >= 0 && i < len(described) {
			infos = append(infos, described[i])
		} else {
			infos = append(infos, describeCert(c, clean, &budget))
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
func describeCert(c *x509.Certificate, clean func(string, int) string, sanBudget *int) CertInfo {
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
	add := func(s string) {
		if len(info.SANs) < maxSANsReported {
			if s = clean(s, maxNameBytes); len(s) <= *sanBudget {
				*sanBudget -= len(s)
				info.SANs = append(info.SANs, s)
				return
			}
		}
		info.SANsNotReported++
	}
	for _, n := range c.DNSNames {
		add(n)
	}
	for _, ip := range c.IPAddresses {
		add(net.IP(ip).String())
	}
	for _, e := range c.EmailAddresses {
		add(e)
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
