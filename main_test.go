package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

// These tests build and run the real binary: flags, config check, reloads
// by SIGHUP and /-/reload, and the routes, as an operator meets them. The
// binary is built once, by the first test that needs it (testtool.Binary).

func TestMain(m *testing.M) {
	code := m.Run()
	testtool.Cleanup()
	os.Exit(code)
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	write(t, good, "modules:\n  m:\n    tls: none\n")
	several := filepath.Join(dir, "several.yml")
	write(t, several, "modules:\n  a:\n    tls: x\n  b:\n    bogus: 1\n  c:\n    port: 70000\n")
	write(t, bad, "modules:\n  m:\n    tls: sometimes\n")
	cases := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"--config.check"}, 0, "Config is valid"},
		{[]string{"--config.check", "--config.file=" + good}, 0, "Config is valid"},
		{[]string{"--config.check", "--config.file=" + bad}, 1, `module "m": tls: unknown mode "sometimes"`},
		{[]string{"--config.check", "--config.file=" + filepath.Join(dir, "missing.yml")}, 1, "no such file"},
		// Every error, each on its own line.
		{[]string{"--config.check", "--config.file=" + several}, 1, "module \"b\": unknown field \"bogus\" (line 5)\n" +
			"module \"a\": tls: unknown mode \"x\" (want none, opportunistic, starttls or implicit)\n" +
			"module \"c\": port: 70000 is out of range 1-65535\n"},
		{[]string{"--no-such-flag"}, 2, "unknown long flag"},
		{[]string{"--probe.max-concurrent=-1"}, 2, "--probe.max-concurrent must be 0 (no limit) or more, got -1"},
	}
	for _, tc := range cases {
		got := runBinary(t, tc.args...)
		out := got.stdout + got.stderr
		if got.code != tc.wantCode || !strings.Contains(out, tc.wantOut) {
			t.Errorf("%v: exit %d, want %d; output should contain %q:\n%s", tc.args, got.code, tc.wantCode, tc.wantOut, out)
		}
	}
}

func TestServeProbeAndReload(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	pwFile := filepath.Join(dir, "pw")
	write(t, pwFile, "Secret-Value-77\n")
	write(t, cfgFile, "modules:\n  first:\n    tls: none\n    timeout: 5s\n")

	exp := startExporter(t, "--config.file="+cfgFile, "--log.level=debug")
	cmd, base, logs := exp.Cmd, exp.URL, exp.logs

	body := get(t, base+"/probe?module=first&target="+srv.Addr, 200)
	mustContain(t, body, "probe_success 1")
	mustContain(t, body, `probe_smtp_failure{reason="banner_rejected"} 0`)

	// A good reload by SIGHUP adds a module.
	write(t, cfgFile, "modules:\n  first:\n    tls: none\n  second:\n    auth: {username: u, password_file: "+pwFile+"}\n    tls: starttls\n    tls_config: {server_name: localhost}\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool {
		return strings.Contains(get(t, base+"/config", 200), "second:")
	})
	if strings.Contains(get(t, base+"/config", 200), "Secret-Value-77") {
		t.Error("/config shows the password")
	}
	mustContain(t, get(t, base+"/metrics", 200), "smtp_exporter_config_last_reload_successful 1")

	// A bad reload keeps the old config and says why.
	write(t, cfgFile, "modules:\n  first:\n    tls: none\n    bogus: 1\n")
	resp := post(t, base+"/-/reload")
	if resp.code != 500 || !strings.Contains(resp.body, `module "first": unknown field "bogus"`) {
		t.Errorf("/-/reload of a bad config: %d %q", resp.code, resp.body)
	}
	mustContain(t, get(t, base+"/config", 200), "second:")
	mustContain(t, get(t, base+"/metrics", 200), "smtp_exporter_config_last_reload_successful 0")
	mustContain(t, get(t, base+"/metrics", 200), `smtp_exporter_probes_total{module="first",result="success"} 1`)

	// A bad query is a 400 that says what is wrong.
	mustContain(t, get(t, base+"/probe?module=nope&target="+srv.Addr, 400), `unknown module "nope"`)
	exp.Stop()
	if strings.Contains(logs.String(), "Secret-Value-77") {
		t.Error("the logs show the password")
	}
	mustContain(t, logs.String(), "Config reload failed; keeping the previous config")
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to ten seconds; it bounds waiting, not speed.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

func get(t *testing.T, url string, wantCode int) string {
	t.Helper()
	code, body := testtool.Get(t, url)
	if code != wantCode {
		t.Fatalf("GET %s: %d, want %d: %s", url, code, wantCode, body)
	}
	return body
}

type response struct {
	code int
	body string
}

func post(t *testing.T, url string) response {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b)}
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("output lacks %q:\n%s", sub, s)
	}
}

