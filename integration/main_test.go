// Package integration proves the exporter against real parts: the real
// exporter binary probing a real Postfix (testbed/postfix.sh, loopback only)
// and a real Prometheus scraping the exporter.
//
// The tests need the test bed. As root they start it themselves (it is
// idempotent); otherwise they skip with a message, except under CI=true,
// where a missing test bed is a failure.
package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

var (
	repoRoot = func() string { d, _ := filepath.Abs(".."); return d }()

	setupOnce sync.Once
	bed       *testbed
	exporter  *exporterProcess
	setupErr  error
)

// testbed is what testbed/postfix.sh wrote to testbed.env.
type testbed struct{ env map[string]string }

func (tb *testbed) get(key string) string { return tb.env[key] }

func (tb *testbed) port(name string) string { return tb.env["TESTBED_PORT_"+name] }

func (tb *testbed) addr(name string) string { return net.JoinHostPort("127.0.0.1", tb.port(name)) }

func (tb *testbed) unix(key string) float64 {
	v, err := strconv.ParseFloat(tb.env[key], 64)
	if err != nil {
		panic(fmt.Sprintf("testbed.env: %s=%q is not a number", key, tb.env[key]))
	}
	return v
}

// needTestbed starts (as root) or finds the test bed and the exporter, or
// skips the test; under CI=true it fails instead of skipping.
func needTestbed(t *testing.T) (*testbed, *exporterProcess) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the integration test (real Postfix and Prometheus test bed)")
	}
	setupOnce.Do(func() { bed, exporter, setupErr = setup() })
	if setupErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("integration test bed unavailable under CI=true: %v", setupErr)
		}
		t.Skipf("integration test bed unavailable (run as root, or start it with `bash testbed/postfix.sh start`): %v", setupErr)
	}
	return bed, exporter
}

func setup() (*testbed, *exporterProcess, error) {
	dir := os.Getenv("TESTBED_DIR")
	if dir == "" {
		dir = "/var/tmp/smtp_exporter-testbed"
	}
	if os.Getuid() == 0 {
		cmd := exec.Command("bash", filepath.Join(repoRoot, "testbed", "postfix.sh"), "start")
		cmd.Env = append(os.Environ(), "TESTBED_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("testbed/postfix.sh start: %w\n%s", err, out)
		}
	}
	env, err := readEnv(filepath.Join(dir, "testbed.env"))
	if err != nil {
		return nil, nil, fmt.Errorf("not root and no running test bed: %w", err)
	}
	tb := &testbed{env: env}
	conn, err := net.DialTimeout("tcp", tb.addr("SMTP"), 2*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("test bed is not listening: %w", err)
	}
	conn.Close()
	exp, err := setupExporter(tb)
	if err != nil {
		return nil, nil, err
	}
	return tb, exp, nil
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			env[k] = strings.Trim(v, `"'`)
		}
	}
	return env, s.Err()
}

// exporterProcess is the real binary, serving the test bed's modules.
type exporterProcess struct {
	*testtool.Process
	bin     string
	logFile string
}

// moduleTimeout is the timeout of every test-bed module; the filtered port
// must end within it.
const moduleTimeout = 2 * time.Second

// testbedModule is one module of the exporter's config for the test bed.
type testbedModule struct {
	name   string
	fields []string
}

