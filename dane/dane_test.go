package dane

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type pki struct {
	root, inter, leaf, expired, wrongName, selfSigned, otherLeaf *x509.Certificate
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial int64

func mkCert(t testing.TB, tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caTmpl(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
}

func leafTmpl(cn string, nb, na time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

func newPKI(t testing.TB) pki {
	rk, ik := newKey(t), newKey(t)
	var p pki
	p.root = mkCert(t, caTmpl("test root"), rk, nil, nil)
	p.inter = mkCert(t, caTmpl("test intermediate"), ik, p.root, rk)
	p.leaf = mkCert(t, leafTmpl("mx.example.com", now.AddDate(0, -1, 0), now.AddDate(0, 2, 0)), newKey(t), p.inter, ik)
	p.expired = mkCert(t, leafTmpl("mx.example.com", now.AddDate(0, -3, 0), now.AddDate(0, 0, -1)), newKey(t), p.inter, ik)
	p.wrongName = mkCert(t, leafTmpl("other.example.net", now.AddDate(0, -1, 0), now.AddDate(0, 2, 0)), newKey(t), p.inter, ik)
	p.selfSigned = mkCert(t, leafTmpl("localhost", now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0)), newKey(t), nil, nil)
	p.otherLeaf = mkCert(t, leafTmpl("mx.example.com", now.AddDate(0, -1, 0), now.AddDate(0, 2, 0)), newKey(t), p.inter, ik)
	return p
}

func rec(t testing.TB, u, s, m uint8, c *x509.Certificate) Record {
	t.Helper()
	d, ok := Association(s, m, c)
	if !ok {
		t.Fatalf("no association for %d %d", s, m)
	}
	return Record{Usage: u, Selector: s, MatchingType: m, Data: d}
}

func TestVerify(t *testing.T) {
	p := newPKI(t)
	chain := []*x509.Certificate{p.leaf, p.inter}
	full := []*x509.Certificate{p.leaf, p.inter, p.root}
	names := []string{"mx.example.com."}
	wrongDigest := rec(t, 3, 1, 1, p.leaf)
	wrongDigest.Data = append([]byte(nil), wrongDigest.Data...)
	wrongDigest.Data[0] ^= 0xff
	tests := []struct {
		name    string
		lookup  Lookup
		chain   []*x509.Certificate
		names   []string
		want    Status
		matched int // index of the matched record, -1 for none
		why     string
	}{
		{"bogus wins over records", Lookup{Bogus: true, Secure: true, Records: []Record{rec(t, 3, 1, 1, p.leaf)}}, chain, names, StatusBogus, -1, ""},
		{"insecure with matching records", Lookup{Records: []Record{rec(t, 3, 1, 1, p.leaf)}}, chain, names, StatusInsecure, -1, ""},
		{"insecure without records", Lookup{}, chain, names, StatusInsecure, -1, ""},
		{"insecure address records win over matching records", Lookup{AddressesInsecure: true, Secure: true, Records: []Record{rec(t, 3, 1, 1, p.leaf)}}, chain, names, StatusInsecure, -1, ""},
		{"secure denial", Lookup{Secure: true}, chain, names, StatusNone, -1, ""},
		{"3 1 1 leaf SPKI", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.leaf)}}, chain, names, StatusValidated, 0, "matches the leaf"},
		{"3 0 1 leaf cert", Lookup{Secure: true, Records: []Record{rec(t, 3, 0, 1, p.leaf)}}, chain, names, StatusValidated, 0, ""},
		{"3 0 0 full cert", Lookup{Secure: true, Records: []Record{rec(t, 3, 0, 0, p.leaf)}}, chain, names, StatusValidated, 0, ""},
		{"3 1 2 SHA-512", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 2, p.leaf)}}, chain, names, StatusValidated, 0, ""},
		{"3 1 0 full SPKI", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 0, p.leaf)}}, chain, names, StatusValidated, 0, ""},
		{"DANE-EE ignores expiry", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.expired)}}, []*x509.Certificate{p.expired, p.inter}, names, StatusValidated, 0, ""},
		{"DANE-EE ignores names", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.wrongName)}}, []*x509.Certificate{p.wrongName, p.inter}, names, StatusValidated, 0, ""},
		{"DANE-EE self-signed out of date", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.selfSigned)}}, []*x509.Certificate{p.selfSigned}, names, StatusValidated, 0, ""},
		{"DANE-EE of the old key (rollover gone wrong)", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.otherLeaf)}}, chain, names, StatusFailed, -1, "does not match the leaf"},
		{"old and new key published", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.otherLeaf), rec(t, 3, 1, 1, p.leaf)}}, chain, names, StatusValidated, 1, ""},
		{"wrong digest", Lookup{Secure: true, Records: []Record{wrongDigest}}, chain, names, StatusFailed, -1, "does not match"},
		{"intermediate published as DANE-EE", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.inter)}}, chain, names, StatusFailed, -1, "publish it as usage 2"},
		{"2 1 1 intermediate", Lookup{Secure: true, Records: []Record{rec(t, 2, 1, 1, p.inter)}}, chain, names, StatusValidated, 0, "which issued the leaf"},
		{"2 0 1 root in the chain", Lookup{Secure: true, Records: []Record{rec(t, 2, 0, 1, p.root)}}, full, names, StatusValidated, 0, ""},
		{"2 1 1 root not presented", Lookup{Secure: true, Records: []Record{rec(t, 2, 1, 1, p.root)}}, chain, names, StatusFailed, -1, "matches no issuer"},
		{"DANE-TA leaf expired", Lookup{Secure: true, Records: []Record{rec(t, 2, 1, 1, p.inter)}}, []*x509.Certificate{p.expired, p.inter}, names, StatusFailed, -1, "does not chain"},
		{"DANE-TA leaf names another host", Lookup{Secure: true, Records: []Record{rec(t, 2, 1, 1, p.inter)}}, []*x509.Certificate{p.wrongName, p.inter}, names, StatusFailed, -1, "names none of"},
		{"DANE-TA name through the TLSA base domain", Lookup{Secure: true, Records: []Record{rec(t, 2, 1, 1, p.inter)}}, []*x509.Certificate{p.wrongName, p.inter}, []string{"mx.example.com", "other.example.net"}, StatusValidated, 0, ""},
		{"DANE-TA matching the leaf", Lookup{Secure: true, Records: []Record{rec(t, 2, 1, 1, p.leaf)}}, chain, names, StatusFailed, -1, "must match an issuer"},
		{"DANE-TA not issuing the leaf", Lookup{Secure: true, Records: []Record{rec(t, 2, 1, 1, p.inter)}}, []*x509.Certificate{p.selfSigned, p.inter}, names, StatusFailed, -1, "does not chain"},
		{"usage 1 only", Lookup{Secure: true, Records: []Record{rec(t, 1, 1, 1, p.leaf)}}, chain, names, StatusUnusable, -1, "not usable for SMTP"},
		{"usages 0 and 1", Lookup{Secure: true, Records: []Record{rec(t, 0, 1, 1, p.root), rec(t, 1, 0, 1, p.leaf)}}, chain, names, StatusUnusable, -1, ""},
		{"unknown selector", Lookup{Secure: true, Records: []Record{{Usage: 3, Selector: 2, MatchingType: 1, Data: make([]byte, 32)}}}, chain, names, StatusUnusable, -1, "unknown selector"},
		{"unknown matching type", Lookup{Secure: true, Records: []Record{{Usage: 3, Selector: 1, MatchingType: 3, Data: make([]byte, 32)}}}, chain, names, StatusUnusable, -1, "unknown matching type"},
		{"short digest", Lookup{Secure: true, Records: []Record{{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 20)}}}, chain, names, StatusUnusable, -1, "not 32"},
		{"unknown usage", Lookup{Secure: true, Records: []Record{{Usage: 4, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}}}, chain, names, StatusUnusable, -1, "unknown usage"},
		{"usable next to unusable", Lookup{Secure: true, Records: []Record{rec(t, 1, 1, 1, p.leaf), rec(t, 3, 1, 1, p.leaf)}}, chain, names, StatusValidated, 1, ""},
		{"usable but no TLS session", Lookup{Secure: true, Records: []Record{rec(t, 3, 1, 1, p.leaf)}}, nil, names, StatusFailed, -1, "no certificate presented"},
		{"unusable and no TLS session", Lookup{Secure: true, Records: []Record{rec(t, 1, 1, 1, p.leaf)}}, nil, names, StatusUnusable, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Verify(tc.lookup, tc.chain, tc.names, now)
			if r.Status != tc.want {
				t.Fatalf("status %s, want %s (%s; checks %+v)", r.Status, tc.want, r.Detail, r.Verdicts)
			}
			if r.Detail == "" {
				t.Error("no detail")
			}
			if tc.matched < 0 {
				if r.Matched != nil {
					t.Errorf("matched %s, want none", r.Matched)
				}
			} else {
				want := tc.lookup.Records[tc.matched]
				if r.Matched == nil || r.Matched.String() != want.String() {
					t.Errorf("matched %v, want %s", r.Matched, want)
				}
				if !r.Verdicts[tc.matched].Matched {
					t.Errorf("check %d not marked matched", tc.matched)
				}
			}
			if tc.why != "" {
				found := false
				for _, c := range r.Verdicts {
					found = found || strings.Contains(c.Why, tc.why)
				}
				if !found {
					t.Errorf("no check says %q: %+v", tc.why, r.Verdicts)
				}
			}
			if len(r.Verdicts) != 0 && len(r.Verdicts) != len(tc.lookup.Records) {
				t.Errorf("%d checks for %d records", len(r.Verdicts), len(tc.lookup.Records))
			}
		})
	}
}

