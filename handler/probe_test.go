package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/promlint"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

const testConfig = `
modules:
  smtp: {port: 25, tls: opportunistic, timeout: 10s}
  submission: {port: 587, tls: starttls, timeout: 10s}
  noport: {tls: none, timeout: 3s}
port_modules: {25: smtp, 587: submission}
`

const moduleList = "(modules: noport, smtp, submission)"

// fakeProber records what the handler asked for and returns a canned result.
type fakeProber struct {
	mu       sync.Mutex
	calls    int
	target   string
	module   string
	deadline time.Time
	result   func(module string) *prober.Result
	// during runs inside the probe, to look at the exporter while it probes.
	during func()
}

func (f *fakeProber) probe(ctx context.Context, target prober.Target, moduleName string, _ *config.Module, _ *slog.Logger, _ prober.Options) *prober.Result {
	f.mu.Lock()
	f.calls++
	f.target, f.module = target.String(), moduleName
	f.deadline, _ = ctx.Deadline()
	f.mu.Unlock()
	if f.during != nil {
		f.during()
	}
	if f.result != nil {
		return f.result(moduleName)
	}
	return okResult(moduleName)
}

func okResult(module string) *prober.Result {
	r := &prober.Result{Module: module, Success: true, Duration: 200 * time.Millisecond}
	for _, p := range prober.Phases {
		r.Phases = append(r.Phases, prober.PhaseResult{Phase: p})
	}
	return r
}

func failedResult(module string) *prober.Result {
	r := okResult(module)
	r.Success, r.Failure, r.Duration = false, prober.ReasonConnectRefused, 3*time.Second
	return r
}

func loadConfig(t *testing.T, doc string) *config.SafeConfig {
	t.Helper()
	sc := config.NewSafeConfig("", []byte(doc), nil)
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	return sc
}

// newProbe returns the /probe handler over doc with a fake prober (nil: the
// real one), and the registry of its exporter metrics.
func newProbe(t *testing.T, doc string, fake *fakeProber) (*ProbeHandler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	h := &ProbeHandler{
		Config:        loadConfig(t, doc),
		Logger:        slog.New(slog.DiscardHandler),
		Metrics:       NewMetrics(reg),
		TimeoutOffset: 500 * time.Millisecond,
	}
	if fake != nil {
		h.Prober = fake.probe
	}
	return h, reg
}

