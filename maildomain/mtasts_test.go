package maildomain

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/mtasts"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

func TestComplies(t *testing.T) {
	enforce := &mtasts.Policy{Version: "STSv1", Mode: mtasts.ModeEnforce, MX: []string{"*.example.com"}, MaxAge: 86400}
	none := &mtasts.Policy{Version: "STSv1", Mode: mtasts.ModeNone, MX: []string{"*.example.com"}, MaxAge: 86400}
	pair := func(mx string, tls *prober.TLSInfo) *Pair {
		return &Pair{MX: mx, Address: netip.MustParseAddr("192.0.2.1"), Result: &prober.Result{TLS: tls}}
	}
	good := &prober.TLSInfo{Version: tls.VersionTLS13, Verified: true, ServerName: "mx1.example.com"}
	cases := []struct {
		name string
		pol  *mtasts.Policy
		p    *Pair
		ok   bool
		why  string
	}{
		{"TLS 1.3, verified", enforce, pair("mx1.example.com", good), true, "TLS 1.3"},
		{"TLS 1.2 is enough", enforce, pair("mx1.example.com", &prober.TLSInfo{Version: tls.VersionTLS12, Verified: true, ServerName: "mx1.example.com"}), true, ""},
		{"no pattern", enforce, pair("mx1.example.org", &prober.TLSInfo{Version: tls.VersionTLS13, Verified: true, ServerName: "mx1.example.org"}), false, "matches no mx pattern"},
		{"two labels under the wildcard", enforce, pair("a.mx1.example.com", good), false, "matches no mx pattern"},
		{"no TLS", enforce, pair("mx1.example.com", nil), false, "no TLS session"},
		{"TLS 1.1", enforce, pair("mx1.example.com", &prober.TLSInfo{Version: tls.VersionTLS11, Verified: true, ServerName: "mx1.example.com"}), false, "older than TLS 1.2"},
		{"certificate not valid", enforce, pair("mx1.example.com", &prober.TLSInfo{Version: tls.VersionTLS13, VerifyError: "x509: unknown authority", ServerName: "mx1.example.com"}), false, "not valid"},
		{"verified for another name", enforce, pair("mx1.example.com", &prober.TLSInfo{Version: tls.VersionTLS13, Verified: true, ServerName: "smtp.example.com"}), false, "not the MX host"},
		{"mode none: the pattern only", none, pair("mx1.example.com", nil), true, "mode none"},
	}
	for _, tc := range cases {
		ok, why := complies(tc.pol, tc.p)
		if ok != tc.ok || !strings.Contains(why, tc.why) {
			t.Errorf("%s: %v %q, want %v %q", tc.name, ok, why, tc.ok, tc.why)
		}
	}
}

