package charts

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The marker lines in values.yaml between which Files puts the modules of
// config.example.yml.
const (
	beginMarker = "# BEGIN config.example.yml"
	endMarker   = "# END config.example.yml"
)

// File is one generated file of the chart and what it must hold.
type File struct {
	Path string
	Data []byte
}

// Files returns what the chart at chart (a path) copies from the
// repository at repo, because Helm reads only files inside a chart:
// alerts/smtp_exporter.rules.yml and dashboards/*.json into files/, and
// the modules of config.example.yml into values.yaml, between its marker
// lines, indented under config:.
func Files(repo, chart string) ([]File, error) {
	var files []File
	rules, err := os.ReadFile(filepath.Join(repo, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		return nil, err
	}
	files = append(files, File{filepath.Join(chart, "files", "smtp_exporter.rules.yml"), rules})

	dashboards, err := filepath.Glob(filepath.Join(repo, "dashboards", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dashboards)
	for _, d := range dashboards {
		b, err := os.ReadFile(d)
		if err != nil {
			return nil, err
		}
		files = append(files, File{filepath.Join(chart, "files", "dashboards", filepath.Base(d)), b})
	}

	example, err := os.ReadFile(filepath.Join(repo, "config.example.yml"))
	if err != nil {
		return nil, err
	}
	valuesPath := filepath.Join(chart, "values.yaml")
	values, err := os.ReadFile(valuesPath)
	if err != nil {
		return nil, err
	}
	spliced, err := splice(string(values), modulesBlock(string(example)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", valuesPath, err)
	}
	return append(files, File{valuesPath, []byte(spliced)}), nil
}

// modulesBlock is config.example.yml from its modules: line on, indented
// by two spaces (the level of config: in values.yaml).
func modulesBlock(example string) string {
	var b strings.Builder
	started := false
	for line := range strings.SplitSeq(strings.TrimRight(example, "\n"), "\n") {
		if !started && !strings.HasPrefix(line, "modules:") {
			continue
		}
		started = true
		if line == "" {
			b.WriteString("\n")
		} else {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String()
}

// splice puts block between the marker lines of values.
func splice(values, block string) (string, error) {
	begin := strings.Index(values, beginMarker)
	end := strings.Index(values, endMarker)
	if begin < 0 || end < begin {
		return "", fmt.Errorf("no %q ... %q lines", beginMarker, endMarker)
	}
	afterBegin := begin + strings.Index(values[begin:], "\n") + 1
	lineStart := strings.LastIndex(values[:end], "\n") + 1
	return values[:afterBegin] + block + values[lineStart:], nil
}