func serve(h http.Handler, method, query string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/probe?"+query, nil)
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestProbeBadRequests(t *testing.T) {
	long := strings.Repeat("a", 1000)
	cases := []struct {
		name   string
		query  string
		header string // X-Prometheus-Scrape-Timeout-Seconds
		want   string
	}{
		{"no target", "", "", "target parameter is missing: use /probe?target=host:port, for example /probe?target=mx.example.com:25"},
		{"empty target", "target=", "", "target parameter is missing: use /probe?target=host:port, for example /probe?target=mx.example.com:25"},
		{"only a module", "module=smtp", "", "target parameter is missing: use /probe?target=host:port, for example /probe?target=mx.example.com:25"},
		{"URL", "target=smtp://mx.example.com:25", "", `target "smtp://mx.example.com:25" looks like a URL; give host:port, for example mx.example.com:25`},
		{"port too big", "target=mx.example.com:99999", "", `target "mx.example.com:99999": port "99999" is not a number from 1 to 65535`},
		{"port zero", "target=mx.example.com:0", "", `target "mx.example.com:0": port "0" is not a number from 1 to 65535`},
		{"port not a number", "target=mx.example.com:smtp", "", `target "mx.example.com:smtp": port "smtp" is not a number from 1 to 65535`},
		{"empty port", "target=mx.example.com:", "", `target "mx.example.com:": port "" is not a number from 1 to 65535`},
		{"space", "target=mx%20example.com:25", "", `target "mx example.com:25" has a character ' ' that cannot be in host:port`},
		{"path", "target=mx.example.com:25/x", "", `target "mx.example.com:25/x" has a character '/' that cannot be in host:port`},
		{"bad host name", "target=mx..example.com:25", "", `target "mx..example.com:25": "mx..example.com" is not a valid host name`},
		{"no host", "target=:25", "", `target ":25" has no host`},
		{"unbracketed IPv6 with port", "target=2001:db8::1:25:x", "", `target "2001:db8::1:25:x": put an IPv6 address in brackets, like [2001:db8::1]:25`},
		{"unclosed bracket", "target=[2001:db8::1:25", "", `target "[2001:db8::1:25" has an unclosed [`},
		{"too long", "target=" + long + ":25", "", "target is longer than 270 characters"},
		{"unknown module", "target=mx.example.com:25&module=nope", "", `unknown module "nope" ` + moduleList},
		{"long unknown module", "target=mx.example.com:25&module=" + long, "", `unknown module "` + strings.Repeat("a", 128) + `…" ` + moduleList},
		{"control characters in module", "target=mx.example.com:25&module=%1b%5b31m", "", `unknown module "�[31m" ` + moduleList},
		{"bad debug", "target=mx.example.com:25&debug=maybe", "", `debug parameter "maybe" is not true or false`},
		{"long debug", "target=mx.example.com:25&debug=" + long, "", `debug parameter "` + strings.Repeat("a", 128) + `…" is not true or false`},
		{"unknown parameter", "target=mx.example.com:25&timeout=5", "", `unknown parameter "timeout": /probe takes target, module and debug`},
		{"target twice", "target=a.example:25&target=b.example:25", "", `parameter "target" is given 2 times; give it once`},
		{"module twice", "target=a.example:25&module=smtp&module=smtp", "", `parameter "module" is given 2 times; give it once`},
		{"debug twice", "target=a.example:25&debug=true&debug=false", "", `parameter "debug" is given 2 times; give it once`},
		{"no port, no module", "target=mx.example.com", "", `target "mx.example.com" has no port and no module is given: add :PORT or module=NAME ` + moduleList},
		{"port without a module", "target=mx.example.com:2626", "", `no module is configured for port 2626: add module=NAME ` + moduleList},
		{"no port in target or module", "target=mx.example.com&module=noport", "", `target "mx.example.com" has no port and module "noport" sets none: add :PORT`},
		{"scrape timeout not a number", "target=mx.example.com:25", "soon", `X-Prometheus-Scrape-Timeout-Seconds header "soon" is not a number`},
		{"scrape timeout NaN", "target=mx.example.com:25", "NaN", `X-Prometheus-Scrape-Timeout-Seconds header "NaN" is not a number`},
	}
	fake := &fakeProber{}
	h, reg := newProbe(t, testConfig, fake)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{}
			if tc.header != "" {
				header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
			}
			rec := serve(h, http.MethodGet, tc.query, header)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", rec.Code)
			}
			if got := rec.Body.String(); got != tc.want+"\n" {
				t.Errorf("body:\n got: %q\nwant: %q", got, tc.want+"\n")
			}
		})
	}
	if fake.calls != 0 {
		t.Errorf("the prober ran %d times for bad requests", fake.calls)
	}
	if n := seriesCount(t, reg, "smtp_exporter_probes_total"); n != 0 {
		t.Errorf("bad requests were counted as probes: %d series", n)
	}
}

func TestProbeMethod(t *testing.T) {
	fake := &fakeProber{}
	h, _ := newProbe(t, testConfig, fake)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := serve(h, method, "target=mx.example.com:25", nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" || rec.Body.String() != "/probe answers GET and HEAD only\n" {
			t.Errorf("%s: %d, Allow %q, body %q", method, rec.Code, rec.Header().Get("Allow"), rec.Body.String())
		}
	}
	if fake.calls != 0 {
		t.Errorf("the prober ran %d times", fake.calls)
	}
}

func TestProbeModuleSelection(t *testing.T) {
	cases := []struct {
		query      string
		wantTarget string
		wantModule string
	}{
		{"target=mx.example.com:25", "mx.example.com:25", "smtp"},
		{"target=mx.example.com:587", "mx.example.com:587", "submission"},
		{"target=mx.example.com:25&module=submission", "mx.example.com:25", "submission"},
		{"target=mx.example.com:2626&module=noport", "mx.example.com:2626", "noport"},
		// The module's port is dialed when the target has none.
		{"target=mx.example.com&module=submission", "mx.example.com:587", "submission"},
		{"target=%5B2001:db8::25%5D:25", "[2001:db8::25]:25", "smtp"},
		{"target=2001:db8::25&module=smtp", "[2001:db8::25]:25", "smtp"},
		{"target=MX.Example.COM.:25&module=", "MX.Example.COM.:25", "smtp"},
		{"target=mx.example.com:25&debug=false", "mx.example.com:25", "smtp"},
	}
	for _, tc := range cases {
		fake := &fakeProber{}
		h, _ := newProbe(t, testConfig, fake)
		rec := serve(h, http.MethodGet, tc.query, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", tc.query, rec.Code, rec.Body)
			continue
		}
		if fake.target != tc.wantTarget || fake.module != tc.wantModule {
			t.Errorf("%s: probed %q with module %q, want %q with %q", tc.query, fake.target, fake.module, tc.wantTarget, tc.wantModule)
		}
	}
}

