package smtptest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP response kinds for Staple.
const (
	OCSPGood         = ocsp.Good
	OCSPRevoked      = ocsp.Revoked
	OCSPUnknown      = ocsp.Unknown
	OCSPBadSignature = -1 // a good response whose signature does not verify
)

// Staple returns cert with an OCSP response from ca stapled to it: status
// is one of the OCSP* constants; nextUpdate zero leaves it out.
func (ca *CA) Staple(t T, cert tls.Certificate, status int, nextUpdate time.Time) tls.Certificate {
	t.Helper()
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := ocsp.Response{
		Status:       status,
		SerialNumber: leaf.SerialNumber,
		ThisUpdate:   time.Now().Add(-time.Hour).Truncate(time.Second),
		NextUpdate:   nextUpdate,
	}
	bad := status == OCSPBadSignature
	if bad {
		tmpl.Status = ocsp.Good
	}
	if status == OCSPRevoked {
		tmpl.RevokedAt = time.Now().Add(-2 * time.Hour).Truncate(time.Second)
		tmpl.RevocationReason = ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(ca.Cert, ca.Cert, tmpl, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if bad {
		// The signature is the response's last field (no certificates are
		// embedded): one flipped bit in it and the CA did not sign this.
		der[len(der)-1] ^= 0x01
	}
	cert.OCSPStaple = der
	return cert
}

// SubCA makes an intermediate CA under ca. A certificate it issues needs
// Chain to be sent with the intermediate.
func (ca *CA) SubCA(t T) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(50),
		Subject:               pkix.Name{CommonName: "smtptest intermediate CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key}
}

// Chain appends the issuing CA's certificate to cert, as a server sends it.
func (ca *CA) Chain(cert tls.Certificate) tls.Certificate {
	cert.Certificate = append(cert.Certificate, ca.Cert.Raw)
	return cert
}