// testbedModules are the modules, by what the test bed's listeners are like.
func testbedModules(tb *testbed) []testbedModule {
	tls := fmt.Sprintf("tls_config: {ca_file: %s, server_name: %s}", tb.get("TESTBED_CA_FILE"), tb.get("TESTBED_SERVER_NAME"))
	auth := fmt.Sprintf("auth: {username: %s, password_file: %s}", tb.get("TESTBED_USERNAME"), tb.get("TESTBED_PASSWORD_FILE"))
	wrong := fmt.Sprintf("auth: {username: %s, password_file: %s}", tb.get("TESTBED_USERNAME"), tb.get("TESTBED_WRONG_PASSWORD_FILE"))
	return []testbedModule{
		{"tb_smtp", []string{"tls: opportunistic", tls}},
		{"tb_smtp_ip6", []string{"tls: opportunistic", "ip_protocol: ip6", "ip_protocol_fallback: false", tls}},
		{"tb_starttls", []string{"tls: starttls", tls}},
		{"tb_submission", []string{"tls: starttls", "fail_if_auth_before_tls: true", "fail_if_no_auth: true", tls, auth}},
		{"tb_submission_wrong_password", []string{"tls: starttls", "fail_if_auth_before_tls: true", tls, wrong}},
		{"tb_smtps", []string{"tls: implicit", "fail_if_no_auth: true", tls, auth}},
		{"tb_no_auth_before_tls", []string{"tls: starttls", "fail_if_auth_before_tls: true", tls}},
		{"tb_plain", []string{"tls: none"}},
		// Issue 18: envelope checks, EHLO names, source address, warnings.
		{"tb_envelope", []string{"tls: opportunistic", tls, "envelope: {mail_from: monitor@example.com, rcpt_to: [postmaster@testbed.local]}"}},
		{"tb_envelope_outside", []string{"tls: opportunistic", tls, "envelope: {mail_from: monitor@example.com, rcpt_to: [postmaster@testbed.local, probe@example.org]}"}},
		{"tb_relay_test", []string{"tls: opportunistic", tls, "envelope: {mail_from: monitor@example.com, rcpt_to: [probe@example.org], expect: reject}"}},
		{"tb_relay_test_open", []string{"tls: opportunistic", tls, "envelope: {mail_from: monitor@example.com, rcpt_to: [postmaster@testbed.local], expect: reject}"}},
		{"tb_blocked_sender", []string{"tls: opportunistic", tls, "envelope: {mail_from: blocked@testbed.local, rcpt_to: [postmaster@testbed.local]}"}},
		{"tb_short_ehlo", []string{"tls: none", "ehlo_hostname: vm"}},
		{"tb_source_ip", []string{"tls: none", "source_ip_address: 127.0.0.2"}},
		{"tb_banner", []string{"tls: none", `fail_if_banner_not_matches: '^mail\.testbed\.local ESMTP'`}},
		{"tb_banner_other", []string{"tls: none", `fail_if_banner_not_matches: '^mx9\.example\.net '`}},
		{"tb_posture", []string{"tls: starttls", "tls_posture: true", tls}},
		{"tb_posture_fail", []string{"tls: starttls", "tls_posture: true", "fail_if_legacy_tls_accepted: true", tls}},
		{"tb_posture_implicit", []string{"tls: implicit", "tls_posture: true", tls}},
		{"tb_posture_rdns", []string{"tls: starttls", "tls_posture: true", "reverse_dns: true", "dns: {server: \"" + testDNSServer() + "\"}", tls}},
		{"tb_reverse_dns", []string{"tls: opportunistic", "reverse_dns: true", "dns: {server: \"" + testDNSServer() + "\"}", tls}},
		// Issue 25: the STARTTLS injection check.
		{"tb_injection", []string{"tls: starttls", "starttls_injection_check: true", tls}},
	}
}

// renderModules writes modules as an exporter config file's text.
func renderModules(modules []testbedModule) string {
	s := "modules:\n"
	for _, m := range modules {
		s += "  " + m.name + ":\n    timeout: " + moduleTimeout.String() + "\n"
		for _, f := range m.fields {
			s += "    " + f + "\n"
		}
	}
	return s
}

// exporterConfig maps the SMTP listener's port to tb_smtp, for requests
// without a module (Prometheus' smtp_by_port job).
func exporterConfig(tb *testbed) string {
	return renderModules(testbedModules(tb)) + "port_modules:\n  " + tb.port("SMTP") + ": tb_smtp\n"
}

// startExporter runs bin with config (the file's text) in dir on a free
// loopback port, logging at debug level to dir/exporter.log, and waits
// until it answers /-/healthy.
func startExporter(bin, dir, config string, args ...string) (*exporterProcess, error) {
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "exporter.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args = append([]string{"--config.file=" + cfg, "--log.level=debug"}, args...)
	p, err := testtool.Start(bin, logFile, args...)
	if err != nil {
		return nil, err
	}
	return &exporterProcess{Process: p, bin: bin, logFile: logFile.Name()}, nil
}

func setupExporter(tb *testbed) (*exporterProcess, error) {
	dir, err := os.MkdirTemp("", "smtp_exporter-integration")
	if err != nil {
		return nil, err
	}
	bin, err := testtool.Build(repoRoot, dir)
	if err != nil {
		return nil, err
	}
	return startExporter(bin, dir, exporterConfig(tb))
}

func TestMain(m *testing.M) {
	code := m.Run()
	if exporter != nil {
		exporter.Stop()
	}
	if dnsExp != nil {
		dnsExp.Stop()
	}
	if policyExp != nil {
		policyExp.Stop()
	}
	testtool.Cleanup()
	os.Exit(code)
}

// scrape fetches a URL and returns its body.
func scrape(t *testing.T, url string) string {
	t.Helper()
	code, body := testtool.Get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	return body
}

// metrics is a parsed exposition.
type metrics map[string]*dto.MetricFamily

func parseMetrics(t *testing.T, text string) metrics {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing exposition: %v\n%s", err, text)
	}
	return mfs
}

// value returns the value of the series of name whose labels include
// labels ("k=v" pairs), and whether there is one.
func (m metrics) value(name string, labels ...string) (float64, bool) {
	mf, ok := m[name]
	if !ok {
		return 0, false
	}
	for _, metric := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range metric.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if have[k] != v {
				match = false
			}
		}
		if match {
			return metric.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