// The timeout reaches the prober as its context's deadline.
func TestProbeDeadline(t *testing.T) {
	cases := []struct {
		query, header string
		want          time.Duration
	}{
		{"target=mx.example.com:25", "", 10 * time.Second},
		{"target=mx.example.com:25", "3", 2500 * time.Millisecond},
		{"target=mx.example.com:2626&module=noport", "60", 3 * time.Second},
	}
	for _, tc := range cases {
		fake := &fakeProber{}
		h, _ := newProbe(t, testConfig, fake)
		header := http.Header{}
		if tc.header != "" {
			header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		before := time.Now()
		rec := serve(h, http.MethodGet, tc.query, header)
		after := time.Now()
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.query, rec.Code, rec.Body)
		}
		// The deadline was set between before and after, tc.want ahead.
		if fake.deadline.Before(before.Add(tc.want)) || fake.deadline.After(after.Add(tc.want)) {
			t.Errorf("%s with header %q: deadline %s after the request, want %s",
				tc.query, tc.header, fake.deadline.Sub(before), tc.want)
		}
	}
}

func TestProbeMetricsOutput(t *testing.T) {
	fake := &fakeProber{result: failedResult}
	h, _ := newProbe(t, testConfig, fake)
	rec := serve(h, http.MethodGet, "target=mx.example.com:25", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	mfs := parseText(t, rec.Body.String())
	for name, want := range map[string]float64{
		"probe_success": 0,
		`probe_smtp_failure{reason="connect_refused"}`:        1,
		`probe_smtp_failure{reason="banner_rejected"}`:        0,
		"probe_duration_seconds":                              3,
		`probe_smtp_phase_duration_seconds{phase="ehlo_tls"}`: 0,
	} {
		if got, ok := mfs[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if strings.Contains(rec.Body.String(), "Transcript") {
		t.Error("the debug report is in the metrics output")
	}
}

// debug=true runs a real probe against a fake server with STARTTLS and
// AUTH: the report has the transcript with AUTH redacted, the timings and
// the metrics, and nowhere the password or its base64 forms.
func TestProbeDebug(t *testing.T) {
	const user, password = "monitor@example.test", "Debug-Pass-Word-93"
	ca := smtptest.NewCA(t)
	serverTLS := smtptest.ServerTLS(ca.Issue(t, smtptest.LocalhostLeaf()))
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		password,
		base64.StdEncoding.EncodeToString([]byte(password)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password)),
		base64.StdEncoding.EncodeToString([]byte(user)),
	}
	cases := []struct {
		name       string
		mechanism  string
		serverPass string
		wantLines  []string
	}{
		{"PLAIN accepted", "PLAIN", password, []string{"C: AUTH PLAIN <redacted>", "S: 235 ", "probe_smtp_auth_success 1", "probe_success 1"}},
		{"LOGIN accepted", "LOGIN", password, []string{"C: AUTH LOGIN", "C: <redacted>", "S: 235 ", "probe_smtp_auth_success 1", "probe_success 1"}},
		{"PLAIN refused", "PLAIN", "another password", []string{"C: AUTH PLAIN <redacted>", "S: 535 ", "FAILED (auth_failed)", "probe_smtp_auth_success 0", `probe_smtp_failure{reason="auth_failed"} 1`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServer(t, smtptest.Config{
				StartTLS:       serverTLS,
				AuthMechanisms: []string{tc.mechanism},
				Users:          map[string]string{user: tc.serverPass},
			})
			doc := fmt.Sprintf(`
modules:
  submission:
    tls: starttls
    timeout: 5s
    tls_config: {ca_file: %q, server_name: localhost}
    auth: {username: %q, password_file: %q}
`, ca.File, user, pwFile)
			h, _ := newProbe(t, doc, nil)
			rec := serve(h, http.MethodGet, "module=submission&debug=true&target="+srv.Addr, nil)
			body := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			// The credentials were really sent: the redaction is not an empty transcript.
			if seen := strings.Join(srv.Seen(), "\n"); !strings.Contains(seen, "AUTH "+tc.mechanism) {
				t.Fatalf("the server saw no AUTH:\n%s", seen)
			}
			want := append([]string{
				"Probe of " + srv.Addr + " with module submission",
				"Phases:", "tls_handshake", "certificate: verified",
				"Transcript:", "C: EHLO ", "C: STARTTLS", "C: QUIT",
				"Metrics that would have been returned:",
				"# TYPE probe_success gauge", `probe_smtp_reply_code{phase="auth"}`,
			}, tc.wantLines...)
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("debug output lacks %q", w)
				}
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("debug output shows a secret (%q)", s)
				}
			}
			if t.Failed() {
				t.Logf("debug output:\n%s", body)
			}
		})
	}
}

