// Package testtool finds the external programs that tests run (promtool,
// kubeconform, systemd-analyze), installing a missing one with
// scripts/install-deploy-tools.sh. Without the program a test skips, except
// under CI=true, where every check must run and a missing tool fails.
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RepoRoot is the repository's top directory, wherever the test runs from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Need returns the path of the program name, installing it with
// `scripts/install-deploy-tools.sh installArg` when it is neither on PATH
// nor in $(go env GOPATH)/bin.
func Need(t testing.TB, name, installArg string) string {
	t.Helper()
	if p := find(name); p != "" {
		return p
	}
	out, err := exec.Command("bash", filepath.Join(RepoRoot(), "scripts", "install-deploy-tools.sh"), installArg).CombinedOutput()
	if p := find(name); p != "" {
		return p
	}
	msg := fmt.Sprintf("%s not found and could not be installed (scripts/install-deploy-tools.sh %s: %v)\n%s", name, installArg, err, out)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func find(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