// TestFinishMTASTS: the domain reasons, and that an earlier failure keeps
// its place with the MTA-STS problem as a warning.
func TestFinishMTASTS(t *testing.T) {
	ok := &prober.TLSInfo{Version: tls.VersionTLS13, Verified: true, ServerName: "mx1.example.com"}
	pol := func(mode mtasts.Mode, mx ...string) *mtasts.Policy {
		return &mtasts.Policy{Version: "STSv1", Mode: mode, MX: mx, MaxAge: 60}
	}
	cases := []struct {
		name    string
		m       *MTASTSResult
		failure Reason // set before
		want    Reason
		warn    string
		kinds   string            // the summary's warning reasons
		mode    config.MTASTSMode // "": true
	}{
		{"compliant", &MTASTSResult{RecordFound: true, RecordValid: true, Policy: pol(mtasts.ModeEnforce, "mx1.example.com")}, "", "", "", "", ""},
		{"no record", &MTASTSResult{}, "", "", "", "", ""},
		{"record without a policy", &MTASTSResult{RecordFound: true, RecordValid: true, Fetch: &mtasts.Fetch{Err: "HTTP status 404, not 200"}}, "", ReasonMTASTSInvalid, "", "", ""},
		{"malformed record", &MTASTSResult{RecordFound: true, RecordError: "no id field", Policy: pol(mtasts.ModeEnforce, "mx1.example.com")}, "", ReasonMTASTSInvalid, "", "", ""},
		{"enforce, MX not listed", &MTASTSResult{RecordFound: true, RecordValid: true, Policy: pol(mtasts.ModeEnforce, "mx9.example.com")}, "", ReasonMTASTSViolation, "", "", ""},
		{"testing, MX not listed: a warning", &MTASTSResult{RecordFound: true, RecordValid: true, Policy: pol(mtasts.ModeTesting, "mx9.example.com")}, "", "", "testing mode would refuse", "mta_sts_testing", ""},
		{"an address already failed", &MTASTSResult{RecordFound: true, RecordValid: true, Policy: pol(mtasts.ModeEnforce, "mx9.example.com")}, ReasonAddressFailed, ReasonAddressFailed, "mta_sts_violation", "mta_sts_violation", ""},
		// mta_sts: enforce: the domain must keep a policy in enforce mode.
		{"enforce kept", &MTASTSResult{RecordFound: true, RecordValid: true, Policy: pol(mtasts.ModeEnforce, "mx1.example.com")}, "", "", "", "", config.MTASTSEnforce},
		{"enforce required, the record gone", &MTASTSResult{}, "", ReasonMTASTSNotEnforced, "", "", config.MTASTSEnforce},
		{"enforce required, the policy in testing", &MTASTSResult{RecordFound: true, RecordValid: true, Policy: pol(mtasts.ModeTesting, "mx1.example.com")}, "", ReasonMTASTSNotEnforced, "", "", config.MTASTSEnforce},
		{"enforce required, the policy in none mode", &MTASTSResult{RecordFound: true, RecordValid: true, Policy: pol(mtasts.ModeNone, "mx1.example.com")}, "", ReasonMTASTSNotEnforced, "", "", config.MTASTSEnforce},
		{"enforce required, the policy unfetchable", &MTASTSResult{RecordFound: true, RecordValid: true, Fetch: &mtasts.Fetch{Err: "connection refused"}}, "", ReasonMTASTSInvalid, "", "", config.MTASTSEnforce},
		// The record's lookup failed: not known gone, so not judged.
		{"enforce required, the record lookup failed", &MTASTSResult{RecordError: "SERVFAIL"}, "", "", "", "", config.MTASTSEnforce},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = config.MTASTSCheck
			}
			d := &fanOut{module: &config.Module{MTASTS: mode}, result: &Result{
				Domain:  "example.com",
				Failure: tc.failure,
				Hosts:   []MXHost{{Name: "mx1.example.com", Preference: 10, Probed: true, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}},
				Pairs:   []*Pair{{MX: "mx1.example.com", Preference: 10, Address: netip.MustParseAddr("192.0.2.1"), Result: &prober.Result{Success: true, TLS: ok}}},
			}}
			d.finishMTASTS(tc.m)
			if d.result.Failure != tc.want {
				t.Errorf("failure %q (%s), want %q", d.result.Failure, d.result.Error, tc.want)
			}
			if w := warningTexts(d.result.Warnings); !strings.Contains(w, tc.warn) || (tc.warn == "" && w != "") {
				t.Errorf("warnings %q, want %q", w, tc.warn)
			}
			kinds := strings.Join(d.result.Summary().WarningReasons, " ")
			expect(t, "warning kinds", kinds, tc.kinds)
			if tc.m.Policy != nil && (len(tc.m.MX) != 1 || len(tc.m.Pairs) != 1) {
				t.Fatalf("MX %+v pairs %+v", tc.m.MX, tc.m.Pairs)
			}
			// The pair carries its own compliance: the collector reads it
			// there, without joining the two lists.
			if p := d.result.Pairs[0]; (tc.m.Policy != nil) != (p.MTASTS != nil) || p.MTASTS != nil && p.MTASTS != tc.m.Pairs[0] {
				t.Errorf("the pair's MTA-STS compliance %+v is not the result's %+v", p.MTASTS, tc.m.Pairs)
			}
		})
	}
}

