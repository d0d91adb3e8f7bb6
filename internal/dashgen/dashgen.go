// Package dashgen builds the Grafana dashboards of dashboards/*.json in Go,
// with the Grafana foundation SDK's builders; `go generate ./dashboards`
// writes them (dashboards/gen calls Write).
//
// To add a panel, add it to the function of its dashboard (overview.go,
// certificates.go, latency.go, target.go) where it should appear: panels
// flow left to right, 24 columns to a row, in the order they are added, and
// take their ids in that order (alerts link to panels by id: add new panels
// after the ones alerts name, or fix the dashboard_url of those alerts; the
// alerts tests say which). Use the helpers of this file: sel() for the
// variables' selectors, instant/rangeQuery/tableQuery for queries,
// reasonMapping for failure reasons in words (the reasons package says them), expiryThresholds for days to
// expiry. To group panels under a title, add WithRow(row("DANE")) and then
// the row's panels with WithPanel. To add a dashboard, write a function
// returning its builder from newDashboard and add it to All with its file
// name. Then run `go generate ./dashboards` (or `make generate`) and commit
// the JSON; the dashboards tests check every query against the exporter's
// metrics and, in integration/, that it returns data on the test bed.
package dashgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// Spec is one dashboard: its file name under dashboards/ and its builder.
type Spec struct {
	File  string
	Build func() *dashboard.DashboardBuilder
}

// All lists every dashboard, in the order of docs/alerting.md.
func All() []Spec {
	return []Spec{
		{"smtp-overview.json", overview},
		{"smtp-certificates.json", certificates},
		{"smtp-latency.json", latency},
		{"smtp-target.json", target},
		{"smtp-domains.json", domains},
	}
}

// UIDs of the dashboards: links between them, the alerts' dashboard_url
// and users' bookmarks depend on them.
const (
	UIDOverview     = "smtp-exporter-overview"
	UIDCertificates = "smtp-exporter-certificates"
	UIDLatency      = "smtp-exporter-latency"
	UIDTarget       = "smtp-exporter-target"
)

// Render builds every dashboard and returns its JSON by file name, as
// `go generate` writes it.
func Render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, s := range All() {
		b, err := render(s.Build())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, err)
		}
		out[s.File] = b
	}
	return out, nil
}

// render builds one dashboard and returns its JSON.
func render(b *dashboard.DashboardBuilder) ([]byte, error) {
	d, err := b.Build()
	if err != nil {
		return nil, err
	}
	numberPanels(&d)
	// The SDK puts links and annotation toggles into the controls menu
	// (newer Grafana); they stay above the panels, where every Grafana
	// shows them.
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	// The data source list is read when the dashboard loads.
	for i, v := range d.Templating.List {
		if v.Type == dashboard.VariableTypeDatasource {
			d.Templating.List[i].Refresh = new(dashboard.VariableRefreshOnDashboardLoad)
		}
	}
	for i := range d.Annotations.List {
		d.Annotations.List[i].Placement = nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	// Keep <, > and & readable in PromQL and markdown.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes every dashboard into dir.
func Write(dir string) error {
	files, err := Render()
	if err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil { //nolint:gosec // dashboards are meant to be world-readable
			return err
		}
	}
	return nil
}

// numberPanels gives the panels ids 1, 2, ... in the order they were added,
// rows and the panels in them included.
func numberPanels(d *dashboard.Dashboard) {
	id := uint32(0)
	for i := range d.Panels {
		switch p := d.Panels[i]; {
		case p.Panel != nil:
			id++
			v := id
			p.Panel.Id = &v
		case p.RowPanel != nil:
			id++
			v := id
			p.RowPanel.Id = v
			for j := range p.RowPanel.Panels {
				id++
				w := id
				p.RowPanel.Panels[j].Id = &w
			}
		}
	}
}

// dsVar is the data source variable every query goes through: no data
// source UID is hard-coded, so the dashboards import into any Grafana.
const dsVar = "${datasource}"

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: new("prometheus"), Uid: new(dsVar)}
}

// sel is the label selector of every panel query: the dashboard's job,
// module and target selection, plus extra matchers.
func sel(extra ...string) string {
	return strings.Join(append([]string{`job=~"$job", module=~"$module", instance=~"$instance"`}, extra...), ", ")
}

// instant is a query for the value now (stats, bar gauges).
func instant(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId("A").Expr(expr).Datasource(datasource()).Instant()
}

// tableQuery is an instant query as a table, one row per series.
func tableQuery(refID, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(refID).Expr(expr).Datasource(datasource()).Instant().
		Format(prometheus.PromQueryFormatTable)
}

// rangeQuery is a query over the time range (time series, state timelines).
func rangeQuery(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(refID).Expr(expr).Datasource(datasource()).Range().LegendFormat(legend)
}

// newDashboard starts a dashboard with what all of them share: the tags the
// links menu lists, the data source, job, module and target variables
// (target single-select when single), the built-in annotations, refresh
// and time range.
func newDashboard(uid, title, description string, single bool) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"smtp", "smtp_exporter"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone("").
		Version(1).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("Annotations & Alerts").
			BuiltIn(1).
			Datasource(dashboard.DataSourceRef{Type: new("grafana"), Uid: new("-- Grafana --")}).
			Enable(true).
			Hide(true).
			IconColor("rgba(0, 211, 255, 1)").
			Type("dashboard")).
		Link(dashboard.NewDashboardLinkBuilder("SMTP dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"smtp_exporter"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true).
			Icon("external link").
			TargetBlank(false).
			Tooltip("").
			Url("")).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus").
			Regex("")).
		WithVariable(queryVariable("job", "Job", "label_values(probe_success, job)", ".+", true)).
		WithVariable(queryVariable("module", "Module", `label_values(probe_success{job=~"$job"}, module)`, ".*", true)).
		WithVariable(queryVariable("instance", "Target", `label_values(probe_success{job=~"$job", module=~"$module"}, instance)`, ".+", !single))
}

// TestValues of dashboards/ put in for "All" must match these allValues.
func queryVariable(name, label, query, allValue string, multi bool) *dashboard.QueryVariableBuilder {
	v := dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: new(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(multi).
		IncludeAll(multi).
		Regex("")
	if multi {
		// "All" is a regex: every job and target; module may be empty
		// (the port chose it), hence .* there.
		v.AllValue(allValue)
	}
	return v
}

// Thresholds of the days-to-expiry panels: the alerts' 21-day warning and
// 7-day page.
const (
	ExpiryWarningDays  = 21
	ExpiryCriticalDays = 7
)

func expiryThresholds() *dashboard.ThresholdsConfigBuilder {
	return steps(step("red", nil), step("orange", new(float64(ExpiryCriticalDays))), step("green", new(float64(ExpiryWarningDays))))
}

// thresholds builds absolute thresholds: base color, then (value, color)
// steps.
func thresholds(base string, more ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{step(base, nil)}
	for i := 0; i+1 < len(more); i += 2 {
		v := toFloat(more[i])
		s = append(s, step(more[i+1].(string), &v))
	}
	return steps(s...)
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	panic(fmt.Sprintf("threshold value %v (%T)", v, v))
}

func step(color string, v *float64) dashboard.Threshold {
	return dashboard.Threshold{Color: color, Value: v}
}

func steps(s ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}
