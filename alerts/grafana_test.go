package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/dashboards"
	"github.com/smtp-exporter/smtp_exporter/internal/alertgen"
	"github.com/smtp-exporter/smtp_exporter/internal/grafanasdk"
	"github.com/smtp-exporter/smtp_exporter/internal/promnames"
)

const (
	provisioningFile = "../" + alertgen.ProvisioningFile
	apiFile          = "grafana/smtp_exporter.json"
	regenerate       = "run `go generate ./alerts` and commit the result"
	// dashboardBase is where dashboard_url points by default;
	// docs/alerting.md says how to point it at your Grafana.
	dashboardBase = "http://localhost:3000"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGrafanaRulesUpToDate: the Grafana files are what the generator makes
// of the rule file now, so an alert added or changed there without
// regenerating fails here.
func TestGrafanaRulesUpToDate(t *testing.T) {
	want, err := alertgen.Generate(readFile(t, rulesFile), alertgen.Defaults)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join("..", name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s is not what %s generates (%v): %s", name, rulesFile, err, regenerate)
		}
	}
	// Nothing stale in the generated places.
	apiFiles, err := filepath.Glob("grafana/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range apiFiles {
		if _, ok := want["alerts/"+f]; !ok {
			t.Errorf("alerts/%s is not generated: delete it", f)
		}
	}
}

// TestAlertingDirIsProvisioning: Grafana's alerting provisioning reads
// every file of its directory and refuses anything but YAML and JSON
// provisioning files, so alerting/ (meant to be mounted there) holds
// nothing else.
func TestAlertingDirIsProvisioning(t *testing.T) {
	entries, err := os.ReadDir("../alerting")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yml") {
			t.Errorf("alerting/%s: Grafana's provisioning would refuse the directory; keep only its .yml files there", e.Name())
		}
	}
}

