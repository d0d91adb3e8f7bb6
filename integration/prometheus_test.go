package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/promlint"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// prometheusServer is a real Prometheus scraping the exporter.
type prometheusServer struct {
	url string
}

// testbedPrometheusConfig is the test bed's scrape config
// (integration/testdata/prometheus.yml) with its placeholders filled in.
func testbedPrometheusConfig(t *testing.T, replacements map[string]string) string {
	t.Helper()
	tmpl, err := os.ReadFile("testdata/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	// Whole names only: replacing TESTBED_SMTP inside TESTBED_SMTPS would
	// leave a target that is neither.
	placeholder := regexp.MustCompile(`\b(EXPORTER|TESTBED_[A-Z0-9]+)\b`)
	return placeholder.ReplaceAllStringFunc(string(tmpl), func(name string) string {
		v, ok := replacements[name]
		if !ok {
			t.Fatalf("testdata/prometheus.yml: %s was not filled in", name)
		}
		return v
	})
}

// startPrometheus runs Prometheus on loopback with config (the text of
// prometheus.yml), after promtool has checked it. files are written next to
// the config first (paths relative to its directory), for the files it
// names, such as file_sd target lists.
func startPrometheus(t *testing.T, config string, files map[string]string) *prometheusServer {
	t.Helper()
	bin := testtool.Need(t, "prometheus", "prometheus")
	promtool := testtool.Need(t, "promtool", "promtool")
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", cfgFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, out, config)
	}
	addr, err := testtool.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	p := &prometheusServer{url: "http://" + addr}
	// A Prometheus that dies (its port taken between freeAddr and its
	// start, a config it rejects) fails the test at once, with its log.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("Prometheus exited (%v); its log:\n%s", err, log)
		default:
		}
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("Prometheus on %s not ready after 30s; its log:\n%s", addr, log)
		}
	}
}

// sample is one series of an instant query result.
type sample struct {
	Labels map[string]string
	Value  float64
}

// api GETs path from Prometheus' HTTP API and decodes its data into v.
func (p *prometheusServer) api(t *testing.T, path string, v any) {
	t.Helper()
	if err := p.tryAPI(path, v); err != nil {
		t.Fatal(err)
	}
}

// tryAPI is api for callers that report an error and go on, such as a bad
// query among many.
func (p *prometheusServer) tryAPI(path string, v any) error {
	resp, err := http.Get(p.url + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return fmt.Errorf("GET %s: %d %v %s %s", path, resp.StatusCode, err, r.Error, body) //nolint:errorlint // err may be nil: the status said no
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("GET %s: %w %s", path, err, body)
	}
	return nil
}

// query runs an instant PromQL query through the HTTP API.
func (p *prometheusServer) query(t *testing.T, q string) []sample {
	t.Helper()
	out, err := p.tryQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *prometheusServer) tryQuery(q string) ([]sample, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.tryAPI("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	var out []sample
	for _, res := range data.Result {
		var v float64
		fmt.Sscan(fmt.Sprint(res.Value[1]), &v)
		out = append(out, sample{Labels: res.Metric, Value: v})
	}
	return out, nil
}

// scrapeTarget is a target as the targets API shows it.
type scrapeTarget struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	Labels           map[string]string `json:"labels"`
	ScrapePool       string            `json:"scrapePool"`
	Health           string            `json:"health"`
	LastError        string            `json:"lastError"`
}

// targets returns the active targets (kept by relabelling) and the dropped
// ones, through the targets API.
func (p *prometheusServer) targets(t *testing.T) (active, dropped []scrapeTarget) {
	t.Helper()
	var data struct {
		Active  []scrapeTarget `json:"activeTargets"`
		Dropped []scrapeTarget `json:"droppedTargets"`
	}
	p.api(t, "/api/v1/targets", &data)
	return data.Active, data.Dropped
}

// byInstance maps an instant vector to instance → value.
func byInstance(samples []sample) map[string]float64 {
	m := map[string]float64{}
	for _, s := range samples {
		m[s.Labels["instance"]] = s.Value
	}
	return m
}

// waitUntil polls cond until it returns nil; on timeout the test fails
// with cond's last error, which says what is still missing.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() error) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(250 * time.Millisecond) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", limit, what, err)
		}
	}
}

// scrapeProblems describes the active targets whose last scrape failed.
func (p *prometheusServer) scrapeProblems(t *testing.T) string {
	t.Helper()
	active, _ := p.targets(t)
	var problems []string
	for _, st := range active {
		if st.Health != "up" {
			problems = append(problems, fmt.Sprintf("%s %s: %s %s", st.ScrapePool, st.Labels["instance"], st.Health, st.LastError))
		}
	}
	if len(problems) == 0 {
		return "every scrape succeeded"
	}
	return strings.Join(problems, "; ")
}