// TestAssociationAgainstMiekg cross-checks the digests with
// github.com/miekg/dns's CertificateToDANE for every selector and matching
// type.
func TestAssociationAgainstMiekg(t *testing.T) {
	p := newPKI(t)
	for s := range uint8(3) {
		for m := range uint8(4) {
			got, ok := Association(s, m, p.leaf)
			want, err := dns.CertificateToDANE(s, m, p.leaf)
			if ok != (err == nil) {
				t.Fatalf("%d %d: ok %v, miekg err %v", s, m, ok, err)
			}
			if ok && hex.EncodeToString(got) != want {
				t.Errorf("%d %d: %x, miekg %s", s, m, got, want)
			}
		}
	}
	s := sha256.Sum256(p.leaf.RawSubjectPublicKeyInfo)
	if got, _ := Association(1, 1, p.leaf); !bytes.Equal(got, s[:]) {
		t.Error("1 1 is not SHA-256 of the SPKI")
	}
	s5 := sha512.Sum512(p.leaf.Raw)
	if got, _ := Association(0, 2, p.leaf); !bytes.Equal(got, s5[:]) {
		t.Error("0 2 is not SHA-512 of the certificate")
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		// RFC 6698 §2.3's examples.
		{"0 0 1 d2abde240d7cd3ee6b4b28c54df034b9 7983a1d16e8a410e4561cb106618e971", "0 0 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971", ""},
		{"1 1 2 92003ba34942dc74152e2f2c408d29ec a5a520e7f2e06bb944f4dca346baf63c 1b177615d466f6c4b71c216a50292bd5 8c9ebdd2f74e38fe51ffd48c43326cbc", "1 1 2 92003ba34942dc74152e2f2c408d29eca5a520e7f2e06bb944f4dca346baf63c1b177615d466f6c4b71c216a50292bd58c9ebdd2f74e38fe51ffd48c43326cbc", ""},
		// RFC 7218 §2.1 uses the same records with acronyms; numbers only here.
		{"3 1 1 ABCDEF", "3 1 1 abcdef", ""},
		{"3 1", "", "usage selector matching-type data"},
		{"3 1 x 00", "", "field 3"},
		{"256 1 1 00", "", "field 1"},
		{"3 1 1 0g", "", "not hex"},
		{"3 1 1 abc", "", "not hex"},
	}
	for _, tc := range tests {
		r, err := ParseRecord(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.String() != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, r, tc.want)
		}
	}
}

func TestFromTLSA(t *testing.T) {
	rr, err := dns.NewRR("_25._tcp.mx.example.com. 300 IN TLSA 3 1 1 D2ABDE240D7CD3EE6B4B28C54DF034B97983A1D16E8A410E4561CB106618E971")
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromTLSA(rr.(*dns.TLSA))
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != "3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971" {
		t.Errorf("got %s", r)
	}
	if _, err := FromTLSA(&dns.TLSA{Certificate: "zz"}); err == nil {
		t.Error("bad hex accepted")
	}
}

func TestUsageName(t *testing.T) {
	for u, want := range map[uint8]string{0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE", 9: "9"} {
		if got := UsageName(u); got != want {
			t.Errorf("%d: %s, want %s", u, got, want)
		}
	}
}
