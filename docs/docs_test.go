package docs

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/smtp-exporter/smtp_exporter/collector"
	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/egress"
	"github.com/smtp-exporter/smtp_exporter/handler"
	"github.com/smtp-exporter/smtp_exporter/internal/promnames"
)

// TestGeneratedUpToDate: the generated sections are what the code's tables
// say now (go generate ./docs rewrites them).
func TestGeneratedUpToDate(t *testing.T) {
	for _, name := range Generated {
		old, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := Generate(old)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(old, fresh) {
			t.Errorf("%s is out of date: run go generate ./docs and commit it", name)
		}
		if !bytes.Contains(old, []byte(beginMarker)) {
			t.Errorf("%s has no generated section", name)
		}
	}
}

// TestGenerateErrors: a section the generator does not know, or one left
// open, is an error and not a silently kept text.
func TestGenerateErrors(t *testing.T) {
	for name, md := range map[string]string{
		"unknown section": "a\n<!-- begin generated: nothing -->\n<!-- end generated: nothing -->\n",
		"no end":          "a\n<!-- begin generated: probe-reasons -->\nold\n",
		"other end":       "<!-- begin generated: probe-reasons -->\n<!-- end generated: domain-reasons -->\n",
	} {
		if _, err := Generate([]byte(md)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	out, err := Generate([]byte("before\n<!-- begin generated: domain-reasons -->\nstale\n<!-- end generated: domain-reasons -->\nafter\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "stale") || !strings.HasPrefix(s, "before\n") || !strings.HasSuffix(s, "-->\nafter\n") ||
		!strings.Contains(s, "| `null_mx` |") {
		t.Errorf("Generate kept the stale text or lost the rest:\n%s", s)
	}
}

// documentedMetric is a row of a metric table: `name{label,...}`.
var documentedMetric = regexp.MustCompile("(?m)^\\| `((?:probe|smtp_exporter)_[a-z0-9_]+)(?:\\{([a-z0-9_,]*)\\})?` \\|")

// TestMetricsDocumented holds metrics.md's tables against the code: every
// metric a probe can emit and every metric the exporter registers on
// /metrics has a row, every row is such a metric, and the labels a row
// names are those of the metric (a pair's series add mx and address, which
// the text says once).
func TestMetricsDocumented(t *testing.T) {
	md, err := os.ReadFile("metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	code := map[string][][]string{}
	for _, m := range promnames.ProbeMetrics() {
		code[m.Name] = append(code[m.Name], m.Labels)
	}
	for _, m := range exporterMetrics(t) {
		code[m.Name] = append(code[m.Name], m.Labels)
	}

	documented := map[string]bool{}
	for _, row := range documentedMetric.FindAllSubmatch(md, -1) {
		name := string(row[1])
		var labels []string
		if len(row[2]) > 0 {
			labels = strings.Split(string(row[2]), ",")
		}
		documented[name] = true
		sets, ok := code[name]
		if !ok {
			t.Errorf("metrics.md documents %s, which the exporter does not emit", name)
			continue
		}
		if !slices.ContainsFunc(sets, func(s []string) bool { return sameLabels(s, labels) }) {
			t.Errorf("metrics.md: %s{%s}, but its labels are %v", name, strings.Join(labels, ","), sets)
		}
	}
	for name := range code {
		if !documented[name] {
			t.Errorf("%s is not documented in metrics.md", name)
		}
	}
}

// sameLabels: the same label names, in any order.
func sameLabels(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// exporterMetrics are the metrics the exporter registers on /metrics: the
// packages' own registrations, and the build info main adds.
func exporterMetrics(t *testing.T) []promnames.Metric {
	t.Helper()
	var rec recorder
	handler.NewMetrics(&rec)
	handler.NewLimiter(1, &rec)
	config.NewSafeConfig("", nil, &rec)
	rec.MustRegister(collector.NewEgress(func() egress.Snapshot { return egress.Snapshot{} }))
	rec.MustRegister(versioncollector.NewCollector("smtp_exporter"))
	if len(rec.metrics) == 0 {
		t.Fatal("nothing registered")
	}
	return rec.metrics
}

// recorder is a Registerer that keeps what the collectors describe: a
// registry gathers a labelled metric only once it has a child.
type recorder struct{ metrics []promnames.Metric }

func (r *recorder) Register(c prometheus.Collector) error {
	r.metrics = append(r.metrics, promnames.Described(c)...)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// markdownLink is an inline link or image; reference links are not used.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinks: every relative link of the Markdown files points to a file of
// the repository, and every #anchor to a heading of its file, so that
// moving a section cannot leave a link behind.
func TestLinks(t *testing.T) {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../README.md", "../CONTRIBUTING.md")
	anchors := map[string][]string{}
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(withoutCode(string(text)), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(link, "#")
			target := file
			if path != "" {
				target = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s: link %s: %v", file, link, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if _, ok := anchors[target]; !ok {
				anchors[target] = headingAnchors(t, target)
			}
			if !slices.Contains(anchors[target], anchor) {
				t.Errorf("%s: link %s: %s has no heading with anchor #%s", file, link, target, anchor)
			}
		}
	}
}

// fence is a fenced code block, whose text is not Markdown.
var fence = regexp.MustCompile("(?ms)^```.*?^```")

func withoutCode(md string) string { return fence.ReplaceAllString(md, "") }

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, punctuation but - and _ dropped, spaces as -.
func headingAnchors(t *testing.T, file string) []string {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := map[string]int{}
	for line := range strings.SplitSeq(withoutCode(string(text)), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			seen[a]++
			a += "-" + strconv.Itoa(n)
		} else {
			seen[a] = 1
		}
		out = append(out, a)
	}
	return out
}

// TestEveryFieldDocumented holds configuration.md's "Every field" table
// against the config types: every YAML key of a module and of the top
// level has a row (a section's keys as section.key), and every row names
// such keys.
func TestEveryFieldDocumented(t *testing.T) {
	md, err := os.ReadFile("configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(md), "### Every field\n")
	if !ok {
		t.Fatal("configuration.md has no \"### Every field\" section")
	}
	table, _, _ = strings.Cut(table, "\n#")
	documented := map[string]bool{}
	for line := range strings.SplitSeq(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`([a-z0-9_.]+)`").FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
		}
	}

	var keys []string
	keys = yamlKeys(reflect.TypeFor[config.Module](), "", keys)
	keys = yamlKeys(reflect.TypeFor[config.Config](), "", keys)
	for _, k := range keys {
		if k == "modules" {
			continue // the section the module keys are in
		}
		if !documented[k] {
			t.Errorf("configuration.md's field table has no row for %s", k)
		}
		delete(documented, k)
	}
	for k := range documented {
		t.Errorf("configuration.md's field table documents %s, which is no config key", k)
	}
}

// yamlKeys appends the YAML keys of a config struct, the keys of a nested
// struct (a section) as section.key; maps and lists are leaves.
func yamlKeys(t reflect.Type, prefix string, keys []string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeFor[config.Config]().PkgPath() {
			keys = yamlKeys(ft, prefix+tag+".", keys)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}
