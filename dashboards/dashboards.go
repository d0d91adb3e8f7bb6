// Package dashboards holds the Grafana dashboards (*.json, importable as
// they are) and reads the PromQL out of them, so that the dashboard tests
// here and the end-to-end test in integration/ check every query. The JSON
// is generated: internal/dashgen builds the dashboards in Go with Grafana's
// foundation SDK, and `go generate ./dashboards` writes them here.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

//go:embed *.json
var files embed.FS

// Dashboard is the part of a Grafana dashboard the tests read.
type Dashboard struct {
	File    string   `json:"-"`
	UID     string   `json:"uid"`
	Title   string   `json:"title"`
	Refresh string   `json:"refresh"`
	Tags    []string `json:"tags"`
	Time    struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a template variable.
type Variable struct {
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	Query      any         `json:"query"`
	Datasource *Datasource `json:"datasource"`
	Multi      bool        `json:"multi"`
	IncludeAll bool        `json:"includeAll"`
	AllValue   string      `json:"allValue"`
}

// Datasource is a panel's, target's or variable's data source reference.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a panel, or a row holding panels.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	GridPos    GridPos     `json:"gridPos"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
	Panels     []Panel     `json:"panels"`
	// Transformations and field overrides, for tables.
	Transformations []struct {
		ID      string         `json:"id"`
		Options map[string]any `json:"options"`
	} `json:"transformations"`
	FieldConfig struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options any    `json:"options"`
			} `json:"matcher"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

// GridPos is where a panel sits on Grafana's 24-column grid.
type GridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Instant    bool        `json:"instant"`
	Datasource *Datasource `json:"datasource"`
}

// Query is a PromQL expression of a dashboard and where it comes from.
type Query struct {
	Where string
	Expr  string
	// Variable is set for a template variable's query (a label_values()
	// selector), which holds one series per option, not panel data.
	Variable bool
}

// Files returns the dashboards' file names and contents.
func Files() (map[string][]byte, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, nil
}

// Load decodes every dashboard.
func Load() ([]Dashboard, error) {
	fs, err := Files()
	if err != nil {
		return nil, err
	}
	var ds []Dashboard
	for name, b := range fs {
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		d.File = name
		ds = append(ds, d)
	}
	return ds, nil
}

// AllPanels returns the panels, with those nested in rows.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// Queries returns every PromQL expression of the dashboard as written
// (variables not substituted): panel targets and the selectors of query
// variables.
func (d *Dashboard) Queries() ([]Query, error) {
	var qs []Query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
		if m == nil {
			return nil, fmt.Errorf("%s: variable %s: query %q is not label_values(selector, label)", d.File, v.Name, q)
		}
		if m[1] != "" {
			qs = append(qs, Query{Where: fmt.Sprintf("%s variable %s", d.File, v.Name), Expr: m[1], Variable: true})
		}
	}
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			qs = append(qs, Query{Where: fmt.Sprintf("%s panel %d %q query %s", d.File, p.ID, p.Title, t.RefID), Expr: t.Expr})
		}
	}
	return qs, nil
}

// TestValues are what the tests put in for the template variables: every
// job, module and target, and Grafana's built-in intervals.
var TestValues = map[string]string{
	"job": ".+", "module": ".*", "instance": ".+",
	"__range": "1h", "__rate_interval": "1m", "__interval": "1m",
}

var variableRef = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)`)

// Substitute replaces $name and ${name} with values[name], as Grafana does
// before sending a query. label_replace's "$1" is left alone; an unknown
// variable is an error.
func Substitute(expr string, values map[string]string) (string, error) {
	var missing []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown variables %v in %q", missing, expr)
	}
	return out, nil
}