// TestPrometheusScrapesExporter runs a real Prometheus with the README's
// relabelling and the repository's alert rules against the exporter and the
// test bed, and checks through its API what each target reports; then, on
// the same Prometheus (its start and first scrapes are the slow part), the
// alerts and dashboards (alerts_dashboards_test.go).
func TestPrometheusScrapesExporter(t *testing.T) {
	tb, exp := needTestbed(t)
	needDNS(t)               // the posture job's reverse_dns asks the test bed's DNS server
	refused := "127.0.0.1:9" // discard: nothing listens on loopback
	filtered := filteredAddr(t)
	rules, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, testbedPrometheusConfig(t, map[string]string{
		"EXPORTER":           exp.Addr,
		"TESTBED_SMTP":       tb.addr("SMTP"),
		"TESTBED_REJECT":     tb.addr("REJECT"),
		"TESTBED_REFUSED":    refused,
		"TESTBED_FILTERED":   filtered,
		"TESTBED_EXPIRED":    tb.addr("EXPIRED"),
		"TESTBED_WRONGHOST":  tb.addr("WRONGHOST"),
		"TESTBED_EXPIRING":   tb.addr("EXPIRING"),
		"TESTBED_NOTLS":      tb.addr("NOTLS"),
		"TESTBED_SUBMISSION": tb.addr("SUBMISSION"),
		"TESTBED_ALT2525":    tb.addr("ALT2525"),
		"TESTBED_SMTPS":      tb.addr("SMTPS"),
		"TESTBED_AUTHPLAIN":  tb.addr("AUTHPLAIN"),
		"TESTBED_LEGACYTLS":  tb.addr("LEGACYTLS"),
	}), map[string]string{"smtp_exporter.rules.yml": string(rules)})

	// Every probe target scraped at least three times.
	const targets = 14 // SMTP twice: in smtp and in smtp_by_port
	waitUntil(t, 60*time.Second, "three scrapes of every target", func() error {
		s := prom.query(t, `count_over_time(probe_success[5m]) >= 3`)
		if len(s) == targets {
			return nil
		}
		return fmt.Errorf("scraped three times: %v; %s", byInstance(s), prom.scrapeProblems(t))
	})

	wantSuccess := map[string]float64{
		tb.addr("SMTP"): 1, tb.addr("REJECT"): 0, refused: 0, filtered: 0,
		tb.addr("EXPIRED"): 0, tb.addr("WRONGHOST"): 0, tb.addr("EXPIRING"): 1, tb.addr("NOTLS"): 0,
		tb.addr("SUBMISSION"): 1, tb.addr("ALT2525"): 1, tb.addr("SMTPS"): 1, tb.addr("AUTHPLAIN"): 1,
		tb.addr("LEGACYTLS"): 1,
	}
	got := byInstance(prom.query(t, `probe_success`))
	for inst, want := range wantSuccess {
		if v, ok := got[inst]; !ok || v != want {
			t.Errorf("probe_success{instance=%q} = %v (present %v), want %v", inst, v, ok, want)
		}
	}

	wantReason := map[string]string{
		tb.addr("REJECT"): "banner_rejected", refused: "connect_refused", filtered: "connect_timeout",
		tb.addr("EXPIRED"): "cert_expired", tb.addr("WRONGHOST"): "cert_hostname_mismatch",
		tb.addr("NOTLS"): "starttls_not_advertised",
	}
	failing := prom.query(t, `probe_smtp_failure == 1`)
	gotReason := map[string]string{}
	for _, s := range failing {
		gotReason[s.Labels["instance"]] = s.Labels["reason"]
	}
	for inst, want := range wantReason {
		if gotReason[inst] != want {
			t.Errorf("failure reason of %s = %q, want %q", inst, gotReason[inst], want)
		}
	}
	if len(gotReason) != len(wantReason) {
		t.Errorf("failing targets %v, want exactly %v", gotReason, wantReason)
	}
	// Stable series: every reason on every target.
	reasons := len(prober.Reasons)
	for _, metric := range []string{"probe_smtp_failure", "probe_smtp_warning"} {
		if n := len(prom.query(t, metric)); n != targets*reasons {
			t.Errorf("%s has %d series, want %d (%d reasons × %d targets)", metric, n, targets*reasons, reasons, targets)
		}
	}

	// Certificate expiry as Prometheus stores it, within a day of the real date.
	expiry := byInstance(prom.query(t, `probe_ssl_earliest_cert_expiry`))
	for inst, key := range map[string]string{
		tb.addr("SMTP"):      "TESTBED_CHAIN_EARLIEST_NOT_AFTER_VALID",
		tb.addr("EXPIRED"):   "TESTBED_CHAIN_EARLIEST_NOT_AFTER_EXPIRED",
		tb.addr("EXPIRING"):  "TESTBED_CHAIN_EARLIEST_NOT_AFTER_EXPIRING",
		tb.addr("WRONGHOST"): "TESTBED_CHAIN_EARLIEST_NOT_AFTER_WRONGHOST",
	} {
		if v, ok := expiry[inst]; !ok || math.Abs(v-tb.unix(key)) > 86400 {
			t.Errorf("probe_ssl_earliest_cert_expiry{instance=%q} = %v (present %v), want within a day of %v", inst, v, ok, tb.unix(key))
		}
	}
	// The expiring certificate is the one a 21-day alert would catch.
	soon := prom.query(t, `(probe_ssl_earliest_cert_expiry - time()) / 86400 < 21`)
	soonSet := map[string]bool{}
	for _, s := range soon {
		soonSet[s.Labels["instance"]] = true
	}
	if !soonSet[tb.addr("EXPIRING")] || soonSet[tb.addr("SMTP")] {
		t.Errorf("certificates expiring within 21 days: %v; want the EXPIRING listener and not the valid one", soonSet)
	}

	// The module label comes from the relabelling.
	for _, s := range prom.query(t, `probe_success{job="smtps"}`) {
		if s.Labels["module"] != "tb_smtps" {
			t.Errorf("module label = %q, want tb_smtps", s.Labels["module"])
		}
	}
	// The exporter's own metrics, scraped as a normal target.
	if s := prom.query(t, `sum(smtp_exporter_probes_total) > 0`); len(s) != 1 {
		t.Errorf("smtp_exporter_probes_total not scraped: %v", s)
	}

	t.Run("alerts", func(t *testing.T) { checkAlerts(t, tb, prom, refused, filtered) })
	t.Run("dashboards", func(t *testing.T) { checkDashboards(t, tb, prom, refused, filtered) })
}

