package testtool

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

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
