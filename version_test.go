package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

func TestFromBuildInfo(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	cases := []struct {
		name string
		info debug.BuildInfo
		want buildVersion
	}{
		{"go install of a release", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, buildVersion{version: "1.2.3"}},
		{
			"go build in a checkout",
			debug.BuildInfo{
				Main: debug.Module{Version: "v0.0.0-20261202172447-cf5d4686f3b0"},
				Settings: settings("vcs", "git", "vcs.revision", "cf5d4686f3b0f1b923a57d5e82a09e6862a6002c",
					"vcs.time", "2026-12-02T17:24:47Z", "vcs.modified", "false"),
			},
			buildVersion{"0.0.0-20261202172447-cf5d4686f3b0", "cf5d4686f3b0f1b923a57d5e82a09e6862a6002c", "20261202-17:24:47"},
		},
		{
			"a dirty checkout",
			debug.BuildInfo{
				Main:     debug.Module{Version: "v0.0.0-20261202172447-cf5d4686f3b0+dirty"},
				Settings: settings("vcs.revision", "cf5d4686", "vcs.time", "2026-12-02T18:24:47+01:00", "vcs.modified", "true"),
			},
			buildVersion{"0.0.0-20261202172447-cf5d4686f3b0+dirty", "cf5d4686-modified", "20261202-17:24:47"},
		},
		{"no version control", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, buildVersion{}},
		{"a bad time", debug.BuildInfo{Settings: settings("vcs.time", "yesterday")}, buildVersion{}},
	}
	for _, tc := range cases {
		if got := fromBuildInfo(&tc.info); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestVersionFromGoBuild builds the tree, committed to a repository of
// its own, with nothing but `go build` and checks that --version, the
// landing page and smtp_exporter_build_info show the commit it was built
// from.
func TestVersionFromGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a test that builds and runs the exporter binary")
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-12-02T17:24:47Z", "GIT_AUTHOR_DATE=2026-12-02T17:24:47Z")
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("needs git and a checkout: git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	// A copy of the working tree in a repository of its own: go build
	// stamps the commit only where .git is a directory (not in a git
	// worktree), and the test must build the files as they are.
	root := testtool.RepoRoot()
	src := filepath.Join(t.TempDir(), "src")
	for f := range strings.SplitSeq(git(root, "ls-files", "--cached", "--others", "--exclude-standard"), "\n") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(src, "init", "-q")
	git(src, "add", "-A")
	git(src, "commit", "-q", "-m", "test")
	rev := git(src, "rev-parse", "HEAD")
	commitTime := time.Date(2026, 12, 2, 17, 24, 47, 0, time.UTC)
	build := exec.Command("go", "build", "-buildvcs=true", "-o", "smtp_exporter", ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bin := filepath.Join(src, "smtp_exporter")
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	wantVersion := "0.0.0-" + commitTime.UTC().Format("20060102150405") + "-" + rev[:12]
	for _, want := range []string{
		"smtp_exporter, version " + wantVersion + " ",
		"revision: " + rev + ")",
		"build date:       " + commitTime.UTC().Format(buildDateLayout),
	} {
		mustContain(t, string(out), want)
	}

	exp := testtool.StartExporter(t, bin, nil)
	mustContain(t, get(t, exp.URL+"/", 200), wantVersion)
	mustContain(t, get(t, exp.URL+"/metrics", 200), `revision="`+rev+`"`)
	mustContain(t, get(t, exp.URL+"/metrics", 200), `version="`+wantVersion+`"`)
}
