package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
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
	mux.Handle("/probe", &handler.ProbeHandler{
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
				if out := scrape(context.Background(), client, url); !out.ok {
					b.Fatalf("probe failed: %+v", out)
				}
			}
		})
	}
}

// BenchmarkDomainHandler is the whole /probe path of a mail domain (2 MX
// hosts x 2 addresses) in one process: the DNS questions against an
// in-process server, the fan-out of four STARTTLS conversations, the
// collector and the exposition.
//
//	go test ./bench -run '^$' -bench DomainHandler -benchmem
func BenchmarkDomainHandler(b *testing.B) {
	dom, err := startDomainBed(b)
	if err != nil {
		b.Fatal(err)
	}
	e := inProcessExporter(b, domainSpecs(dom))
	client := newClient(1)
	url := e.probeURL(domainModule, domainName)
	b.ReportAllocs()
	for b.Loop() {
		if out := scrape(context.Background(), client, url); !out.ok {
			b.Fatalf("probe failed: %+v", out)
		}
	}
}

// BenchmarkGoodDomain is the bounds section's domain (2 MX hosts x 2
// addresses, STARTTLS, DANE, MTA-STS, reverse DNS) through the /probe
// handler in one process, for profiling the domains-per-minute figure.
// It serves an MTA-STS policy on 127.0.0.6:443: run it as root.
//
//	go test ./bench -run '^$' -bench GoodDomain -cpuprofile cpu.out
func BenchmarkGoodDomain(b *testing.B) {
	env, err := smtptest.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	bed, err := startBoundsBed(env)
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { close(bed.release) })
	sc := config.NewSafeConfig("", []byte(bed.config()), nil)
	if err := sc.Reload(); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(&handler.ProbeHandler{
		Config: sc, Logger: slog.New(slog.DiscardHandler), Metrics: handler.NewMetrics(nil), TimeoutOffset: 500 * time.Millisecond,
	})
	b.Cleanup(srv.Close)
	e := &exporter{name: ours, base: srv.URL}
	client := newClient(8)
	url := e.probeURL("mx", goodDomain)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if out := scrape(context.Background(), client, url); !out.ok {
				b.Errorf("probe failed: %+v", out)
				return
			}
		}
	})
}
