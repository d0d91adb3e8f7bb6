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

// maxConcurrentRenders bounds the probe pages rendered at once: a domain
// probe's page is a report per pair, hundreds of kilobytes of text built
// in memory, and a page is free to ask for; beyond the bound /history/ID
// answers 503 at once rather than stack up renders.
const maxConcurrentRenders = 4

// pairReportsPerPage is how many pairs of a domain probe a page shows the
// reports and transcripts of (the table of every pair heads each page):
// a page of a domain of 64 pairs is then some tens of kilobytes, not
// megabytes.
const pairReportsPerPage = 8

// Pages serves the landing page (probe form and history table) and one page
// per kept probe, in the exporter-toolkit landing page's frame.
type Pages struct {
	// Warnings, when set, returns what the running config should tell
	// its operator (config.Config.Warnings), shown above the probe form.
	Warnings func() []string

	history *History
	modules func() []string
	// landing and probe are the toolkit's pages split at marker.
	landing, probe [2][]byte
	// renders holds a token per probe page being rendered.
	renders chan struct{}
}

// NewPages builds the pages. modules returns the names of the loaded
// modules, asked on every request so that a reload shows at once. The
// landing config's Form is replaced by the probe form here.
func NewPages(h *History, modules func() []string, landing web.LandingConfig) (*Pages, error) {
	p := &Pages{history: h, modules: modules, renders: make(chan struct{}, maxConcurrentRenders)}
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
		q := r.URL.Query()
		f := filter{Target: strings.TrimSpace(q.Get("target")), Module: q.Get("module"), Result: q.Get("result")}
		switch f.Result {
		case "", resultSuccess, resultWarnings, resultFailure:
		default:
			http.Error(w, fmt.Sprintf("result=%q: want success, warnings or failure (or nothing, for all)", f.Result), http.StatusBadRequest)
			return
		}
		data := landingData{Modules: p.modules(), Limit: p.history.Limit(), Filter: f}
		if p.Warnings != nil {
			data.Warnings = p.Warnings()
		}
		for _, e := range p.history.Recent() {
			data.Total++
			if row := newRow(e); f.match(row) {
				data.Rows = append(data.Rows, row)
			}
		}
		p.serve(w, p.landing, landingTemplate, data)
	})
}

// Report serves "/history/{id}": one probe's full report; with
// ?format=json, its result as the probe command's JSON.
func (p *Pages) Report() http.Handler {
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
		select {
		case p.renders <- struct{}{}:
			defer func() { <-p.renders }()
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("%d probe pages are being rendered; try again in a moment", maxConcurrentRenders), http.StatusServiceUnavailable)
			return
		}
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			// The JSON quotes server text unescaped; never let it be sniffed as HTML.
			w.Header().Set("X-Content-Type-Options", "nosniff")
			// A failed write means the client left: nobody to tell.
			_ = report.WriteJSON(w, e.Outcome)
			return
		}
		var text strings.Builder
		data := probeData{Row: newRow(e)}
		opts := report.Options{Now: e.Outcome.Summary().Start}
		if pairs := report.PairCount(e.Outcome); pairs > 0 {
			// A mail domain: its table, then the reports and transcripts
			// of one page of its pairs.
			page, err := pairPage(r.URL.Query().Get("pairs"), pairs)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			opts.FirstPair, opts.PairReports = page*pairReportsPerPage, pairReportsPerPage
			data.PairPages = pairPages(pairs, page)
		}
		report.Write(&text, e.Outcome, opts)
		data.Report = text.String()
		p.serve(w, p.probe, probeTemplate, data)
	})
}

func (p *Pages) serve(w http.ResponseWriter, frame [2][]byte, t *template.Template, data any) {
	var body bytes.Buffer
	if err := t.Execute(&body, data); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page := make([]byte, 0, len(frame[0])+body.Len()+len(frame[1]))
	page = append(append(append(page, frame[0]...), body.Bytes()...), frame[1]...)
	_, _ = w.Write(page) // a failed write means the client left: nobody to tell
}

// Results a row may have, and the history may be filtered by.
const (
	resultSuccess  = "success"
	resultWarnings = "warnings" // success, with warnings
	resultFailure  = "failure"
)

// filter narrows the history table: Target is a part of the target (any
// case), Module a module name, Result one of the results; empty matches all.
type filter struct {
	Target, Module, Result string
}

func (f filter) match(r row) bool {
	return (f.Target == "" || strings.Contains(strings.ToLower(r.Target), strings.ToLower(f.Target))) &&
		(f.Module == "" || r.Module == f.Module) &&
		(f.Result == "" || r.Result == f.Result)
}

// Active reports whether the filter hides anything.
func (f filter) Active() bool { return f != filter{} }

// row is one probe as the table shows it.
type row struct {
	ID       uint64
	Time     string
	Target   string
	Module   string
	Success  bool
	Result   string // success, warnings or failure
	Reason   string // the failure reason, or the warnings' reasons
	Words    string
	Duration string
}

func newRow(e Entry) row {
	s := e.Outcome.Summary()
	out := row{
		ID:       e.ID,
		Time:     s.Start.UTC().Format("2006-01-02 15:04:05Z"),
		Target:   s.Target,
		Module:   s.Module,
		Success:  s.Success,
		Result:   resultFailure,
		Reason:   s.Failure,
		Words:    prober.Sanitize(report.FailureWords(e.Outcome), 512),
		Duration: duration(s.Duration),
	}
	if s.Success {
		out.Result, out.Reason, out.Words = resultSuccess, "", ""
		if warns := report.Warnings(e.Outcome); len(warns) > 0 {
			out.Result = resultWarnings
			out.Reason = strings.Join(s.WarningReasons, " ")
			out.Words = prober.Sanitize(strings.Join(warns, "; "), 512)
		}
	}
	return out
}

