package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/internal/promnames"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

const dsRef = "${datasource}"

// wantUIDs pins every dashboard's uid: links between the dashboards and
// users' bookmarks depend on them.
var wantUIDs = map[string]string{
	"smtp-overview.json":     "smtp-exporter-overview",
	"smtp-certificates.json": "smtp-exporter-certificates",
	"smtp-latency.json":      "smtp-exporter-latency",
	"smtp-target.json":       "smtp-exporter-target",
	"smtp-domains.json":      "smtp-exporter-domains",
}

func load(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) == 0 {
		t.Fatal("no dashboards")
	}
	slices.SortFunc(ds, func(a, b Dashboard) int { return strings.Compare(a.File, b.File) })
	return ds
}

func TestDashboardsBasics(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if !json.Valid(b) {
			t.Errorf("%s: not valid JSON", name)
		}
	}
	titles := map[string]bool{}
	got := map[string]string{}
	for _, d := range load(t) {
		got[d.File] = d.UID
		if d.Title == "" || titles[d.Title] {
			t.Errorf("%s: title %q empty or not unique", d.File, d.Title)
		}
		titles[d.Title] = true
		if r, err := time.ParseDuration(d.Refresh); err != nil || r < 30*time.Second {
			t.Errorf("%s: refresh %q, want a duration of at least 30s (probes run every scrape interval)", d.File, d.Refresh)
		}
		if !strings.HasPrefix(d.Time.From, "now-") || d.Time.To != "now" {
			t.Errorf("%s: time range %s to %s, want now-X to now", d.File, d.Time.From, d.Time.To)
		}
		// The dashboards' links menu lists dashboards by this tag.
		if !slices.Contains(d.Tags, "smtp_exporter") {
			t.Errorf("%s: tags %v lack smtp_exporter", d.File, d.Tags)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantUIDs) {
		t.Errorf("dashboard uids %v, want %v", got, wantUIDs)
	}
}

// TestNoHardCodedDatasource: every data source reference anywhere in the
// JSON is the $datasource variable, so the dashboards import into any
// Grafana.
func TestNoHardCodedDatasource(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		n := 0
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, c := range v {
					if k == "datasource" {
						n++
						checkDatasource(t, name+path+".datasource", c)
						continue
					}
					walk(path+"."+k, c)
				}
			case []any:
				for i, c := range v {
					walk(fmt.Sprintf("%s[%d]", path, i), c)
				}
			}
		}
		walk("", doc)
		if n == 0 {
			t.Errorf("%s: no datasource references at all", name)
		}
	}
	for _, d := range load(t) {
		for _, p := range d.AllPanels() {
			if len(p.Targets) > 0 && (p.Datasource == nil || p.Datasource.UID != dsRef) {
				t.Errorf("%s: panel %q has queries but no datasource %s", d.File, p.Title, dsRef)
			}
		}
	}
}

func checkDatasource(t *testing.T, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		uid, _ := v["uid"].(string)
		// The built-in annotation query uses Grafana's own pseudo data source.
		if uid == dsRef && v["type"] == "prometheus" || uid == "-- Grafana --" && v["type"] == "grafana" {
			return
		}
		t.Errorf("%s: %v, want {type: prometheus, uid: %s}", where, v, dsRef)
	case string:
		if v != dsRef {
			t.Errorf("%s: %q, want %s", where, v, dsRef)
		}
	default:
		t.Errorf("%s: %v, want {type: prometheus, uid: %s}", where, v, dsRef)
	}
}

func TestVariables(t *testing.T) {
	for _, d := range load(t) {
		vars := map[string]Variable{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v
		}
		if ds := vars["datasource"]; ds.Type != "datasource" || ds.Query != "prometheus" {
			t.Errorf("%s: variable datasource %+v, want a prometheus data source variable", d.File, ds)
		}
		for _, name := range []string{"job", "module", "instance"} {
			v, ok := vars[name]
			if !ok {
				t.Errorf("%s: no variable %s", d.File, name)
				continue
			}
			if v.Type != "query" || v.Datasource == nil || v.Datasource.UID != dsRef {
				t.Errorf("%s: variable %s: type %q datasource %+v, want a query on %s", d.File, name, v.Type, v.Datasource, dsRef)
			}
			// The drill-down shows one target; everywhere else "All" must
			// match every value (module may be empty: the port chose it).
			wantMulti := name != "instance" || d.UID != "smtp-exporter-target"
			if v.Multi != wantMulti || v.IncludeAll != wantMulti {
				t.Errorf("%s: variable %s: multi %v includeAll %v, want %v", d.File, name, v.Multi, v.IncludeAll, wantMulti)
			}
			if wantMulti && v.AllValue != TestValues[name] {
				t.Errorf("%s: variable %s: allValue %q, want %q", d.File, name, v.AllValue, TestValues[name])
			}
		}
	}
}

