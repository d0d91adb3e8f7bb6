package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/handler"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// inProcessExporter serves /probe and /metrics from this process, wired
// like main.go, so the driver's code runs without building the binary.
func inProcessExporter(t testing.TB, specs []moduleSpec) *exporter {
	t.Helper()
	sc := config.NewSafeConfig("", []byte(oursConfig(specs)), nil)
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/probe", &handler.Probe{
		Config:        sc,
		Logger:        slog.New(slog.DiscardHandler),
		Metrics:       handler.NewMetrics(reg),
		TimeoutOffset: 500 * time.Millisecond,
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/-/healthy", handler.Healthy)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &exporter{name: ours, base: srv.URL, pid: os.Getpid(), stop: func() {}}
}

// TestDriverSmoke runs every section of the driver for a handful of probes
// against an in-process exporter, so that CI keeps the driver working
// without paying for a real benchmark. It checks what the driver reports,
// not how fast anything was.
func TestDriverSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the bench driver's smoke test (every section, real probes)")
	}
	o := options{
		sections:       map[string]bool{"cost": true, "verdict": true, "scale": true, "hostile": true, "sustained": true, "domain": true},
		probes:         6,
		rounds:         2,
		costServers:    map[string]bool{"in-process": true},
		costKinds:      []kind{kindEHLO, kindStartTLS, kindImplicit, kindPosture},
		concurrency:    []int{2},
		verdictRuns:    1,
		verdictTimeout: time.Second,
		scaleProbes:    20,
		scaleTimeout:   2 * time.Second,
		hostileProbes:  5,
		sustainedKinds: []kind{kindStartTLS},
		sustainedStep:  500 * time.Millisecond,
		sustainedStart: 10,
		sustainedMax:   10,
		domainProbes:   3,
		log:            io.Discard,
	}
	ip := startInProcess(t)
	dom, err := startDomainBed(t)
	if err != nil {
		t.Fatal(err)
	}
	e := inProcessExporter(t, append(moduleSpecs(o, ip, nil), domainSpecs(dom)...))
	r := newReport(o)
	if err := runBench(context.Background(), o, []*exporter{e}, ip, nil, dom, r); err != nil {
		t.Fatal(err)
	}

	if len(r.Domain) != 1 {
		t.Fatalf("got %d domain rows, want 1", len(r.Domain))
	}
	if d := r.Domain[0]; d.Probes != 6 || d.Succeeded != 6 || d.SingleProbes != 24 || d.SingleSucceeded != 24 ||
		d.DomainCPUUS < 0 || d.SinglesCPUUS < 0 || d.DomainP50MS <= 0 || d.SlowestPairP50MS <= 0 || d.SumOfPairsP50MS < d.SlowestPairAloneP50MS {
		t.Errorf("domain: %+v, want 6 domain probes and 24 single ones, all successful, with plausible figures", d)
	}

	if len(r.Cost) != 4 {
		t.Fatalf("got %d cost rows, want 4 (ehlo, starttls, implicit, posture)", len(r.Cost))
	}
	for _, c := range r.Cost {
		s := c.Exporters[ours]
		if s == nil || s.Probes != 12 || s.Succeeded != 12 || len(s.Runs) != 2 {
			t.Errorf("cost %s: %+v, want 12 successful probes in 2 runs", c.Kind, s)
			continue
		}
		if s.AllocsPerProbe <= 0 || s.ProbesPerSecond <= 0 || s.CPUPerProbeUS < 0 || s.PeakRSSBytes <= 0 {
			t.Errorf("cost %s: implausible figures %+v", c.Kind, s)
		}
		if c.Ratio != nil {
			t.Errorf("cost %s: ratio without blackbox_exporter", c.Kind)
		}
	}

	if len(r.Verdict) != 8 {
		t.Errorf("got %d time-to-verdict rows, want 8", len(r.Verdict))
	}
	for _, v := range r.Verdict {
		s := v.Exporters[ours]
		if s == nil || s.Runs != 1 || s.Succeeded != 0 || !slices.Equal(s.Reasons, []string{v.WantReason}) {
			t.Errorf("verdict %q: got %+v, want one failed probe with reason %s", v.Failure, s, v.WantReason)
		}
	}

	if len(r.Scale) != 1 {
		t.Fatalf("got %d scale rows, want 1", len(r.Scale))
	}
	sc := r.Scale[0]
	if sc.HeldAtOnce != 20 || sc.Reasons["banner_timeout"] != 20 || sc.HTTPErrors != 0 {
		t.Errorf("scale: held %d, reasons %v, %d HTTP errors; want 20 held, 20 banner_timeout", sc.HeldAtOnce, sc.Reasons, sc.HTTPErrors)
	}
	if sc.InFlightGoroutines <= sc.BaselineGoroutines || sc.LeftBehind != 0 {
		t.Errorf("scale: goroutines %v idle, %v held, %v left behind", sc.BaselineGoroutines, sc.InFlightGoroutines, sc.LeftBehind)
	}

	if len(r.Hostile) != 1 {
		t.Fatalf("got %d hostile rows, want 1", len(r.Hostile))
	}
	if h := r.Hostile[0]; h.HeldAtOnce != 5 || h.Reasons["cert_hostname_mismatch"] != 5 || h.HTTPErrors != 0 || h.LeftBehind != 0 {
		t.Errorf("hostile: held %d, reasons %v, %d HTTP errors, %v goroutines left behind; want 5 held, 5 cert_hostname_mismatch",
			h.HeldAtOnce, h.Reasons, h.HTTPErrors, h.LeftBehind)
	}
	// A first probe came before the idle figures. (The heap and stack
	// split is not asserted: with 5 probes after the other sections, the
	// runtime may hold them in memory it had already.)
	if h := r.Hostile[0]; h.FreshRSSBytes <= 0 {
		t.Errorf("hostile: fresh RSS %d, want the RSS from before the first probe", h.FreshRSSBytes)
	}

	if len(r.Sustained) != 1 || len(r.Sustained[0].Steps) != 1 || r.Sustained[0].Steps[0].Failed != 0 {
		t.Errorf("sustained: %+v, want one step without failures", r.Sustained)
	}

	path := filepath.Join(t.TempDir(), "results", "r.json")
	if err := writeJSON(path, r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	for _, key := range []string{"machine", "settings", "cost", "time_to_verdict", "scale", "hostile", "sustained", "domain"} {
		if _, ok := back[key]; !ok {
			t.Errorf("JSON report has no %q", key)
		}
	}
	var out bytes.Buffer
	printTables(&out, r)
	for _, want := range []string{"Cost per probe", "Time to verdict", "Scale", "Hostile server", "Sustained rate", "Mail domain", "connect_refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--sections=cost,bogus"},
		{"--concurrency=8,zero"},
		{"--sustained.kinds=smtp"},
		{"--cost.kinds=ehlo,pop3"},
		{"--cost.servers=exim"},
		{"--no-such-flag"},
	} {
		var stderr bytes.Buffer
		if code := run(args, io.Discard, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (usage error); stderr: %s", args, code, stderr.String())
		}
	}
}

