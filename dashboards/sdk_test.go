package dashboards

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/dashgen"
	"github.com/smtp-exporter/smtp_exporter/internal/grafanasdk"
)

// TestGeneratedUpToDate: the JSON files are what internal/dashgen builds, so
// an edit by hand or a change to the Go code without regenerating fails.
func TestGeneratedUpToDate(t *testing.T) {
	want, err := dashgen.Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("dashboards/%s differs from what internal/dashgen builds: run `go generate ./dashboards` and commit the result", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("dashboards/%s is not built by internal/dashgen: add it to dashgen.All or delete it", name)
		}
	}
}

func decodeStrict(b []byte) error {
	_, err := grafanasdk.DecodeDashboard(b)
	return err
}

func TestStrictDecode(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := decodeStrict(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestStrictDecodeCanFail: what the hand-written dashboards had (fields
// Grafana fills in on import, required options left out) and misspelt
// fields are rejected.
func TestStrictDecodeCanFail(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(d map[string]any)
	}{
		{"current of a variable", func(d map[string]any) {
			d["templating"].(map[string]any)["list"].([]any)[1].(map[string]any)["current"] = map[string]any{}
		}},
		{"misspelt panel option", func(d map[string]any) {
			d["panels"].([]any)[0].(map[string]any)["options"].(map[string]any)["colourMode"] = "background"
		}},
		{"unknown query field", func(d map[string]any) {
			d["panels"].([]any)[0].(map[string]any)["targets"].([]any)[0].(map[string]any)["expression"] = "up"
		}},
		{"a table without frameIndex", func(d map[string]any) {
			for _, p := range d["panels"].([]any) {
				if p := p.(map[string]any); p["type"] == "table" {
					delete(p["options"].(map[string]any), "frameIndex")
				}
			}
		}},
	}
	for _, tc := range tests {
		var d map[string]any
		if err := json.Unmarshal(files["smtp-overview.json"], &d); err != nil {
			t.Fatal(err)
		}
		tc.mutate(d)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeStrict(b); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestDashboardSpecs: every dashboard of dashgen.All has a file name of
// the smtp-*.json family and a uid pinned in wantUIDs.
func TestDashboardSpecs(t *testing.T) {
	var names []string
	for _, s := range dashgen.All() {
		names = append(names, s.File)
		if !strings.HasPrefix(s.File, "smtp-") || !strings.HasSuffix(s.File, ".json") {
			t.Errorf("%s: want smtp-NAME.json", s.File)
		}
	}
	for name := range wantUIDs {
		if !slices.Contains(names, name) {
			t.Errorf("%s: not built by dashgen.All", name)
		}
	}
}
