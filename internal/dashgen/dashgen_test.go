package dashgen

import (
	"bytes"
	"slices"
	"testing"

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
