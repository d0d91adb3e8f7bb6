package testtool

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// YAMLDocuments decodes every non-empty document of a multi-document YAML
// stream (a manifest file, helm template's output).
func YAMLDocuments(r io.Reader) ([]map[string]any, error) {
	var docs []map[string]any
	dec := yaml.NewDecoder(r)
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// KubeconformResult is one resource in kubeconform's JSON output.
type KubeconformResult struct {
	Filename string `json:"filename"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Msg      string `json:"msg"`
}

// Kubeconform validates the Kubernetes objects in files with kubeconform
// in strict mode (unknown fields and duplicate keys are errors) against
// the JSON schemas in schemaDir alone, named as scripts/gen-schemas.sh
// names them (deployment-apps-v1.json, probe-monitoring-v1.json): no
// network. The error is kubeconform's exit status: non-nil when a resource
// is invalid or has no schema.
func Kubeconform(t testing.TB, schemaDir string, files ...string) ([]KubeconformResult, error) {
	t.Helper()
	bin := Need(t, "kubeconform", "kubeconform")
	schemas := schemaDir + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
	args := append([]string{"-strict", "-verbose", "-output", "json", "-schema-location", schemas}, files...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var res struct {
		Resources []KubeconformResult `json:"resources"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("kubeconform %s: unreadable output (%v): %s\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return res.Resources, runErr
}

// KubeconformValid fails the test unless kubeconform finds every object in
// files valid, and checks as many as the files hold (want): an object it
// skipped for want of a schema would otherwise pass unseen.
func KubeconformValid(t testing.TB, schemaDir string, want int, files ...string) {
	t.Helper()
	results, err := Kubeconform(t, schemaDir, files...)
	for _, r := range results {
		if r.Status != "statusValid" {
			t.Errorf("%s: %s %s: %s %s", r.Filename, r.Kind, r.Name, r.Status, r.Msg)
		}
	}
	if len(results) != want {
		t.Errorf("kubeconform checked %d objects, the files hold %d", len(results), want)
	}
	if err != nil && !t.Failed() {
		t.Errorf("kubeconform: %v", err)
	}
}

// Fixture is a test file whose first line says what the test expects of
// it: "# want: <part of an error>", "# kinds: <kinds rendered>".
type Fixture struct {
	Path   string
	Header string // the first line after the prefix
}

// Fixtures returns the files matching glob with their headers; a file
// whose first line lacks prefix, or no file at all, fails the test.
func Fixtures(t testing.TB, glob, prefix string) []Fixture {
	t.Helper()
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures %s: %v", glob, err)
	}
	var fixtures []Fixture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		header, ok := strings.CutPrefix(first, prefix)
		if !ok {
			t.Fatalf("%s: first line %q does not start with %q", p, first, prefix)
		}
		fixtures = append(fixtures, Fixture{p, header})
	}
	return fixtures
}
