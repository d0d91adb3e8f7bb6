package maildomain

import (
	"crypto/tls"
	"net/netip"
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
