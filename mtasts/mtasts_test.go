package mtasts

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		txts    []string
		wantID  string
		wantErr string
	}{
		// RFC 8461 §3.1's example.
		{"RFC example", []string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z", ""},
		{"no trailing delimiter", []string{"v=STSv1;id=abc"}, "abc", ""},
		{"white space around delimiters", []string{"v=STSv1 ;  id=abc  ; "}, "abc", ""},
		{"extension field", []string{"v=STSv1; id=abc; ext.name-1=val:ue"}, "abc", ""},
		{"other TXT records ignored", []string{"google-site-verification=xyz", "v=STSv1; id=1"}, "1", ""},
		{"32 characters", []string{"v=STSv1; id=" + strings.Repeat("a", 32)}, strings.Repeat("a", 32), ""},
		{"none", []string{"v=spf1 -all"}, "", "no v=STSv1"},
		{"no records", nil, "", "no v=STSv1"},
		{"prefix only", []string{"v=STSv10; id=1"}, "", "no v=STSv1"},
		{"two records", []string{"v=STSv1; id=1", "v=STSv1; id=2"}, "", "2 TXT records"},
		{"no id", []string{"v=STSv1;"}, "", "no field after the version"},
		{"no id but an extension", []string{"v=STSv1; x=1"}, "", "no id field"},
		{"id too long", []string{"v=STSv1; id=" + strings.Repeat("a", 33)}, "", "1 to 32"},
		{"id with punctuation", []string{"v=STSv1; id=2016-08-31"}, "", "1 to 32"},
		{"empty id", []string{"v=STSv1; id="}, "", "1 to 32"},
		{"two ids", []string{"v=STSv1; id=1; id=2"}, "", "more than one id"},
		{"empty field in the middle", []string{"v=STSv1; ; id=1"}, "", "empty field"},
		{"field without =", []string{"v=STSv1; id"}, "", "not key=value"},
		{"bad extension value", []string{"v=STSv1; id=1; x=a b"}, "", "not valid"},
		{"huge record", []string{"v=STSv1; id=1; x=" + strings.Repeat("a", 5000)}, "", "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRecord(tc.txts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if (tc.wantErr == "no v=STSv1") != errors.Is(err, ErrNoRecord) {
					t.Errorf("errors.Is(ErrNoRecord) wrong for %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != tc.wantID {
				t.Errorf("id %q, want %q", r.ID, tc.wantID)
			}
		})
	}
}

const rfcPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n"

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     Policy
		wantErr  string
		warnings int
	}{
		// RFC 8461 §3.2's example, with CRLF, then with LF.
		{"RFC example CRLF", rfcPolicy, Policy{Version: "STSv1", Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800}, "", 0},
		{"RFC example LF", strings.ReplaceAll(rfcPolicy, "\r\n", "\n"), Policy{Version: "STSv1", Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800}, "", 0},
		{"no final newline, spaces", "version:STSv1\nmode:   testing  \nmx: MX.Example.COM.\nmax_age: 0", Policy{Version: "STSv1", Mode: ModeTesting, MX: []string{"mx.example.com"}, MaxAge: 0}, "", 0},
		{"none without mx", "version: STSv1\nmode: none\nmax_age: 86400\n", Policy{Version: "STSv1", Mode: ModeNone, MaxAge: 86400}, "", 0},
		{"unknown field ignored", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfoo_bar: baz\n", Policy{Version: "STSv1", Mode: ModeEnforce, MX: []string{"a.example"}, MaxAge: 1}, "", 0},
		{"blank lines", "\nversion: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 1\n\n", Policy{Version: "STSv1", Mode: ModeEnforce, MX: []string{"a.example"}, MaxAge: 1}, "", 0},
		{"repeated mode keeps the first", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n", Policy{Version: "STSv1", Mode: ModeTesting, MX: []string{"a.example"}, MaxAge: 1}, "", 1},
		{"largest max_age", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n", Policy{Version: "STSv1", Mode: ModeEnforce, MX: []string{"a.example"}, MaxAge: 31557600}, "", 0},
		{"max_age too large", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", Policy{}, "larger than 31557600", 0},
		{"max_age 11 digits", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n", Policy{}, "1 to 10 digits", 0},
		{"max_age negative", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", Policy{}, "1 to 10 digits", 0},
		{"max_age empty", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age:\n", Policy{}, "1 to 10 digits", 0},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", Policy{}, "no max_age", 0},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 1\n", Policy{}, "no version", 0},
		{"wrong version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", Policy{}, "not STSv1", 0},
		{"no mode", "version: STSv1\nmx: a.example\nmax_age: 1\n", Policy{}, "no mode", 0},
		{"bad mode", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", Policy{}, "not enforce, testing or none", 0},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", Policy{}, "no mx pattern", 0},
		{"not key value", "version: STSv1\nmode enforce\n", Policy{}, "line 2 is not", 0},
		{"HTML page", "<html><body>Not found</body></html>\n", Policy{}, "not 'key: value'", 0},
		{"bad mx", "version: STSv1\nmode: enforce\nmx: mail example.com\nmax_age: 1\n", Policy{}, "not allowed in a host name", 0},
		{"wildcard in the middle", "version: STSv1\nmode: enforce\nmx: mail.*.example.com\nmax_age: 1\n", Policy{}, "not allowed", 0},
		{"bare wildcard", "version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n", Policy{}, "", 0},
		{"control byte", "version: STSv1\nmode: enforce\x00\nmx: a.example\nmax_age: 1\n", Policy{}, "control", 0},
		{"oversize", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n" + strings.Repeat("x: y\n", 14000), Policy{}, "larger than 65536", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.body))
			if tc.want.Version == "" {
				if err == nil {
					t.Fatalf("accepted: %+v", p)
				}
				if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != tc.want.Version || p.Mode != tc.want.Mode || p.MaxAge != tc.want.MaxAge || !slices.Equal(p.MX, tc.want.MX) {
				t.Errorf("got %+v, want %+v", p, tc.want)
			}
			if len(p.Warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", p.Warnings, tc.warnings)
			}
		})
	}
}

func TestMatchMX(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		// RFC 8461 §4.1's examples.
		{"*.example.com", "mail.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "foo.bar.example.com", false},
		{"mail.example.com", "mail.example.com", true},
		{"mail.example.com", "MAIL.Example.com.", true},
		{"mail.example.com.", "mail.example.com", true},
		{"*.example.com", "MX1.EXAMPLE.COM", true},
		{"*.example.com", ".example.com", false},
		{"mail.example.com", "mail.example.org", false},
		{"*.example.com", "mail.example.com.evil.net", false},
		{"", "mail.example.com", false},
		{"mail.example.com", "", false},
	}
	for _, tc := range tests {
		if got := MatchMX(tc.pattern, tc.host); got != tc.want {
			t.Errorf("MatchMX(%q, %q) = %v, want %v", tc.pattern, tc.host, got, tc.want)
		}
	}
	p, err := ParsePolicy([]byte(rfcPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if pat, ok := p.Match("mx7.example.net"); !ok || pat != "*.example.net" {
		t.Errorf("Match: %q %v", pat, ok)
	}
	if _, ok := p.Match("old-mx.example.org"); ok {
		t.Error("an MX outside the policy matched")
	}
}

func TestParseTLSRPT(t *testing.T) {
	tests := []struct {
		name    string
		txts    []string
		want    []string
		wantErr string
	}{
		// RFC 8460 §3's examples.
		{"mailto", []string{"v=TLSRPTv1;rua=mailto:reports@example.com"}, []string{"mailto:reports@example.com"}, ""},
		{"https", []string{"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"}, []string{"https://reporting.example.com/v1/tlsrpt"}, ""},
		{"both", []string{"v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://r.example.com/x;"}, []string{"mailto:tlsrpt@example.com", "https://r.example.com/x"}, ""},
		{"with extension", []string{"v=TLSRPTv1; rua=mailto:a@example.com; ext=1"}, []string{"mailto:a@example.com"}, ""},
		{"other records ignored", []string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com"}, []string{"mailto:a@example.com"}, ""},
		{"none", []string{"v=STSv1; id=1"}, nil, "no v=TLSRPTv1"},
		{"two", []string{"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"}, nil, "2 TXT records"},
		{"no rua", []string{"v=TLSRPTv1; ruf=mailto:a@example.com"}, nil, "no rua"},
		{"http", []string{"v=TLSRPTv1; rua=http://r.example.com/"}, nil, "only mailto: and https:"},
		{"mailto without address", []string{"v=TLSRPTv1; rua=mailto:"}, nil, "needs an address"},
		{"https without host", []string{"v=TLSRPTv1; rua=https:///x"}, nil, "needs a host"},
		{"empty uri", []string{"v=TLSRPTv1; rua=mailto:a@example.com,"}, nil, "empty URI"},
		{"two rua", []string{"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com"}, nil, "more than one rua"},
		{"only version", []string{"v=TLSRPTv1"}, nil, "no field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseTLSRPT(tc.txts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if (tc.wantErr == "no v=TLSRPTv1") != errors.Is(err, ErrNoTLSRPT) {
					t.Errorf("errors.Is(ErrNoTLSRPT) wrong for %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.RUA, tc.want) {
				t.Errorf("rua %q, want %q", r.RUA, tc.want)
			}
		})
	}
}
