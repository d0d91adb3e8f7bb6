// Package testtool holds what tests share beyond fake servers: the external
// programs they run (promtool, kubeconform, systemd-analyze), installed
// with scripts/install-deploy-tools.sh when missing, and the exporter
// binary, built once per package and started on a free loopback port.
// Without a program a test skips, except under CI=true, where every check
// must run and a missing tool fails; with -short nothing is installed or
// built, and those tests skip.
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
	if testing.Short() {
		t.Skipf("-short: %s is not installed, and -short installs nothing (scripts/install-deploy-tools.sh %s does)", name, installArg)
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
