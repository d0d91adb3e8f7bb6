package history

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/report"
)

// marker is where the exporter-toolkit landing page gets the dynamic part.
const marker = "<!-- smtp_exporter:dynamic -->"

// Pages serves the landing page (probe form and history table) and one page
// per kept probe, in the exporter-toolkit landing page's frame.
type Pages struct {
	history *History
	modules func() []string
	// landing and probe are the toolkit's pages split at marker.
	landing, probe [2][]byte
}

// NewPages builds the pages. modules returns the names of the loaded
// modules, asked on every request so that a reload shows at once. The
// landing config's Form is replaced by the probe form here.
func NewPages(h *History, modules func() []string, landing web.LandingConfig) (*Pages, error) {
	p := &Pages{history: h, modules: modules}
	landing.Form = web.LandingForm{}
	landing.ExtraCSS += css
	var err error
	if p.landing, err = frame(landing); err != nil {
		return nil, err
	}
	// A probe's page has the same header, without the landing page's links.
	if p.probe, err = frame(web.LandingConfig{
		Name: landing.Name, HeaderColor: landing.HeaderColor,
		ExtraCSS: landing.ExtraCSS, Profiling: "false",
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// frame renders a toolkit landing page and splits it where our content goes.
func frame(c web.LandingConfig) ([2][]byte, error) {
	c.ExtraHTML = marker
	page, err := web.NewLandingPage(c)
	if err != nil {
		return [2][]byte{}, err
	}
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	before, after, ok := bytes.Cut(rec.Body.Bytes(), []byte(marker))
	if !ok {
		return [2][]byte{}, fmt.Errorf("the landing page has no place for the probe history")
	}
	return [2][]byte{before, after}, nil
}

// Landing serves "/": the probe form and the history table.
func (p *Pages) Landing() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		data := landingData{Modules: p.modules(), Limit: p.history.Limit()}
		for _, e := range p.history.Recent() {
			data.Rows = append(data.Rows, newRow(e))
		}
		p.serve(w, p.landing, landingTemplate, data)
	})
}

// Probe serves "/history/{id}": one probe's full report; with
// ?format=json, its result as the probe command's JSON.
func (p *Pages) Probe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idStr := strings.TrimPrefix(r.URL.Path, "/history/")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil {
			http.Error(w, "a probe's page is /history/ID with a number from the landing page", http.StatusNotFound)
			return
		}
		e, ok := p.history.Get(id)
		if !ok {
			http.Error(w, fmt.Sprintf("probe %d is not in the history: only the last %d probes are kept, and only since the exporter started", id, p.history.Limit()), http.StatusNotFound)
			return
		}
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			// The JSON quotes server text unescaped; never let it be sniffed as HTML.
			w.Header().Set("X-Content-Type-Options", "nosniff")
			report.JSON(w, e.Result)
			return
		}
		var text strings.Builder
		report.Write(&text, e.Result, report.Options{Now: e.Result.Start})
		p.serve(w, p.probe, probeTemplate, probeData{Row: newRow(e), Report: text.String()})
	})
}

func (p *Pages) serve(w http.ResponseWriter, frame [2][]byte, t *template.Template, data any) {
	var body bytes.Buffer
	if err := t.Execute(&body, data); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(frame[0])
	w.Write(body.Bytes())
	w.Write(frame[1])
}

// row is one probe as the table shows it.
type row struct {
	ID       uint64
	Time     string
	Target   string
	Module   string
	Success  bool
	Reason   string
	Words    string
	Duration string
}

func newRow(e Entry) row {
	r := e.Result
	words, _ := report.Explain(r.Failure, r.Port)
	return row{
		ID:       e.ID,
		Time:     r.Start.UTC().Format("2006-01-02 15:04:05Z"),
		Target:   r.Target,
		Module:   r.Module,
		Success:  r.Success,
		Reason:   string(r.Failure),
		Words:    prober.Sanitize(words, 512),
		Duration: duration(r.Duration),
	}
}

// duration keeps a tenth of a millisecond, which loopback probes need.
func duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

type landingData struct {
	Modules []string
	Limit   int
	Rows    []row
}

type probeData struct {
	Row    row
	Report string
}

const css = `
form.probe label { display: inline-block; width: 5em; }
form.probe input[type=text], form.probe select { width: 20em; }
table.history { border-collapse: collapse; margin-top: .5rem; }
table.history th, table.history td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
table.history td.num { text-align: right; }
.success { color: #2e7d32; font-weight: bold; }
.failure { color: #c62828; font-weight: bold; }
pre.report { background: #f6f6f6; padding: 1rem; overflow-x: auto; }
`

var landingTemplate = template.Must(template.New("landing").Parse(`
<h2>Probe a target</h2>
<form class="probe" action="probe" method="get">
<label for="target">Target:</label> <input type="text" id="target" name="target" placeholder="mx.example.com:25" required><br>
<label for="module">Module:</label> <select id="module" name="module">
<option value="">chosen by the target's port</option>
{{- range .Modules}}
<option value="{{.}}">{{.}}</option>
{{- end}}
</select><br>
<label for="debug">Debug:</label> <input type="checkbox" id="debug" name="debug" value="true"> show the report and transcript instead of metrics<br>
<input type="submit" value="Probe">
</form>
<h2>Recent probes</h2>
{{- if eq .Limit 0}}
<p>The history is off (--history.limit=0).</p>
{{- else if not .Rows}}
<p>No probes yet. The last {{.Limit}} probes, from this form and from Prometheus, will show here.</p>
{{- else}}
<table class="history" id="history">
<thead><tr><th>Time (UTC)</th><th>Target</th><th>Module</th><th>Result</th><th>Reason</th><th>Duration</th><th></th></tr></thead>
<tbody>
{{- range .Rows}}
<tr>
<td>{{.Time}}</td><td>{{.Target}}</td><td>{{.Module}}</td>
{{- if .Success}}<td class="success">success</td><td></td>
{{- else}}<td class="failure">failure</td><td title="{{.Words}}">{{.Reason}}</td>{{end}}
<td class="num">{{.Duration}}</td><td><a href="history/{{.ID}}">transcript</a></td>
</tr>
{{- end}}
</tbody>
</table>
<p>The last {{.Limit}} probes are kept, in memory only.</p>
{{- end}}
`))

var probeTemplate = template.Must(template.New("probe").Parse(`
<p><a href="../">Back to the landing page</a> · <a href="?format=json">as JSON</a></p>
<h2>Probe {{.Row.ID}}: {{.Row.Target}} with module {{.Row.Module}},
{{if .Row.Success}}<span class="success">success</span>{{else}}<span class="failure">{{.Row.Reason}}</span>{{end}}</h2>
<pre class="report" id="report">{{.Report}}</pre>
`))
