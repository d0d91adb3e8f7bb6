package mtasts

import (
	"strings"
	"testing"
)

// FuzzParseRecord: any TXT text parses or errs, never panics; a parsed id
// is 1 to 32 letters and digits.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"v=STSv1; id=20160831085700Z;", "v=STSv1;id=1;x=y", "v=STSv1; ;", "v=STSv1 ; id=" + strings.Repeat("9", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord([]string{s})
		if err == nil && !validID(r.ID) {
			t.Fatalf("%q: id %q", s, r.ID)
		}
	})
}

// FuzzParsePolicy: any body parses or errs; a parsed policy keeps the
// RFC's bounds.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(rfcPolicy))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0"))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: *.a.b\nmax_age: 31557600\nmode: enforce\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		if p.Version != "STSv1" || p.MaxAge < 0 || p.MaxAge > MaxMaxAge {
			t.Fatalf("%q: %+v", b, p)
		}
		if p.Mode != ModeNone && len(p.MX) == 0 {
			t.Fatalf("%q: %s without mx", b, p.Mode)
		}
		for _, m := range p.MX {
			if strings.HasPrefix(m, "*.") && MatchMX(m, strings.TrimPrefix(m, "*.")) {
				t.Fatalf("%s matches its own parent", m)
			}
		}
	})
}

// FuzzParseTLSRPT: any TXT text parses or errs, never panics.
func FuzzParseTLSRPT(f *testing.F) {
	f.Add("v=TLSRPTv1;rua=mailto:reports@example.com")
	f.Add("v=TLSRPTv1; rua=https://r.example.com/x,mailto:a@b")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTLSRPT([]string{s})
		if err == nil && len(r.RUA) == 0 {
			t.Fatalf("%q: valid without rua", s)
		}
	})
}

// FuzzMatchMX: a wildcard never matches more than one label.
func FuzzMatchMX(f *testing.F) {
	f.Add("*.example.com", "mx.example.com")
	f.Add("mx.example.com", "MX.example.com.")
	f.Fuzz(func(t *testing.T, pattern, host string) {
		if !MatchMX(pattern, host) {
			return
		}
		if rest, ok := strings.CutPrefix(strings.ToLower(pattern), "*."); ok {
			h := strings.ToLower(strings.TrimSuffix(host, "."))
			first, parent, _ := strings.Cut(h, ".")
			if first == "" || parent != strings.TrimSuffix(rest, ".") {
				t.Fatalf("%q matched %q", pattern, host)
			}
		}
	})
}