// TestReadmeScrapeConfig keeps the README's relabelling and the one the
// test bed's Prometheus uses the same.
func TestReadmeScrapeConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("testdata/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)    relabel_configs:\n(.*?)        replacement: `)
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no relabel_configs block")
	}
	if !strings.Contains(string(tmpl), string(m[0])) {
		t.Errorf("integration/testdata/prometheus.yml does not use the README's relabelling:\n%s", m[0])
	}
}

// TestPromtoolCheckMetrics lints the exporter's real output with promtool.
func TestPromtoolCheckMetrics(t *testing.T) {
	tb, exp := needTestbed(t)
	promtool := testtool.Need(t, "promtool", "promtool")
	for name, u := range map[string]string{
		"probe (STARTTLS, AUTH)": "http://" + exp.Addr + "/probe?module=tb_submission&target=" + tb.addr("SUBMISSION"),
		"probe (refused)":        "http://" + exp.Addr + "/probe?module=tb_smtp&target=127.0.0.1:9",
		"metrics":                "http://" + exp.Addr + "/metrics",
	} {
		t.Run(name, func(t *testing.T) {
			body := scrape(t, u)
			if out, err := promlint.Check(promtool, []byte(body)); err != nil || out != "" {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}

// probeJob is a scrape job of /probe: one module of one exporter, probing
// its targets.
type probeJob struct {
	name, module, exporter string
	targets                []string
}

// probeJobsConfig is a Prometheus configuration scraping jobs every 2s with
// the README's relabelling (the target in instance, the module in module),
// evaluating rule files every 2s.
func probeJobsConfig(ruleFiles []string, jobs ...probeJob) string {
	var b strings.Builder
	b.WriteString("global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s}\n")
	if len(ruleFiles) > 0 {
		fmt.Fprintf(&b, "rule_files: [%s]\n", strings.Join(ruleFiles, ", "))
	}
	b.WriteString("scrape_configs:\n")
	for _, j := range jobs {
		fmt.Fprintf(&b, `  - job_name: %s
    metrics_path: /probe
    params: {module: [%s]}
    static_configs:
      - targets: ["%s"]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {source_labels: [__param_module], target_label: module}
      - {target_label: __address__, replacement: %s}
`, j.name, j.module, strings.Join(j.targets, `", "`), j.exporter)
	}
	return b.String()
}

// promAlert is an alert Prometheus holds, as its alerts API shows it.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// tryAlerts returns the alerts Prometheus holds (pending or firing).
func (p *prometheusServer) tryAlerts() ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := p.tryAPI("/api/v1/alerts", &data)
	return data.Alerts, err
}
