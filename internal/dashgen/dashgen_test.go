package dashgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/smtp-exporter/smtp_exporter/internal/grafanasdk"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestReasonsInWords: every failure reason the prober reports has words and
// a color in the dashboards, and no other.
func TestReasonsInWords(t *testing.T) {
	var want []string
	for _, r := range prober.Reasons {
		want = append(want, string(r))
	}
	got := ReasonsInWords()
	for _, r := range want {
		if !slices.Contains(got, r) {
			t.Errorf("failure reason %s has no words in internal/dashgen/reasons.go", r)
		}
	}
	for _, r := range got {
		if !slices.Contains(want, r) {
			t.Errorf("internal/dashgen/reasons.go: %s is not a failure reason of the prober", r)
		}
	}
}

// TestRenderStable: two runs write the same bytes (map keys sorted), so
// the up-to-date test in dashboards/ does not flap.
func TestRenderStable(t *testing.T) {
	a, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

// TestRow: a dashboard with a row, as a contributor would add one, renders,
// numbers the row and its panels, and decodes strictly.
func TestRow(t *testing.T) {
	b, err := render(newDashboard("test", "Test", "A row.", false).
		WithPanel(statPanel("Before", "d", `count(up{`+sel()+`})`).Span(24).Height(4)).
		WithRow(row("DANE")).
		WithPanel(statPanel("In the row", "d", `count(up{`+sel()+`})`).Span(12).Height(4)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grafanasdk.DecodeDashboard(b); err != nil {
		t.Fatal(err)
	}
	// The strict decoder checks but leaves some fields unset (an SDK quirk:
	// its nested decoders return empty error lists as errors).
	var d dashboard.Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			got = append(got, fmt.Sprintf("%d %s y%d", *p.Panel.Id, *p.Panel.Title, p.Panel.GridPos.Y))
		case p.RowPanel != nil:
			got = append(got, fmt.Sprintf("%d row %s y%d", p.RowPanel.Id, *p.RowPanel.Title, p.RowPanel.GridPos.Y))
		}
	}
	if want := "[1 Before y0 2 row DANE y4 3 In the row y5]"; fmt.Sprint(got) != want {
		t.Errorf("panels %v, want %s", got, want)
	}
}

// TestDomainReasonsInWords: every domain failure reason, and every reason
// only a pair has, has words in the dashboards, and no other.
func TestDomainReasonsInWords(t *testing.T) {
	var domain []string
	for _, r := range maildomain.Reasons {
		domain = append(domain, string(r))
	}
	if got := DomainReasonsInWords(); !slices.Equal(sorted(got), sorted(domain)) {
		t.Errorf("domain reasons in words %v, want %v (internal/dashgen/domains.go)", got, domain)
	}
	var pairOnly []string
	for _, r := range maildomain.PairReasons {
		if !slices.Contains(prober.Reasons, r) {
			pairOnly = append(pairOnly, string(r))
		}
	}
	if got := PairReasonsInWords(); !slices.Equal(sorted(got), sorted(pairOnly)) {
		t.Errorf("pair-only reasons in words %v, want %v (internal/dashgen/domains.go)", got, pairOnly)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestTargetMatrixKeepsDomains: the Overview's matrix shows a failing
// domain by its own reason, whatever its pairs say (issue 24: a domain
// failing its MTA-STS policy or its MX lookup dropped out of the matrix).
func TestTargetMatrixKeepsDomains(t *testing.T) {
	panel, err := targetMatrix().Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(panel)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`probe_smtp_domain_failure{`, `\"status\", \"domain: $1\"`, `up, mail domain`, `mx=\"\"`, `domain: mta_sts_violation`, `domain: resolve`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the target matrix lacks %s", want)
		}
	}
}
