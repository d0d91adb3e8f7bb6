package dane

import (
	"crypto/x509"
	"testing"
)

// FuzzParseRecord: any text either parses to a record that prints back to
// something that parses to the same record, or is an error; never a panic.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"3 1 1 abcdef", "0 0 1 d2ab de24", "2 0 0", "999 1 1 00", "3 1 1 " + string(make([]byte, 300))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			return
		}
		r2, err := ParseRecord(r.String())
		if err != nil || r2.String() != r.String() {
			t.Fatalf("%q -> %s -> %v, %v", s, r, r2, err)
		}
	})
}

// FuzzVerify: arbitrary records and DER bytes for the chain never panic,
// and the status is one of the six.
func FuzzVerify(f *testing.F) {
	p := newPKI(f)
	f.Add(uint8(3), uint8(1), uint8(1), rec(f, 3, 1, 1, p.leaf).Data, p.leaf.Raw, p.inter.Raw, true, false)
	f.Add(uint8(2), uint8(0), uint8(0), p.inter.Raw, p.leaf.Raw, p.inter.Raw, true, false)
	f.Add(uint8(1), uint8(1), uint8(2), []byte{1, 2}, []byte{0x30, 0x03}, []byte{}, true, true)
	f.Fuzz(func(t *testing.T, u, s, m uint8, data, leafDER, interDER []byte, secure, bogus bool) {
		var chain []*x509.Certificate
		for _, der := range [][]byte{leafDER, interDER} {
			if c, err := x509.ParseCertificate(der); err == nil {
				chain = append(chain, c)
			}
		}
		l := Lookup{Secure: secure, Bogus: bogus, Records: []Record{{Usage: u, Selector: s, MatchingType: m, Data: data}}}
		r := Verify(l, chain, []string{"mx.example.com"}, now)
		known := false
		for _, st := range Statuses {
			known = known || st == r.Status
		}
		if !known {
			t.Fatalf("status %q", r.Status)
		}
		if (r.Status == StatusValidated) != (r.Matched != nil) {
			t.Fatalf("status %s with matched %v", r.Status, r.Matched)
		}
	})
}
