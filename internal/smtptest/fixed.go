package smtptest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"time"
)

// Golden files hold certificate fingerprints and serials, so they need
// certificates that are byte for byte the same on every run: Ed25519 keys
// derived from fixed seeds (Ed25519 signatures are deterministic) and fixed
// dates.

// NewFixedCA creates a CA whose key and certificate are the same on every
// run, valid from notBefore to notAfter.
func NewFixedCA(t T, notBefore, notAfter time.Time) *CA {
	t.Helper()
	return newCA(t, fixedKey("smtptest fixed root CA"), notBefore, notAfter)
}

// IssueFixed is Issue with a key derived from the leaf's serial, so the same
// Leaf from the same fixed CA gives the same certificate. leaf.NotBefore and
// leaf.NotAfter must be set: the defaults follow the real clock.
func (ca *CA) IssueFixed(t T, leaf Leaf) tls.Certificate {
	t.Helper()
	if leaf.NotBefore.IsZero() || leaf.NotAfter.IsZero() {
		t.Fatal("IssueFixed needs fixed NotBefore and NotAfter")
	}
	if leaf.Key != nil {
		return ca.issue(t, leaf, leaf.Key)
	}
	return ca.issue(t, leaf, fixedKey(fmt.Sprintf("leaf %d", leaf.Serial)))
}

// FixedECDSAKey is a P-256 key that is the same on every run, for a
// fixed certificate a TLS 1.0 client can use (Ed25519 needs TLS 1.2).
func FixedECDSAKey(t T, name string) *ecdsa.PrivateKey {
	t.Helper()
	d := sha256.Sum256([]byte("smtp_exporter test ECDSA key: " + name))
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func fixedKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("smtp_exporter test key: " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}