// duration keeps a tenth of a millisecond, which loopback probes need.
func duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

type landingData struct {
	Warnings []string
	Modules  []string
	Limit    int
	Filter   filter
	Total    int // probes kept, shown or not
	Rows     []row
}

type probeData struct {
	Row    row
	Report string
	// PairPages link the pages of a domain's pair reports (none when one
	// page holds them all).
	PairPages []pairLink
}

// pairLink is a link to one page of a domain's pair reports.
type pairLink struct {
	Page     int
	Label    string // "pairs 9-16"
	Current  bool
	From, To int
}

// pairPage reads ?pairs=N, a page of a domain's pair reports (0: the first).
func pairPage(v string, pairs int) (int, error) {
	if v == "" {
		return 0, nil
	}
	pages := max(1, (pairs+pairReportsPerPage-1)/pairReportsPerPage)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n >= pages {
		return 0, fmt.Errorf("pairs=%q: want a page of the pair reports from 0 to %d", prober.Sanitize(v, 32), pages-1)
	}
	return n, nil
}

// pairPages are the links to every page of a domain's pair reports.
func pairPages(pairs, current int) []pairLink {
	if pairs <= pairReportsPerPage {
		return nil
	}
	var links []pairLink
	for from := 0; from < pairs; from += pairReportsPerPage {
		to := min(from+pairReportsPerPage, pairs)
		page := from / pairReportsPerPage
		links = append(links, pairLink{
			Page: page, Current: page == current, From: from + 1, To: to,
			Label: fmt.Sprintf("pairs %d-%d", from+1, to),
		})
	}
	return links
}

const css = `
form.probe label { display: inline-block; width: 5em; }
form.probe input[type=text], form.probe select { width: 20em; }
table.history { border-collapse: collapse; margin-top: .5rem; }
table.history th, table.history td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
table.history td.num { text-align: right; }
.success { color: #2e7d32; font-weight: bold; }
.failure { color: #c62828; font-weight: bold; }
.warnings { color: #b26a00; font-weight: bold; }
ul.config-warnings { border-left: 4px solid #b26a00; background: #fff8e1; padding: .5rem 1rem .5rem 2rem; }
form.filter { margin: .5rem 0; }
pre.report { background: #f6f6f6; padding: 1rem; overflow-x: auto; }
`

var landingTemplate = template.Must(template.New("landing").Funcs(template.FuncMap{
	"list": func(s ...string) []string { return s },
}).Parse(`
{{- if .Warnings}}
<h2>Configuration warnings</h2>
<ul class="config-warnings" id="config-warnings">
{{- range .Warnings}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
<h2>Probe an SMTP port or a mail domain</h2>
<p>A target is HOST:PORT (an SMTP port, its module chosen by the port), or a mail domain with a module that has an mx section (such as mx): every address of every MX host, DANE and MTA-STS.</p>
<form class="probe" action="probe" method="get">
<label for="target">Target:</label> <input type="text" id="target" name="target" placeholder="mx.example.com:25 or example.com" required><br>
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
{{- else if eq .Total 0}}
<p>No probes yet. The last {{.Limit}} probes, from this form and from Prometheus, will show here.</p>
{{- else}}
<form class="filter" id="filter" action="" method="get">
<label for="f-target">Target</label> <input type="text" id="f-target" name="target" value="{{.Filter.Target}}" placeholder="part of the target">
<label for="f-module">Module</label> <select id="f-module" name="module">
<option value="">all</option>
{{- range .Modules}}
<option value="{{.}}"{{if eq . $.Filter.Module}} selected{{end}}>{{.}}</option>
{{- end}}
</select>
<label for="f-result">Result</label> <select id="f-result" name="result">
<option value="">all</option>
{{- range $r := (list "success" "warnings" "failure")}}
<option value="{{$r}}"{{if eq $r $.Filter.Result}} selected{{end}}>{{$r}}</option>
{{- end}}
</select>
<input type="submit" value="Filter">{{if .Filter.Active}} <a href="./">show all</a>{{end}}
</form>
<p id="shown">{{len .Rows}} of {{.Total}} probes shown.</p>
{{- if .Rows}}
<table class="history" id="history">
<thead><tr><th>Time (UTC)</th><th>Target</th><th>Module</th><th>Result</th><th>Reason</th><th>Duration</th><th></th></tr></thead>
<tbody>
{{- range .Rows}}
<tr>
<td>{{.Time}}</td><td>{{.Target}}</td><td>{{.Module}}</td>
{{- with .Result}}<td class="{{.}}">{{.}}</td>{{end}}<td title="{{.Words}}">{{.Reason}}</td>
<td class="num">{{.Duration}}</td><td><a href="history/{{.ID}}">transcript</a></td>
</tr>
{{- end}}
</tbody>
</table>
{{- end}}
<p>The last {{.Limit}} probes are kept, in memory only.</p>
{{- end}}
`))

var probeTemplate = template.Must(template.New("probe").Parse(`
<p><a href="../">Back to the landing page</a> · <a href="?format=json">as JSON</a></p>
<h2>Probe {{.Row.ID}}: {{.Row.Target}} with module {{.Row.Module}},
{{if .Row.Success}}<span class="{{.Row.Result}}">{{.Row.Result}}</span>{{else}}<span class="failure">{{.Row.Reason}}</span>{{end}}</h2>
{{- if .PairPages}}
<p id="pair-pages">Reports of the pairs:{{range .PairPages}} {{if .Current}}<b>{{.Label}}</b>{{else}}<a href="?pairs={{.Page}}">{{.Label}}</a>{{end}}{{end}}</p>
{{- end}}
<pre class="report" id="report">{{.Report}}</pre>
`))
