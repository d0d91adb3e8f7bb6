package prober

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPBytes bounds the stapled response parsed; real ones are a few KiB.
const maxOCSPBytes = 64 << 10

// checkOCSP reads the OCSP response stapled to the handshake for the leaf.
// The response's signature is checked against issuer (the leaf's issuer
// from the verified chain, or failing that from the presented one), either
// directly or through a delegated responder certificate the issuer signed.
// A response that does not parse, answers for another certificate or is
// not signed by the issuer is reported as not valid, with the reason, and
// its status is not believed.
func checkOCSP(raw []byte, leaf, issuer *x509.Certificate) *OCSPInfo {
	info := &OCSPInfo{}
	switch {
	case len(raw) > maxOCSPBytes:
		info.Error = fmt.Sprintf("stapled response of %d bytes exceeds the %d-byte bound", len(raw), maxOCSPBytes)
		return info
	case issuer == nil:
		info.Error = "no certificate that verifiably signed the leaf was presented, so the response's signature cannot be checked"
		return info
	}
	resp, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
	if err != nil {
		if re, ok := errors.AsType[ocsp.ResponseError](err); ok {
			info.Error = fmt.Sprintf("the responder answered %q instead of a status", re.Status.String())
		} else {
			info.Error = "invalid response: " + err.Error()
		}
		return info
	}
	info.Valid = true
	switch resp.Status {
	case ocsp.Good:
		info.Status = OCSPGood
	case ocsp.Revoked:
		info.Status = OCSPRevoked
		info.RevokedAt = resp.RevokedAt.UTC()
	default:
		info.Status = OCSPUnknown
	}
	info.ProducedAt = resp.ProducedAt.UTC()
	info.ThisUpdate = resp.ThisUpdate.UTC()
	if !resp.NextUpdate.IsZero() {
		info.NextUpdate = resp.NextUpdate.UTC()
	}
	return info
}

// findIssuer picks the certificate that signed the leaf: the next one in
// the verified chain, else a presented certificate whose signature on the
// leaf checks (the leaf itself when self-signed), else nil.
func findIssuer(leaf *x509.Certificate, verified, presented []*x509.Certificate) *x509.Certificate {
	if len(verified) > 1 {
		return verified[1]
	}
	for i, c := range presented {
		if i >= maxCertsReported {
			break
		}
		if leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	if len(verified) == 1 {
		return verified[0]
	}
	return nil
}

// ocspTimeString formats an OCSP time for the transcript.
func ocspTimeString(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
