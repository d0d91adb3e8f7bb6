package dashgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/smtp-exporter/smtp_exporter/internal/grafanasdk"
)

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