// TestProbeHelp: `probe --help` lists the flags the probe command reads,
// not the server's.
func TestProbeHelp(t *testing.T) {
	got := runBinary(t, "probe", "--help")
	out := got.stdout + got.stderr
	if got.code != 0 {
		t.Fatalf("exit %d:\n%s", got.code, out)
	}
	for _, want := range []string{"--module", "--timeout", "--output", "--config.file", "<target>"} {
		if !strings.Contains(out, want) {
			t.Errorf("probe --help does not show %s:\n%s", want, out)
		}
	}
	for _, server := range []string{"--web.listen-address", "--history.limit", "--probe.max-concurrent", "--timeout-offset", "--config.check", "--web.config.file", "--history.max-bytes", "--web.shutdown-timeout"} {
		if strings.Contains(out, server) {
			t.Errorf("probe --help shows the server flag %s:\n%s", server, out)
		}
	}
	// The server's help still has them.
	if out := runBinary(t, "--help"); !strings.Contains(out.stdout+out.stderr, "--web.listen-address") {
		t.Errorf("--help lost the server flags:\n%s", out.stdout+out.stderr)
	}
}

// TestDANETrustWarning: a DANE module that trusts a resolver off this
// machine is said so where an operator looks: --config.check, the log of
// the server at start and at reload, the landing page, and the probe
// command; a module on loopback is not.
func TestDANETrustWarning(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	write(t, cfgFile, "modules:\n  remote:\n    tls: starttls\n    dane: check\n    dns: {server: 192.0.2.53}\n"+
		"  local:\n    tls: starttls\n    dane: check\n    dns: {server: 127.0.0.1}\n")
	const want = `module \"remote\": dane: check: DNSSEC is trusted through the AD bit of 192.0.2.53:53 (dns.server), which is not on this machine`

	check := runBinary(t, "--config.check", "--config.file="+cfgFile)
	if check.code != 0 || !strings.Contains(check.stderr, "level=WARN") || !strings.Contains(check.stderr, want) {
		t.Errorf("--config.check: exit %d, want 0 and the warning:\n%s", check.code, check.stderr)
	}
	exp := startExporter(t, "--config.file="+cfgFile)
	waitFor(t, func() bool { return strings.Contains(exp.logs.String(), want) })
	landing := get(t, exp.URL+"/", 200)
	mustContain(t, landing, `<li>module &#34;remote&#34;: dane: check: DNSSEC is trusted through the AD bit of 192.0.2.53:53`)
	if strings.Contains(landing, "&#34;local&#34;") || strings.Contains(exp.logs.String(), `module \"local\"`) {
		t.Error("the module on loopback is warned about")
	}
	if r := post(t, exp.URL+"/-/reload"); r.code != 200 {
		t.Fatalf("reload: %d %s", r.code, r.body)
	}
	waitFor(t, func() bool { return strings.Count(exp.logs.String(), want) == 2 })

	// The probe command warns of the module it uses (the target is a
	// closed port on loopback; an address has no TLSA name to ask for).
	closed, err := testtool.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	got := runBinary(t, "probe", "--config.file="+cfgFile, "--module=remote", "--timeout=2s", closed)
	if !strings.Contains(got.stderr, "Config warning") || !strings.Contains(got.stderr, "192.0.2.53:53") {
		t.Errorf("probe --module=remote: no warning on stderr:\n%s", got.stderr)
	}
}

// TestEgressCanariesReload: the egress canaries run from the start, on
// /metrics, and a reload by SIGHUP replaces them; a bad egress section is a
// --config.check error that names the canary and field.
func TestEgressCanariesReload(t *testing.T) {
	first := smtptest.NewServer(t, smtptest.Config{})
	second := smtptest.NewServer(t, smtptest.Config{})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	section := func(canary string) string {
		return "modules:\n  m: {tls: none}\negress:\n  interval: 1s\n  timeout: 500ms\n  canaries:\n    - {target: '" + canary + "'}\n"
	}
	write(t, cfgFile, section(first.Addr))
	exp := startExporter(t, "--config.file="+cfgFile)
	up := func(canary string) string {
		_, port, _ := strings.Cut(canary, ":")
		return `smtp_exporter_egress_canary_up{canary="` + canary + `",family="ip4",port="` + port + `"} 1`
	}
	waitFor(t, func() bool { return strings.Contains(get(t, exp.URL+"/metrics", 200), up(first.Addr)) })

	write(t, cfgFile, section(second.Addr))
	exp.Cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool {
		m := get(t, exp.URL+"/metrics", 200)
		return strings.Contains(m, up(second.Addr)) && !strings.Contains(m, `canary="`+first.Addr+`"`)
	})
	// The reload still works as before: a bad section keeps the canaries.
	write(t, cfgFile, "modules:\n  m: {tls: none}\negress:\n  canaries:\n    - {target: 'no-port.example.net'}\n")
	resp := post(t, exp.URL+"/-/reload")
	if want := `egress: canaries[0]: target: "no-port.example.net" is not host:port`; resp.code != 500 || !strings.Contains(resp.body, want) {
		t.Errorf("/-/reload of a bad egress section: %d %q, want 500 with %q", resp.code, resp.body, want)
	}
	mustContain(t, get(t, exp.URL+"/metrics", 200), up(second.Addr))

	got := runBinary(t, "--config.check", "--config.file="+cfgFile)
	if got.code != 1 || !strings.Contains(got.stderr, `egress: canaries[0]: target: "no-port.example.net" is not host:port`) {
		t.Errorf("--config.check: exit %d, %s", got.code, got.stderr)
	}
}
