// Command gen copies into the Helm chart what Helm cannot read from outside
// it (see charts.Files). Run from the charts directory, as go generate
// does; -check lists stale files and exits 1 instead of writing them.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/smtp-exporter/smtp_exporter/charts"
)

const chartDir = "smtp-exporter"

func main() {
	repo := flag.String("repo", "..", "the repository's top directory")
	check := flag.Bool("check", false, "list files that differ instead of writing them")
	flag.Parse()
	files, err := charts.Files(*repo, chartDir)
	if err != nil {
		fail(err)
	}
	stale := 0
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		old, err := os.ReadFile(f.Path)
		if err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		stale++
		if *check {
			fmt.Println(f.Path)
		} else if err := os.WriteFile(f.Path, f.Data, 0o644); err != nil {
			fail(err)
		}
	}
	// A dashboard removed from dashboards/ leaves the chart too.
	copies, err := filepath.Glob(filepath.Join(chartDir, "files", "dashboards", "*.json"))
	if err != nil {
		fail(err)
	}
	for _, c := range copies {
		if want[c] {
			continue
		}
		stale++
		if *check {
			fmt.Println(c)
		} else if err := os.Remove(c); err != nil {
			fail(err)
		}
	}
	if *check && stale > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
