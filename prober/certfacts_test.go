package prober

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestCertificateFacts runs probes against in-process servers presenting
// weak keys, SHA-1 signatures and stapled OCSP responses of every kind, and
// checks what the result says about the leaf as presented, also when the
// chain does not verify.
func TestCertificateFacts(t *testing.T) {
	ca := smtptest.NewCA(t)
	rsaCA := smtptest.NewRSACA(t, 2048)
	nextUpdate := time.Now().Add(48 * time.Hour).Truncate(time.Second).UTC()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	localhost := smtptest.LocalhostLeaf()
	with := func(f func(*smtptest.Leaf)) smtptest.Leaf {
		l := smtptest.LocalhostLeaf()
		f(&l)
		return l
	}

	cases := []struct {
		name     string
		ca       *smtptest.CA
		cert     func(t *testing.T) tls.Certificate
		verified bool
		keyType  string
		keyBits  int
		sigAlg   string
		// ocsp is the wanted OCSP state: "" none stapled, "invalid", or a status.
		ocsp string
	}{
		{
			name: "ECDSA P-256, no staple", ca: ca, verified: true,
			cert:    func(t *testing.T) tls.Certificate { return ca.Issue(t, localhost) },
			keyType: "ecdsa", keyBits: 256, sigAlg: "ECDSA-SHA256",
		},
		{
			name: "RSA 1024", ca: rsaCA, verified: true,
			cert: func(t *testing.T) tls.Certificate {
				return rsaCA.Issue(t, with(func(l *smtptest.Leaf) { l.Key = smtptest.RSAKey(t, 1024) }))
			},
			keyType: "rsa", keyBits: 1024, sigAlg: "SHA256-RSA",
		},
		{
			// crypto/x509 refuses SHA-1 signatures, so the chain does not
			// verify; the facts are reported all the same.
			name: "SHA-1 signed", ca: rsaCA, verified: false,
			cert: func(t *testing.T) tls.Certificate {
				return rsaCA.Issue(t, with(func(l *smtptest.Leaf) {
					l.Key = smtptest.RSAKey(t, 2048)
					l.SignatureAlgorithm = x509.SHA1WithRSA
				}))
			},
			keyType: "rsa", keyBits: 2048, sigAlg: "SHA1-RSA",
		},
		{
			name: "Ed25519 key", ca: ca, verified: true,
			cert:    func(t *testing.T) tls.Certificate { return ca.Issue(t, with(func(l *smtptest.Leaf) { l.Key = edKey })) },
			keyType: "ed25519", keyBits: 256, sigAlg: "ECDSA-SHA256",
		},
		{
			name: "stapled good", ca: ca, verified: true,
			cert: func(t *testing.T) tls.Certificate {
				return ca.Staple(t, ca.Issue(t, localhost), smtptest.OCSPGood, nextUpdate)
			},
			keyType: "ecdsa", keyBits: 256, sigAlg: "ECDSA-SHA256", ocsp: OCSPGood,
		},
		{
			name: "stapled revoked", ca: ca, verified: true,
			cert: func(t *testing.T) tls.Certificate {
				return ca.Staple(t, ca.Issue(t, localhost), smtptest.OCSPRevoked, nextUpdate)
			},
			keyType: "ecdsa", keyBits: 256, sigAlg: "ECDSA-SHA256", ocsp: OCSPRevoked,
		},
		{
			name: "stapled unknown", ca: ca, verified: true,
			cert: func(t *testing.T) tls.Certificate {
				return ca.Staple(t, ca.Issue(t, localhost), smtptest.OCSPUnknown, nextUpdate)
			},
			keyType: "ecdsa", keyBits: 256, sigAlg: "ECDSA-SHA256", ocsp: OCSPUnknown,
		},
		{
			name: "stapled with a bad signature", ca: ca, verified: true,
			cert: func(t *testing.T) tls.Certificate {
				return ca.Staple(t, ca.Issue(t, localhost), smtptest.OCSPBadSignature, nextUpdate)
			},
			keyType: "ecdsa", keyBits: 256, sigAlg: "ECDSA-SHA256", ocsp: "invalid",
		},
		{
			// A response from another CA does not speak for this leaf.
			name: "stapled by a stranger", ca: ca, verified: true,
			cert: func(t *testing.T) tls.Certificate {
				c := ca.Issue(t, localhost)
				c.OCSPStaple = rsaCA.Staple(t, rsaCA.Issue(t, localhost), smtptest.OCSPGood, nextUpdate).OCSPStaple
				return c
			},
			keyType: "ecdsa", keyBits: 256, sigAlg: "ECDSA-SHA256", ocsp: "invalid",
		},
		{
			name: "stapled garbage", ca: ca, verified: true,
			cert: func(t *testing.T) tls.Certificate {
				c := ca.Issue(t, localhost)
				c.OCSPStaple = []byte("\x30\x03not OCSP")
				return c
			},
			keyType: "ecdsa", keyBits: 256, sigAlg: "ECDSA-SHA256", ocsp: "invalid",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert := tc.cert(t)
			srv := smtptest.NewServer(t, smtptest.Config{StartTLS: smtptest.ServerTLS(cert)})
			m := testModule(t, "tls: starttls\ntls_config: {ca_file: "+tc.ca.File+"}")
			r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", m, nil, Options{})
			if r.TLS == nil {
				t.Fatalf("no TLS state: %s %s", r.Failure, r.Error)
			}
			expect(t, "verified", r.TLS.Verified, tc.verified)
			expect(t, "success", r.Success, tc.verified)
			expect(t, "chain certificates", r.TLS.ChainCertificates, 1)
			l := r.TLS.Certificates[0]
			expect(t, "key type", l.KeyType, tc.keyType)
			expect(t, "key bits", l.KeyBits, tc.keyBits)
			expect(t, "signature algorithm", l.SignatureAlgorithm, tc.sigAlg)
			expect(t, "not before", l.NotBefore.Equal(cert.Leaf.NotBefore), true)
			o := r.TLS.OCSP
			switch tc.ocsp {
			case "":
				if o != nil {
					t.Errorf("OCSP %+v, want none stapled", *o)
				}
			case "invalid":
				if o == nil || o.Valid || o.Status != "" || o.Error == "" {
					t.Fatalf("OCSP %+v, want an invalid response with its reason", o)
				}
				if !strings.Contains(transcriptText(r), "stapled OCSP response not valid") {
					t.Errorf("the transcript does not say the response is not valid:\n%s", transcriptText(r))
				}
			default:
				if o == nil || !o.Valid {
					t.Fatalf("OCSP %+v, want a valid response", o)
				}
				expect(t, "OCSP status", o.Status, tc.ocsp)
				expect(t, "next update", o.NextUpdate, nextUpdate)
				expect(t, "revoked at set", !o.RevokedAt.IsZero(), tc.ocsp == OCSPRevoked)
			}
		})
	}
}