func TestExporterMetrics(t *testing.T) {
	fake := &fakeProber{result: func(module string) *prober.Result {
		if module == "submission" {
			return failedResult(module)
		}
		return okResult(module)
	}}
	h, reg := newProbe(t, testConfig, fake)
	// While a probe runs, it is in flight.
	fake.during = func() {
		if got := metricValue(t, reg, "smtp_exporter_probes_in_flight"); got != 1 {
			t.Errorf("probes in flight during a probe: %v, want 1", got)
		}
	}
	for _, q := range []string{"target=a.example:25", "target=b.example:25", "target=c.example:587", "target=d.example:25&module=noport"} {
		if rec := serve(h, http.MethodGet, q, nil); rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", q, rec.Code)
		}
	}
	serve(h, http.MethodGet, "target=bad%20target", nil) // a 400 is not a probe

	want := map[string]float64{
		"smtp_exporter_probes_in_flight":                                            0,
		`smtp_exporter_probes_total{module="smtp",result="success"}`:                2,
		`smtp_exporter_probes_total{module="submission",result="failure"}`:          1,
		`smtp_exporter_probes_total{module="noport",result="success"}`:              1,
		`smtp_exporter_probe_duration_seconds_count{module="smtp"}`:                 2,
		`smtp_exporter_probe_duration_seconds_sum{module="smtp"}`:                   0.4,
		`smtp_exporter_probe_duration_seconds_count{module="submission"}`:           1,
		`smtp_exporter_probe_duration_seconds_sum{module="submission"}`:             3,
		`smtp_exporter_probe_duration_seconds_bucket{module="submission",le="2.5"}`: 0,
		`smtp_exporter_probe_duration_seconds_bucket{module="submission",le="5"}`:   1,
	}
	text := gatherText(t, reg)
	got := parseText(t, text)
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
	for name := range got {
		if strings.HasPrefix(name, "smtp_exporter_probes_total{") && !strings.Contains(name, `result="success"`) && !strings.Contains(name, `result="failure"`) {
			t.Errorf("unexpected result label: %s", name)
		}
	}
	if fake.calls != 4 {
		t.Errorf("%d probes run, want 4", fake.calls)
	}
	checkHelp(t, reg)
	promtoolCheck(t, text)
}

// seriesCount counts the series of one family.
func seriesCount(t *testing.T, reg prometheus.Gatherer, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func metricValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	v, ok := parseText(t, gatherText(t, reg))[name]
	if !ok {
		t.Fatalf("%s is missing", name)
	}
	return v
}

func gatherText(t *testing.T, reg prometheus.Gatherer) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// parseText maps every sample line of an exposition (name{labels}) to its value.
func parseText(t *testing.T, text string) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndex(line, " ")
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// checkHelp requires help strings to be whole sentences.
func checkHelp(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		help := mf.GetHelp()
		if help == "" || help[0] < 'A' || help[0] > 'Z' || !strings.HasSuffix(help, ".") || len(strings.Fields(help)) < 3 {
			t.Errorf("%s: help %q is not a whole sentence", mf.GetName(), help)
		}
		if mf.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(mf.GetName(), "_total") {
			t.Errorf("counter %s lacks _total", mf.GetName())
		}
	}
}

// promtoolCheck lints an exposition with promtool check metrics.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	promtool := testtool.Need(t, "promtool", "promtool")
	out, err := promlint.Check(promtool, []byte(text))
	if err != nil || out != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
