package dashgen

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// reasonWords says each failure reason in words for the tables and the port
// matrix, with its color: red for down, orange for AUTH problems on a port
// that otherwise works (warnings, probe_smtp_warning, are all orange). A new failure reason of the prober needs a line
// here (TestReasonsInWords).
var reasonWords = []struct{ Reason, Text, Color string }{
	{"resolve", "DNS: name does not resolve", "red"},
	{"connect_refused", "refused: nothing listens", "red"},
	{"connect_timeout", "blocked: filtered", "red"},
	{"connect_unreachable", "blocked: unreachable", "red"},
	{"connection_closed", "closed by server", "red"},
	{"connection_reset", "reset", "red"},
	{"banner_timeout", "no greeting", "red"},
	{"banner_rejected", "greeting rejected (4xx/5xx)", "red"},
	{"protocol_error", "not SMTP", "red"},
	{"ehlo_rejected", "EHLO rejected", "red"},
	{"starttls_not_advertised", "no STARTTLS", "red"},
	{"starttls_rejected", "STARTTLS rejected", "red"},
	{"tls_handshake_failed", "TLS handshake failed", "red"},
	{"cert_expired", "certificate expired", "red"},
	{"cert_untrusted", "certificate untrusted", "red"},
	{"cert_hostname_mismatch", "certificate for another host", "red"},
	{"auth_not_advertised", "no AUTH offered", "orange"},
	{"auth_before_tls", "AUTH before TLS", "orange"},
	{"auth_failed", "AUTH failed", "orange"},
	{"timeout", "timeout", "red"},
	{"mail_rejected", "MAIL FROM refused", "red"},
	{"rcpt_rejected", "recipient refused", "red"},
	{"relay_accepted", "OPEN RELAY", "red"},
	{"banner_mismatch", "unexpected greeting", "red"},
	{"dane_failed", "DANE: no TLSA record matches", "red"},
	{"dane_bogus", "DANE: TLSA lookup not validated", "red"},
	{"dane_missing", "DANE required, no TLSA records", "red"},
	{"legacy_tls_accepted", "accepts TLS 1.0/1.1", "orange"},
	{"starttls_stripped", "STARTTLS stripped by a firewall", "red"},
}

// warningMapping is the value mapping of a warning reason: the same words,
// orange (the probe succeeded; mail still flows).
func warningMapping() dashboard.ValueMapping {
	m := map[string]dashboard.ValueMappingResult{}
	for i, r := range reasonWords {
		m[r.Reason] = result(r.Text, "orange", int32(i)) //nolint:gosec // a short fixed list
	}
	return valueMapping(m)
}

// ReasonsInWords returns the failure reasons the dashboards put in words.
func ReasonsInWords() []string {
	var out []string
	for _, r := range reasonWords {
		out = append(out, r.Reason)
	}
	return out
}

// scrapeFailed is the status of a target whose probe Prometheus cannot
// scrape (the target matrix): nothing is known of the target.
const scrapeFailed = "scrape failed"

// reasonMapping is the value mapping of a failure reason column or cell.
func reasonMapping() dashboard.ValueMapping {
	m := map[string]dashboard.ValueMappingResult{}
	for i, r := range reasonWords {
		m[r.Reason] = result(r.Text, r.Color, int32(i)) //nolint:gosec // a short fixed list
	}
	m[scrapeFailed] = result("scrape failed (Prometheus targets)", "purple", int32(len(reasonWords))) //nolint:gosec // a short fixed list
	return valueMapping(m)
}