// With an intermediate presented, the OCSP response is checked against
// it, the leaf's issuer: the intermediate's response is valid, the root's
// is not, also when the chain does not verify (no CA file).
func TestOCSPIssuerFromChain(t *testing.T) {
	root := smtptest.NewCA(t)
	sub := root.SubCA(t)
	for _, tc := range []struct {
		name   string
		signer *smtptest.CA
		caFile string
		valid  bool
	}{
		{"by the intermediate, verified", sub, root.File, true},
		{"by the intermediate, unverified", sub, "", true},
		{"by the root", root, root.File, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := sub.Chain(sub.Issue(t, smtptest.LocalhostLeaf()))
			cert.OCSPStaple = tc.signer.Staple(t, cert, smtptest.OCSPGood, time.Time{}).OCSPStaple
			srv := smtptest.NewServer(t, smtptest.Config{StartTLS: smtptest.ServerTLS(cert)})
			mod := "tls: starttls"
			if tc.caFile != "" {
				mod += "\ntls_config: {ca_file: " + tc.caFile + "}"
			}
			r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", testModule(t, mod), nil, Options{})
			if r.TLS == nil || r.TLS.OCSP == nil {
				t.Fatalf("no TLS or no OCSP: %s", r.Error)
			}
			expect(t, "chain certificates", r.TLS.ChainCertificates, 2)
			expect(t, "OCSP valid", r.TLS.OCSP.Valid, tc.valid)
			if tc.valid {
				expect(t, "status", r.TLS.OCSP.Status, OCSPGood)
				expect(t, "no next update", r.TLS.OCSP.NextUpdate.IsZero(), true)
			}
		})
	}
}
