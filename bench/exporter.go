package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

// kind is the conversation a module holds, the same for both exporters.
type kind string

const (
	kindEHLO     kind = "ehlo"     // greeting, EHLO, QUIT
	kindStartTLS kind = "starttls" // greeting, EHLO, STARTTLS, handshake, EHLO, QUIT
	kindImplicit kind = "implicit" // handshake, greeting, EHLO, QUIT
	// kindPosture is starttls with tls_posture: three more connections,
	// each to a STARTTLS handshake (TLS 1.0 only, TLS 1.1 only, weak
	// suites). blackbox_exporter has no such checks and holds the starttls
	// conversation, so its ratio says what the checks add.
	kindPosture kind = "posture"
)

// ehloHostname is what both exporters say in EHLO.
const ehloHostname = "prober.bench.test"

// moduleSpec is one module, written out for both exporters.
type moduleSpec struct {
	name       string
	kind       kind
	timeout    time.Duration
	caFile     string
	serverName string
}

// oursConfig is the smtp_exporter configuration for specs.
func oursConfig(specs []moduleSpec) string {
	var b strings.Builder
	b.WriteString("modules:\n")
	for _, m := range specs {
		tls := map[kind]string{kindEHLO: "none", kindStartTLS: "starttls", kindImplicit: "implicit", kindPosture: "starttls"}[m.kind]
		fmt.Fprintf(&b, "  %s:\n    timeout: %s\n    tls: %s\n    ehlo_hostname: %s\n", m.name, m.timeout, tls, ehloHostname)
		if m.kind == kindPosture {
			b.WriteString("    tls_posture: true\n")
		}
		if m.kind != kindEHLO {
			fmt.Fprintf(&b, "    tls_config: {ca_file: %q, server_name: %q}\n", m.caFile, m.serverName)
		}
	}
	return b.String()
}

// blackboxConfig is the blackbox_exporter configuration holding the same
// conversations: its tcp prober with query_response, starttls for the
// upgrade, tls for implicit TLS. Like smtp_exporter it waits for the reply
// to QUIT, so both do the same round trips.
func blackboxConfig(specs []moduleSpec) string {
	var b strings.Builder
	b.WriteString("modules:\n")
	for _, m := range specs {
		fmt.Fprintf(&b, "  %s:\n    prober: tcp\n    timeout: %s\n    tcp:\n      preferred_ip_protocol: ip4\n", m.name, m.timeout)
		if m.kind != kindEHLO {
			fmt.Fprintf(&b, "      tls_config: {ca_file: %q, server_name: %q}\n", m.caFile, m.serverName)
		}
		if m.kind == kindImplicit {
			b.WriteString("      tls: true\n")
		}
		b.WriteString("      query_response:\n")
		step := func(s string) { b.WriteString("        - " + s + "\n") }
		step(`expect: "^220 "`)
		step(`send: "EHLO ` + ehloHostname + `"`)
		if m.kind == kindStartTLS || m.kind == kindPosture {
			step(`expect: "^250[- ]STARTTLS"`)
			step(`send: "STARTTLS"`)
			step("expect: \"^220 \"\n          starttls: true")
			step(`send: "EHLO ` + ehloHostname + `"`)
		}
		step(`expect: "^250 "`)
		step(`send: "QUIT"`)
		step(`expect: "^221 "`)
	}
	return b.String()
}

// exporter is one exporter under test: its HTTP address and its process
// (the driver's own process when it runs in-process, in the smoke test).
type exporter struct {
	name string
	base string // http://host:port
	pid  int
	stop func()
	// version, for the report.
	version string
}

// startProcess runs an exporter binary on a free loopback port and waits
// until it answers /-/healthy; its output goes to dir/NAME.log.
func startProcess(name, dir string, argv []string) (*exporter, error) {
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	p, err := testtool.Start(argv[0], logFile, argv[1:]...)
	if err != nil {
		return nil, err
	}
	return &exporter{
		name: name,
		base: p.URL,
		pid:  p.Cmd.Process.Pid,
		stop: func() { p.Interrupt(5 * time.Second) },
	}, nil
}

// probeURL is the /probe request for one target and module.
func (e *exporter) probeURL(module, target string) string {
	return e.base + "/probe?" + url.Values{"module": {module}, "target": {target}}.Encode()
}

// scrapeClient reads /metrics without keeping connections, so that it
// leaves no idle connection (and goroutine) behind in the exporter.
var scrapeClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// gauges reads unlabelled samples from the exporter's /metrics; a name it
// does not expose is missing from the map.
func (e *exporter) gauges(names ...string) (map[string]float64, error) {
	resp, err := scrapeClient.Get(e.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/metrics: %s", e.base, resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			got[name] = v
		}
	}
	return got, sc.Err()
}

// startExporters starts smtp_exporter and, when blackbox is not empty,
// blackbox_exporter, both configured with specs.
func startExporters(ctx context.Context, bin, blackbox, dir string, specs []moduleSpec, oursArgs ...string) ([]*exporter, error) {
	var started []*exporter
	fail := func(err error) ([]*exporter, error) {
		for _, e := range started {
			e.stop()
		}
		return nil, err
	}
	write := func(name, content string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(content), 0o600)
	}
	cfg, err := write("smtp_exporter.yml", oursConfig(specs))
	if err != nil {
		return fail(err)
	}
	ours, err := startProcess("smtp_exporter", dir, append([]string{bin, "--config.file=" + cfg}, oursArgs...))
	if err != nil {
		return fail(err)
	}
	ours.version = commandOutput(ctx, bin, "--version")
	started = append(started, ours)
	if blackbox == "" {
		return started, nil
	}
	cfg, err = write("blackbox.yml", blackboxConfig(specs))
	if err != nil {
		return fail(err)
	}
	bb, err := startProcess("blackbox_exporter", dir, []string{blackbox, "--config.file=" + cfg})
	if err != nil {
		return fail(err)
	}
	bb.version = commandOutput(ctx, blackbox, "--version")
	return append(started, bb), nil
}

// commandOutput is the first line a command prints, for the report.
func commandOutput(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
