package reasons

import (
	"slices"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestEveryReason: every reason a conversation can end with (a domain's
// pairs included) and every reason of a mail domain has a row, and every
// row is such a reason.
func TestEveryReason(t *testing.T) {
	sameSet(t, "maildomain.PairReasons", maildomain.PairReasons, probe)
	sameSet(t, "maildomain.Reasons", maildomain.Reasons, domain)
}

func sameSet[R ~string](t *testing.T, name string, list []R, table map[R]Meaning) {
	t.Helper()
	for _, r := range list {
		if _, ok := table[r]; !ok {
			t.Errorf("%s: reason %s has no row in reasons.go", name, r)
		}
	}
	for r := range table {
		if !slices.Contains(list, r) {
			t.Errorf("reasons.go: %s is not in %s", r, name)
		}
	}
}

// TestRowsComplete: each row says the reason in words and in short, with a
// colour and a hint, so that no view falls back to the bare label value.
func TestRowsComplete(t *testing.T) {
	check := func(kind, reason string, m Meaning) {
		t.Helper()
		if m.Words == "" || m.Short == "" || m.Hint == "" {
			t.Errorf("%s reason %s: words %q, short %q, hint %q: none may be empty", kind, reason, m.Words, m.Short, m.Hint)
		}
		if !slices.Contains([]Color{Red, Orange, Purple}, m.Color) {
			t.Errorf("%s reason %s: colour %q is none of the dashboards'", kind, reason, m.Color)
		}
		if m.Words == reason {
			t.Errorf("%s reason %s: its words are its label value", kind, reason)
		}
		// The table also prints as Markdown (docs/metrics.md).
		for _, s := range []string{m.Words, m.Short, m.Hint, m.Only, m.Warns} {
			if strings.ContainsAny(s, "|\n") {
				t.Errorf("%s reason %s: %q has a | or a line break", kind, reason, s)
			}
		}
	}
	for r, m := range probe {
		check("probe", string(r), m)
	}
	for r, m := range domain {
		check("domain", string(r), m)
	}
}

// TestUnknownReason: a reason without a row (a newer prober, an old
// history entry) is shown as itself, not as nothing.
func TestUnknownReason(t *testing.T) {
	if words, hint := Explain("no_such_reason", 25); words != "no_such_reason" || hint != "" {
		t.Errorf("Explain(unknown) = %q, %q", words, hint)
	}
	if words, hint := ExplainDomain("no_such_reason"); words != "no_such_reason" || hint != "" {
		t.Errorf("ExplainDomain(unknown) = %q, %q", words, hint)
	}
}

// TestHintByPort: the hints that depend on the port, and the table's own
// hint for the ports without a special one.
func TestHintByPort(t *testing.T) {
	tests := []struct {
		reason prober.Reason
		port   int
		want   string // a part of the hint
	}{
		{prober.ReasonConnectTimeout, 25, "an MX must be reachable on 25 from everywhere"},
		{prober.ReasonConnectTimeout, 587, "submit on 465"},
		{prober.ReasonConnectTimeout, 465, "submit on 587"},
		{prober.ReasonConnectTimeout, 2525, "unofficial fallback"},
		{prober.ReasonConnectTimeout, 10025, probe[prober.ReasonConnectTimeout].Hint},
		{prober.ReasonBannerTimeout, 465, "port 465 speaks TLS from the first byte"},
		{prober.ReasonProtocolError, 465, "port 465 speaks TLS from the first byte"},
		{prober.ReasonTLSHandshakeFailed, 587, "port 587 starts in clear text"},
		{prober.ReasonTLSHandshakeFailed, 465, probe[prober.ReasonTLSHandshakeFailed].Hint},
	}
	for _, tc := range tests {
		words, hint := Explain(tc.reason, tc.port)
		if words != probe[tc.reason].Words {
			t.Errorf("Explain(%s, %d) words = %q", tc.reason, tc.port, words)
		}
		if !strings.Contains(hint, tc.want) {
			t.Errorf("Explain(%s, %d) hint = %q, want it to say %q", tc.reason, tc.port, hint, tc.want)
		}
	}
	if _, hint := Explain(prober.ReasonBannerTimeout, 25); strings.Contains(hint, "465") {
		t.Errorf("banner_timeout on 25 names port 465: %q", hint)
	}
}