func TestPanelIDsAndGrid(t *testing.T) {
	for _, d := range load(t) {
		ids := map[int]string{}
		var placed []Panel
		for _, p := range d.AllPanels() {
			if p.ID <= 0 {
				t.Errorf("%s: panel %q has no id", d.File, p.Title)
			} else if prev, dup := ids[p.ID]; dup {
				t.Errorf("%s: panels %q and %q share id %d", d.File, prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			g := p.GridPos
			if g.X < 0 || g.Y < 0 || g.W <= 0 || g.H <= 0 || g.X+g.W > 24 {
				t.Errorf("%s: panel %q gridPos %+v is off the 24-column grid", d.File, p.Title, g)
			}
			for _, q := range placed {
				if overlap(g, q.GridPos) {
					t.Errorf("%s: panels %q %+v and %q %+v overlap", d.File, p.Title, g, q.Title, q.GridPos)
				}
			}
			placed = append(placed, p)
		}
	}
}

func overlap(a, b GridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func TestOverlapDetects(t *testing.T) {
	tests := []struct {
		a, b GridPos
		want bool
	}{
		{GridPos{0, 0, 12, 4}, GridPos{12, 0, 12, 4}, false},
		{GridPos{0, 0, 12, 4}, GridPos{0, 4, 24, 1}, false},
		{GridPos{0, 0, 12, 4}, GridPos{11, 3, 2, 2}, true},
		{GridPos{0, 0, 24, 10}, GridPos{4, 2, 2, 2}, true},
	}
	for _, tc := range tests {
		if got := overlap(tc.a, tc.b); got != tc.want {
			t.Errorf("overlap(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestPanelQueriesFollowVariables: every panel query is filtered by the
// dashboard's job, module and target selection.
func TestPanelQueriesFollowVariables(t *testing.T) {
	for _, d := range load(t) {
		qs, err := d.Queries()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Variable {
				continue
			}
			for _, sel := range []string{`job=~"$job"`, `module=~"$module"`, `instance=~"$instance"`} {
				if !strings.Contains(q.Expr, sel) {
					t.Errorf("%s: query lacks %s: %s", q.Where, sel, q.Expr)
				}
			}
		}
	}
}

// substituted returns every query of every dashboard with the variables
// filled in.
func substituted(t *testing.T) []Query {
	t.Helper()
	var all []Query
	for _, d := range load(t) {
		qs, err := d.Queries()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			expr, err := Substitute(q.Expr, TestValues)
			if err != nil {
				t.Errorf("%s: %v", q.Where, err)
				continue
			}
			q.Expr = expr
			all = append(all, q)
		}
	}
	if len(all) == 0 {
		t.Fatal("no queries")
	}
	return all
}

// TestQueriesParse has promtool parse every query, each as a recording
// rule (promtool cannot check a bare expression).
func TestQueriesParse(t *testing.T) {
	promtool := testtool.Need(t, "promtool", "promtool")
	check := func(qs []Query) (string, error) {
		type rule struct {
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		}
		type group struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		}
		var groups []group
		for _, q := range qs {
			groups = append(groups, group{Name: q.Where, Rules: []rule{{Record: "dashboard_query", Expr: q.Expr}}})
		}
		b, err := yaml.Marshal(map[string]any{"groups": groups})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "queries.yml")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput()
		return string(out), err
	}
	qs := substituted(t)
	if out, err := check(qs); err != nil {
		t.Errorf("promtool check rules on the dashboards' queries: %v\n%s", err, out)
	}
	// The check can fail: a query with a missing parenthesis.
	broken := Query{Where: "broken", Expr: strings.TrimSuffix(qs[len(qs)-1].Expr, ")") + "("}
	if out, err := check([]Query{broken}); err == nil || !strings.Contains(out, "parse error") {
		t.Errorf("promtool accepted %q: %v\n%s", broken.Expr, err, out)
	}
}

// TestQueriesUseExporterMetrics: every metric a query names is one the
// exporter's probe emits, or its own /metrics (the egress canaries), or
// Prometheus itself makes.
func TestQueriesUseExporterMetrics(t *testing.T) {
	known := append(append(promnames.Probe(), promnames.Exporter()...), promnames.FromPrometheus...)
	used := map[string]bool{}
	for _, q := range substituted(t) {
		names := promnames.InQuery(q.Expr)
		if len(names) == 0 {
			t.Errorf("%s: names no metric: %s", q.Where, q.Expr)
		}
		for _, n := range names {
			used[n] = true
			if !slices.Contains(known, n) {
				t.Errorf("%s: metric %s is not emitted by the exporter (it emits %v)", q.Where, n, known)
			}
		}
	}
	// The dashboards show every fact a probe reports.
	for _, n := range promnames.Probe() {
		if !used[n] {
			t.Errorf("no dashboard shows %s", n)
		}
	}
}

func TestSubstitute(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{`up{job=~"$job",instance=~"${instance}"}`, `up{job=~"a",instance=~"b"}`, ""},
		{`rate(x[$__rate_interval])`, `rate(x[1m])`, ""},
		{`label_replace(x, "host", "$1", "instance", "(.+)")`, `label_replace(x, "host", "$1", "instance", "(.+)")`, ""},
		{`x{a="$nope"}`, "", "unknown variables [nope]"},
	}
	values := map[string]string{"job": "a", "instance": "b", "__rate_interval": "1m"}
	for _, tc := range tests {
		got, err := Substitute(tc.in, values)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Substitute(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestOverridesFollowRenames: Grafana matches a field override by the
// field's name after the transformations, so an override naming a field
// that an organize transformation renamed silently does nothing.
func TestOverridesFollowRenames(t *testing.T) {
	for _, d := range load(t) {
		for _, p := range d.AllPanels() {
			renamed := map[string]string{}
			for _, tr := range p.Transformations {
				if tr.ID != "organize" {
					continue
				}
				m, _ := tr.Options["renameByName"].(map[string]any)
				for from, to := range m {
					renamed[from] = fmt.Sprint(to)
				}
			}
			for _, o := range p.FieldConfig.Overrides {
				name, _ := o.Matcher.Options.(string)
				if to, ok := renamed[name]; ok && o.Matcher.ID == "byName" {
					t.Errorf("%s: panel %q: override for %q, which is renamed to %q", d.File, p.Title, name, to)
				}
			}
		}
	}
}