func TestModuleConfigs(t *testing.T) {
	ca := smtptest.NewCA(t).File
	specs := []moduleSpec{
		{name: "e", kind: kindEHLO, timeout: time.Second},
		{name: "s", kind: kindStartTLS, timeout: 2 * time.Second, caFile: ca, serverName: "mx.test"},
		{name: "i", kind: kindImplicit, timeout: 3 * time.Second, caFile: ca, serverName: "mx.test"},
		{name: "p", kind: kindPosture, timeout: 2 * time.Second, caFile: ca, serverName: "mx.test"},
	}
	cfg, err := config.Parse([]byte(oursConfig(specs)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		tls     config.TLSMode
		timeout time.Duration
	}{
		{"e", config.TLSNone, time.Second},
		{"s", config.TLSStartTLS, 2 * time.Second},
		{"i", config.TLSImplicit, 3 * time.Second},
		{"p", config.TLSStartTLS, 2 * time.Second},
	} {
		m := cfg.Modules[c.name]
		if m != nil && m.TLSPosture != (c.name == "p") {
			t.Errorf("module %s: tls_posture %v", c.name, m.TLSPosture)
		}
		if m == nil || m.TLS != c.tls || m.Timeout != c.timeout || m.EHLOHostname != ehloHostname {
			t.Errorf("module %s: %+v, want tls %s, timeout %s", c.name, m, c.tls, c.timeout)
		}
	}

	var bb struct {
		Modules map[string]struct {
			Prober  string        `yaml:"prober"`
			Timeout time.Duration `yaml:"timeout"`
			TCP     struct {
				TLS           bool `yaml:"tls"`
				QueryResponse []struct {
					Expect   string `yaml:"expect"`
					Send     string `yaml:"send"`
					StartTLS bool   `yaml:"starttls"`
				} `yaml:"query_response"`
			} `yaml:"tcp"`
		} `yaml:"modules"`
	}
	if err := yaml.Unmarshal([]byte(blackboxConfig(specs)), &bb); err != nil {
		t.Fatal(err)
	}
	steps := func(name string) string {
		var s []string
		for _, q := range bb.Modules[name].TCP.QueryResponse {
			step := q.Expect + q.Send
			if q.StartTLS {
				step += " +starttls"
			}
			s = append(s, step)
		}
		return strings.Join(s, " | ")
	}
	ehlo := "EHLO " + ehloHostname
	for name, want := range map[string]string{
		"e": "^220  | " + ehlo + " | ^250  | QUIT | ^221 ",
		"s": "^220  | " + ehlo + " | ^250[- ]STARTTLS | STARTTLS | ^220  +starttls | " + ehlo + " | ^250  | QUIT | ^221 ",
		"i": "^220  | " + ehlo + " | ^250  | QUIT | ^221 ",
		"p": "^220  | " + ehlo + " | ^250[- ]STARTTLS | STARTTLS | ^220  +starttls | " + ehlo + " | ^250  | QUIT | ^221 ",
	} {
		if got := steps(name); got != want {
			t.Errorf("blackbox module %s:\n got %s\nwant %s", name, got, want)
		}
	}
	if m := bb.Modules["i"]; !m.TCP.TLS || m.Prober != "tcp" || m.Timeout != 3*time.Second {
		t.Errorf("blackbox module i: %+v, want tcp prober with tls and a 3s timeout", m)
	}
	if bb.Modules["s"].TCP.TLS {
		t.Error("blackbox module s speaks TLS from the first byte")
	}
}

// BenchmarkProbeHandler is the whole /probe path in one process (HTTP
// server, handler, prober, collector, exposition) against the in-process
// servers, for pprof:
//
//	go test ./bench -run '^$' -bench ProbeHandler -cpuprofile cpu.out -memprofile mem.out
//
// Its allocations include the fake SMTP server's and the HTTP client's;
// the driver's figures, read from the exporter process, do not.
func BenchmarkProbeHandler(b *testing.B) {
	ip := startInProcess(b)
	o := options{verdictTimeout: time.Second, scaleTimeout: time.Second}
	e := inProcessExporter(b, moduleSpecs(o, ip, nil))
	client := newClient(1)
	for _, k := range []kind{kindEHLO, kindStartTLS, kindImplicit, kindPosture} {
		b.Run(string(k), func(b *testing.B) {
			url := e.probeURL(moduleName(ip.fast.server, k), ip.fast.addr[k])
			b.ReportAllocs()
			for b.Loop() {
				if out := probe(context.Background(), client, url); !out.ok {
					b.Fatalf("probe failed: %+v", out)
				}
			}
		})
	}
}