func apiGroup(t *testing.T) map[string]any {
	t.Helper()
	var g map[string]any
	if err := json.Unmarshal(readFile(t, apiFile), &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGrafanaAPIStrict: the API JSON decodes strictly as the SDK's rule
// group, and the decoder would notice a stray field at each level.
func TestGrafanaAPIStrict(t *testing.T) {
	b := readFile(t, apiFile)
	g, err := grafanasdk.DecodeRuleGroup(b)
	if err != nil {
		t.Fatalf("%s: %v", apiFile, err)
	}
	if n := len(alertRules(t)); len(g.Rules) != n {
		t.Errorf("%s has %d rules, the rule file %d alerts", apiFile, len(g.Rules), n)
	}
	for _, tc := range []struct{ old, new string }{
		{`"instant": true`, `"instant": true, "instnat": true`},    // Prometheus query
		{`"reducer": "last"`, `"reducer": "last", "mode": "drop"`}, // reduce expression
		{`"noDataState"`, `"noDataStat"`},                          // rule
		{`"folderUid"`, `"folder"`},                                // group
	} {
		if !bytes.Contains(b, []byte(tc.old)) {
			t.Fatalf("%s has no %s", apiFile, tc.old)
		}
		if _, err := grafanasdk.DecodeRuleGroup(bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1)); err == nil {
			t.Errorf("strict decoding accepted %s replaced by %s", tc.old, tc.new)
		}
	}
}

// provisioning is Grafana's alerting file-provisioning format as far as
// these rules use it; decoded with KnownFields, a key Grafana does not know
// fails.
type provisioning struct {
	APIVersion int `yaml:"apiVersion"`
	Groups     []struct {
		OrgID    int64            `yaml:"orgId"`
		Name     string           `yaml:"name"`
		Folder   string           `yaml:"folder"`
		Interval string           `yaml:"interval"`
		Rules    []map[string]any `yaml:"rules"`
	} `yaml:"groups"`
}

func readProvisioning(t *testing.T) provisioning {
	t.Helper()
	var p provisioning
	decode(t, provisioningFile, &p, true)
	if p.APIVersion != 1 || len(p.Groups) == 0 {
		t.Fatalf("%s: apiVersion %d, %d groups", provisioningFile, p.APIVersion, len(p.Groups))
	}
	return p
}

// fileRuleToAPI turns a rule of the provisioning file into the API's form
// (the group's fields added, keepFiringFor spelt as the API does), so that
// the SDK's strict decoder checks every field of it.
func fileRuleToAPI(r map[string]any, group, folderUID string, orgID int64) ([]byte, error) {
	m := maps.Clone(r)
	m["folderUID"], m["ruleGroup"], m["orgID"] = folderUID, group, orgID
	if v, ok := m["keepFiringFor"]; ok {
		delete(m, "keepFiringFor")
		m["keep_firing_for"] = v
	}
	return json.Marshal(m)
}

// TestGrafanaProvisioningStrict: every rule of the provisioning file
// decodes strictly with the SDK's rule type and is the API's rule.
func TestGrafanaProvisioningStrict(t *testing.T) {
	p := readProvisioning(t)
	api := apiGroup(t)
	apiRules := map[string]any{}
	for _, r := range api["rules"].([]any) {
		apiRules[r.(map[string]any)["uid"].(string)] = r
	}
	n := 0
	for _, g := range p.Groups {
		for _, r := range g.Rules {
			n++
			b, err := fileRuleToAPI(r, g.Name, alertgen.Defaults.FolderUID, g.OrgID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := grafanasdk.DecodeRule(b); err != nil {
				t.Errorf("%s: rule %v: %v", provisioningFile, r["title"], err)
				continue
			}
			var got any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if want := apiRules[r["uid"].(string)]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("rule %v differs between %s and %s:\n%v\n%v", r["uid"], provisioningFile, apiFile, got, want)
			}
		}
		if g.Folder != alertgen.Defaults.FolderTitle || g.Interval != "1m" || g.OrgID != 1 {
			t.Errorf("%s: group %s: folder %q interval %q org %d", provisioningFile, g.Name, g.Folder, g.Interval, g.OrgID)
		}
	}
	if n != len(apiRules) {
		t.Errorf("%s has %d rules, %s %d", provisioningFile, n, apiFile, len(apiRules))
	}
	// A stray key fails.
	b, err := fileRuleToAPI(map[string]any{"uid": "x", "titel": "x"}, "g", "f", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grafanasdk.DecodeRule(b); err == nil {
		t.Error("strict decoding accepted a rule with a misspelt title")
	}
}

// TestGrafanaDatasourceSetOnce: the provisioning file names the Prometheus
// data source UID once (an anchor) and refers to it everywhere else, so
// the one-line change of docs/alerting.md covers every rule.
func TestGrafanaDatasourceSetOnce(t *testing.T) {
	text := string(readFile(t, provisioningFile))
	if n := strings.Count(text, "&datasource "+alertgen.Defaults.DatasourceUID+"\n"); n != 1 {
		t.Errorf("%s: %d anchors &datasource %s, want 1", provisioningFile, n, alertgen.Defaults.DatasourceUID)
	}
	if regexp.MustCompile(`(?m)(datasourceUid|uid): ` + alertgen.Defaults.DatasourceUID + `$`).MatchString(text) {
		t.Errorf("%s names the data source UID outside the anchor", provisioningFile)
	}
	// With another UID, every Prometheus query uses it.
	changed := strings.Replace(text, "&datasource "+alertgen.Defaults.DatasourceUID+"\n", "&datasource my-prom\n", 1)
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x.yml"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	var p provisioning
	if err := yaml.Unmarshal([]byte(changed), &p); err != nil {
		t.Fatal(err)
	}
	for _, g := range p.Groups {
		for _, r := range g.Rules {
			for _, q := range r["data"].([]any) {
				q := q.(map[string]any)
				if q["datasourceUid"] == "__expr__" {
					continue
				}
				ds := q["model"].(map[string]any)["datasource"].(map[string]any)
				if q["datasourceUid"] != "my-prom" || ds["uid"] != "my-prom" {
					t.Errorf("rule %v: query %v: data source %v / %v after changing the anchor", r["title"], q["refId"], q["datasourceUid"], ds["uid"])
				}
			}
		}
	}
}

// grafanaRule is what the tests read of a generated rule.
type grafanaRule struct {
	UID          string            `json:"uid"`
	Title        string            `json:"title"`
	Condition    string            `json:"condition"`
	For          string            `json:"for"`
	NoDataState  string            `json:"noDataState"`
	ExecErrState string            `json:"execErrState"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	Data         []struct {
		RefID         string         `json:"refId"`
		DatasourceUID string         `json:"datasourceUid"`
		Model         map[string]any `json:"model"`
	} `json:"data"`
}

func grafanaRules(t *testing.T) []grafanaRule {
	t.Helper()
	var g struct {
		Rules []grafanaRule `json:"rules"`
	}
	if err := json.Unmarshal(readFile(t, apiFile), &g); err != nil {
		t.Fatal(err)
	}
	return g.Rules
}

// TestGrafanaRulesArePrometheusRules: each Grafana rule runs its
// Prometheus alert's PromQL on the Prometheus data source, with the same
// for, labels and annotations (templates rewritten for Grafana), and fires
// for whatever series it returns.
func TestGrafanaRulesArePrometheusRules(t *testing.T) {
	prom := alertRules(t)
	graf := grafanaRules(t)
	if len(prom) != len(graf) {
		t.Fatalf("%d Prometheus alerts, %d Grafana rules", len(prom), len(graf))
	}
	for i, r := range prom {
		g := graf[i]
		name, _, _ := strings.Cut(g.Title, " (")
		if name != r.Alert || g.For != r.For || !maps.Equal(g.Labels, r.Labels) {
			t.Errorf("Grafana rule %s (for %s, labels %v) is not %s (for %s, labels %v)", g.Title, g.For, g.Labels, r.Alert, r.For, r.Labels)
		}
		if len(g.Data) != 4 || g.Condition != alertgen.RefThreshold {
			t.Errorf("%s: %d queries, condition %s", g.Title, len(g.Data), g.Condition)
			continue
		}
		q := g.Data[0]
		if q.RefID != alertgen.RefQuery || q.DatasourceUID != alertgen.Defaults.DatasourceUID ||
			q.Model["expr"] != strings.TrimSpace(r.Expr) || q.Model["instant"] != true {
			t.Errorf("%s: query %+v, want an instant query of %q on %s", g.Title, q, r.Expr, alertgen.Defaults.DatasourceUID)
		}
		for _, e := range g.Data[1:] {
			if e.DatasourceUID != "__expr__" {
				t.Errorf("%s: %s is not a server-side expression", g.Title, e.RefID)
			}
		}
		if g.Data[1].Model["type"] != "reduce" || g.Data[1].Model["reducer"] != "last" || g.Data[1].Model["expression"] != "A" ||
			g.Data[2].Model["type"] != "math" || g.Data[3].Model["type"] != "threshold" || g.Data[3].Model["expression"] != "C" {
			t.Errorf("%s: expressions %v, want reduce last of A, math on B, threshold on C", g.Title, g.Data[1:])
		}
		if !maps.Equal(keys(g.Annotations), keys(r.Annotations)) {
			t.Errorf("%s: annotations %v, Prometheus has %v", g.Title, slices.Sorted(maps.Keys(g.Annotations)), slices.Sorted(maps.Keys(r.Annotations)))
		}
		for _, k := range []string{"runbook_url"} {
			if g.Annotations[k] != r.Annotations[k] {
				t.Errorf("%s: %s %q, Prometheus has %q", g.Title, k, g.Annotations[k], r.Annotations[k])
			}
		}
		// What the rules do without data or without Prometheus, as
		// docs/alerting.md says.
		if g.NoDataState != "OK" || g.ExecErrState != "Error" {
			t.Errorf("%s: noDataState %s execErrState %s, want OK and Error (see alertgen.NoDataState)", g.Title, g.NoDataState, g.ExecErrState)
		}
	}
}

func keys(m map[string]string) map[string]string {
	out := map[string]string{}
	for k := range m {
		out[k] = ""
	}
	return out
}

// grafanaFuncs stands in for the template functions Grafana offers (their
// results do not matter here, their argument types do).
var grafanaFuncs = template.FuncMap{
	"humanize":           func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) },
	"humanize1024":       func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) },
	"humanizeDuration":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "s" },
	"humanizePercentage": func(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" },
	"humanizeTimestamp":  func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"title":              strings.ToTitle,
	"toUpper":            strings.ToUpper,
	"toLower":            strings.ToLower,
	"match":              regexp.MatchString,
	"reReplaceAll": func(pattern, repl, text string) string {
		return regexp.MustCompile(pattern).ReplaceAllString(text, repl)
	},
}

// TestGrafanaAnnotationsExpand runs every Grafana annotation as Grafana
// does (its $labels, $values and $value, only its functions) on an alert
// like the Prometheus unit tests': no error, nothing left unexpanded, and
// the same text where Prometheus needs no query.
func TestGrafanaAnnotationsExpand(t *testing.T) {
	labels := map[string]string{
		"job": "smtp", "module": "smtp_starttls", "instance": "mx1.example.com:25",
		"reason": "connect_timeout", "version": "TLS 1.0", "severity": "critical",
		// A mail domain's pair (the domain alerts).
		"mx": "mx1.example.com", "address": "192.0.2.1",
		// The labels the posture and certificate-fact alerts quote.
		"cipher": "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "algorithm": "SHA1-RSA",
		// A vantage point, and the exporter's egress series.
		"location": "outside", "port": "25", "family": "ip4",
		// The policy a domain lost (SMTPDomainPolicyDowngraded).
		"policy": "mta_sts",
	}
	type value struct {
		Labels map[string]string
		Value  float64
	}
	data := map[string]any{
		"Labels": labels,
		"Values": map[string]value{"A": {labels, 554}, "B": {labels, 554}, "C": {labels, 1}, "D": {labels, 1}},
		"Value":  "[ var='B' labels={...} value=554 ]",
	}
	for _, g := range grafanaRules(t) {
		for k, text := range g.Annotations {
			if fs, err := alertgen.UnsupportedFunctions(text); err != nil || len(fs) > 0 {
				t.Errorf("%s: %s uses %v, which Grafana lacks (%v)", g.Title, k, fs, err)
			}
			tmpl, err := template.New(k).Funcs(grafanaFuncs).Option("missingkey=error").
				Parse("{{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}}" + text)
			if err != nil {
				t.Errorf("%s: %s does not parse for Grafana: %v", g.Title, k, err)
				continue
			}
			var out strings.Builder
			if err := tmpl.Execute(&out, data); err != nil {
				t.Errorf("%s: %s does not expand: %v", g.Title, k, err)
				continue
			}
			if s := out.String(); strings.Contains(s, "{{") || strings.Contains(s, "<no value>") || strings.Contains(s, "[ var=") {
				t.Errorf("%s: %s expands to %q", g.Title, k, s)
			}
		}
	}
}

// TestGrafanaTemplateRewrite pins the rewriting of Prometheus templates.
func TestGrafanaTemplateRewrite(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{{ $labels.instance }} is down`, `{{$labels.instance}} is down`},
		{`in {{ $value | printf "%.0f" }} days`, `in {{$values.B.Value | printf "%.0f"}} days`},
		{`{{ if lt $value 500.0 }}4xx{{ else }}5xx{{ end }}`, `{{if lt $values.B.Value 500.0}}4xx{{else}}5xx{{end}}`},
		{`on {{ range printf "x{i=%q}" $labels.instance | query }}{{ .Value | humanizeTimestamp }}{{ end }}.`, `on … (see dashboard_url).`},
		{`{{ with query "up" }}{{ . | first | value }}{{ else }}none{{ end }}`, `… (see dashboard_url)`},
	}
	for _, tc := range tests {
		got, err := alertgen.GrafanaTemplate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("GrafanaTemplate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := alertgen.GrafanaTemplate(`{{ $nope }}`); err == nil {
		t.Error("an undefined variable was accepted")
	}
}

// TestDashboardURL: every alert on a target links to a panel of the
// dashboards (by uid), with the alert's job, module and target as the
// dashboard's variables; the panel shows a metric the alert reads. An
// alert on the exporter links to a dashboard.
func TestDashboardURL(t *testing.T) {
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[string]dashboards.Dashboard{}
	for _, d := range ds {
		byUID[d.UID] = d
	}
	path := regexp.MustCompile(`^/d/([a-z0-9-]+)/[a-z0-9-]+$`)
	for _, r := range alertRules(t) {
		raw := r.Annotations["dashboard_url"]
		rest, ok := strings.CutPrefix(raw, dashboardBase)
		if !ok {
			t.Errorf("%s: dashboard_url %q does not start with %s (the sed of docs/alerting.md replaces it)", r.Alert, raw, dashboardBase)
			continue
		}
		u, err := url.Parse(rest)
		if err != nil {
			t.Errorf("%s: dashboard_url %q: %v", r.Alert, raw, err)
			continue
		}
		m := path.FindStringSubmatch(u.Path)
		if m == nil {
			t.Errorf("%s: dashboard_url path %q, want /d/UID/SLUG", r.Alert, u.Path)
			continue
		}
		d, ok := byUID[m[1]]
		if !ok {
			t.Errorf("%s: dashboard_url names dashboard %s, which does not exist", r.Alert, m[1])
			continue
		}
		q := u.Query()
		// An alert on the exporter itself (it reads no probe metric) has no
		// target to select: it opens a whole dashboard.
		if !slices.ContainsFunc(promnames.InQuery(r.Expr), func(n string) bool { return slices.Contains(promnames.Probe(), n) }) {
			if len(q) > 0 {
				t.Errorf("%s: an alert on the exporter, its dashboard_url selects %v", r.Alert, q)
			}
			continue
		}
		if r.perJob() {
			// No target to select: the job's targets, on a whole dashboard.
			if want := (url.Values{"var-job": {"{{ $labels.job }}"}}); !maps.EqualFunc(q, want, slices.Equal) {
				t.Errorf("%s: an alert per job, its dashboard_url selects %v, want %v", r.Alert, q, want)
			}
			continue
		}
		for _, v := range []string{"job", "module", "instance"} {
			if got, want := q.Get("var-"+v), "{{ $labels."+v+" }}"; got != want {
				t.Errorf("%s: dashboard_url var-%s=%q, want %q", r.Alert, v, got, want)
			}
		}
		id, err := strconv.Atoi(q.Get("viewPanel"))
		if err != nil {
			t.Errorf("%s: dashboard_url viewPanel %q is not a panel id", r.Alert, q.Get("viewPanel"))
			continue
		}
		var panel *dashboards.Panel
		for _, p := range d.AllPanels() {
			if p.ID == id {
				panel = &p
			}
		}
		if panel == nil {
			t.Errorf("%s: dashboard %s has no panel %d", r.Alert, d.UID, id)
			continue
		}
		// A scrape failure (an alert on `up`) shows as gaps in the probe
		// panels; `up` itself is on no dashboard.
		want := promnames.InQuery(r.Expr)
		if slices.Contains(want, "up") {
			continue
		}
		shown := false
		for _, tg := range panel.Targets {
			for _, n := range promnames.InQuery(tg.Expr) {
				shown = shown || slices.Contains(want, n)
			}
		}
		if len(want) > 0 && !shown {
			t.Errorf("%s: dashboard_url opens panel %q of %s, which shows none of %v", r.Alert, panel.Title, d.UID, want)
		}
	}
}

// TestDocGrafanaCommands keeps the commands of docs/alerting.md for the
// Grafana rules and dashboard_url in step with the files.
func TestDocGrafanaCommands(t *testing.T) {
	doc := string(readFile(t, "../docs/alerting.md"))
	for _, want := range []string{
		"sed -i 's|" + dashboardBase + "/d/|",
		"make generate",
		alertgen.ProvisioningFile,
		apiFile,
		"/api/v1/provisioning/folder/" + alertgen.Defaults.FolderUID + "/rule-groups/smtp_exporter",
		"&datasource " + alertgen.Defaults.DatasourceUID,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/alerting.md does not say %q", want)
		}
	}
	if mk := string(readFile(t, "../Makefile")); !strings.Contains(mk, "generate ./dashboards ./alerts") {
		t.Error("Makefile: the generate target docs/alerting.md names does not run go generate ./dashboards ./alerts")
	}
}