// TestMTASTSTextBounded: a policy host and a zone that choose every byte
// (61 KB of policy, a thousand patterns, long records with control and
// format characters) make a result no larger than a single probe's caps:
// the violation names a pattern count, the policy text is cut, the lists
// are bounded.
func TestMTASTSTextBounded(t *testing.T) {
	var patterns []string
	var body strings.Builder
	body.WriteString("version: STSv1\nmode: enforce\nmax_age: 86400\n")
	for i := range 1000 {
		p := fmt.Sprintf("mx%04d.pattern-that-is-long-enough-to-matter.example.net", i)
		patterns = append(patterns, p)
		body.WriteString("mx: " + p + "\n")
	}
	hostile := strings.Repeat("v=STSv1; id=\u202eevil\x1b[31m ", 800)
	var ruas []string
	for i := range 100 {
		ruas = append(ruas, fmt.Sprintf("mailto:tlsrpt%d@example.net", i))
	}
	m := &MTASTSResult{
		RecordFound: true, RecordValid: true, Record: hostile, RecordID: "x",
		TLSRPT: hostile, TLSRPTValid: true, TLSRPTRUA: ruas,
		Fetch:  &mtasts.Fetch{URL: "https://mta-sts.example.com/.well-known/mta-sts.txt", Body: body.String(), ContentType: "text/plain"},
		Policy: &mtasts.Policy{Version: "STSv1", Mode: mtasts.ModeEnforce, MX: patterns, MaxAge: 86400, Warnings: slices.Repeat([]string{hostile}, 20)},
	}
	addr := netip.MustParseAddr("192.0.2.1")
	d := &fanOut{module: &config.Module{}, result: &Result{
		Domain: "example.com",
		Hosts:  []MXHost{{Name: "mx1.example.com", Preference: 10, Probed: true, Addresses: []netip.Addr{addr}}},
		Pairs:  []*Pair{{MX: "mx1.example.com", Preference: 10, Address: addr, Result: &prober.Result{Success: true}}},
	}}
	d.finishMTASTS(m)
	d.bound()
	r := d.result
	expect(t, "failure", r.Failure, ReasonMTASTSViolation)
	if !strings.Contains(r.Error, "MX mx1.example.com matches none of the policy's 1000 mx patterns") || strings.Contains(r.Error, "pattern-that-is-long") {
		t.Errorf("error %q: want the pattern count, not the patterns", r.Error)
	}
	limit := prober.MaxErrorBytes + len("…")
	texts := map[string]string{"error": r.Error, "record": m.Record, "tlsrpt": m.TLSRPT}
	for i, w := range m.Policy.Warnings {
		texts[fmt.Sprintf("policy warning %d", i)] = w
	}
	for what, s := range texts {
		if len(s) > limit {
			t.Errorf("%s: %d bytes, cap %d", what, len(s), limit)
		}
		if strings.ContainsAny(s, "\u202e\x1b") {
			t.Errorf("%s keeps a control or format character", what)
		}
	}
	if n := len(m.Fetch.Body); n > maxPolicyBodyBytes+64 || !strings.Contains(m.Fetch.Body, "more lines") {
		t.Errorf("policy body of %d bytes kept, cap %d, ending %q", n, maxPolicyBodyBytes, m.Fetch.Body[max(0, n-60):])
	}
	expect(t, "patterns kept", len(m.Policy.MX), maxPolicyPatterns)
	expect(t, "patterns left out", m.PatternsLeftOut, 1000-maxPolicyPatterns)
	expect(t, "policy warnings kept", len(m.Policy.Warnings), maxPolicyWarnings)
	expect(t, "report addresses kept", len(m.TLSRPTRUA), maxRUAs)
}

// TestDomainTextBounded: the domain's own error and warnings are cut and
// sanitized as a single result's are, and the warnings are bounded.
func TestDomainTextBounded(t *testing.T) {
	long := strings.Repeat("\u200bx", 2000)
	d := &fanOut{module: &config.Module{}, result: &Result{Error: long}}
	for range 40 {
		d.warn(WarningAddressLookup, long)
	}
	d.result.Hosts = []MXHost{{Name: "mx.example.com", Error: long}}
	d.bound()
	r := d.result
	limit := prober.MaxErrorBytes + len("…")
	texts := []string{r.Error, r.Hosts[0].Error}
	for _, w := range r.Warnings {
		texts = append(texts, w.Text)
	}
	for i, s := range texts {
		if len(s) > limit || strings.Contains(s, "\u200b") {
			t.Errorf("text %d: %d bytes (cap %d), or a format character kept", i, len(s), limit)
		}
	}
	expect(t, "warnings", len(r.Warnings), maxWarnings)
	expect(t, "the last warning", r.Warnings[maxWarnings-1], Warning{Kind: WarningMore, Text: "and 25 more warnings"})
}
