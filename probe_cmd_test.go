package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// exporterProcess is the binary serving on loopback for one test, with
// its logs.
type exporterProcess struct {
	*testtool.Process
	logs *testtool.SyncBuffer
}

// startExporter runs the server with args; it stops when the test ends.
func startExporter(t *testing.T, args ...string) *exporterProcess {
	t.Helper()
	logs := &testtool.SyncBuffer{}
	return &exporterProcess{testtool.StartExporter(t, testtool.Binary(t), logs, args...), logs}
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(testtool.Binary(t), args...)
	var stdout, stderr testtool.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cmdResult{code, stdout.String(), stderr.String()}
}

func TestProbeCommandExitStatus(t *testing.T) {
	ok := smtptest.NewServer(t, smtptest.Config{}).Addr
	rejecting := smtptest.NewServer(t, smtptest.Config{Greeting: "554 5.7.1 go away\r\n"}).Addr
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	write(t, cfgFile, "modules:\n  plain:\n    tls: none\n    timeout: 5s\n")
	badFile := filepath.Join(dir, "bad.yml")
	write(t, badFile, "modules:\n  plain:\n    tls: none\n    bogus: 1\n")

	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"success", []string{"probe", "--config.file=" + cfgFile, "--module=plain", ok}, 0, "Verdict: OK", ""},
		{"flags after the target", []string{"probe", ok, "--module", "plain", "--config.file", cfgFile}, 0, "Verdict: OK", ""},
		{"failed probe", []string{"probe", "--config.file=" + cfgFile, "--module=plain", rejecting}, 1, "Verdict: FAILED (banner_rejected)", ""},
		{"built-in modules by port", []string{"probe", "--timeout=1ns", "127.0.0.1:587"}, 1, "with module submission", ""},
		{"json", []string{"probe", "--config.file=" + cfgFile, "--module=plain", "--output=json", ok}, 0, `"success": true`, ""},
		{"no target", []string{"probe"}, 2, "", "required argument 'target' not provided"},
		{"unknown output", []string{"probe", "--output=yaml", ok}, 2, "", "enum value must be one of text,json"},
		{"unknown module", []string{"probe", "--config.file=" + cfgFile, "--module=nope", ok}, 2, "", `unknown module "nope" (modules: plain)`},
		{"bad config", []string{"probe", "--config.file=" + badFile, "--module=plain", ok}, 2, "", `module "plain": unknown field "bogus"`},
		{"bad target", []string{"probe", "--module=smtp", "mx.example.com:99999"}, 2, "", "99999"},
		{"serve stays the default: config check", []string{"--config.check", "--config.file=" + cfgFile}, 0, "", "Config is valid"},
		{"serve flag validation", []string{"--history.limit=-1"}, 2, "", "--history.limit must be 0 or more"},
		{"history bytes flag", []string{"--history.max-bytes=lots"}, 2, "", "units: invalid lots"},
		{"history bytes flag with a unit", []string{"--history.max-bytes=1MiB", "--config.check", "--config.file=" + cfgFile}, 0, "", "Config is valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runBinary(t, tc.args...)
			if got.code != tc.wantCode || !strings.Contains(got.stdout, tc.wantStdout) || !strings.Contains(got.stderr, tc.wantStderr) {
				t.Errorf("%v: exit %d, want %d; stdout should hold %q, stderr %q\nstdout:\n%s\nstderr:\n%s",
					tc.args, got.code, tc.wantCode, tc.wantStdout, tc.wantStderr, got.stdout, got.stderr)
			}
			if strings.Contains(got.stdout, "\x1b") {
				t.Errorf("output to a pipe holds escape sequences")
			}
		})
	}
}

// The module's password must appear nowhere an operator or a scraper can
// look: the probe command's output and log, /probe with and without debug,
// /config, /metrics, the landing page, the history pages and the server log;
// nor when it comes from the environment, when a hostile server quotes it
// back in its reply, or when someone writes it into the config itself (the
// reply to /-/reload and --config.check's output).
func TestPasswordNeverShown(t *testing.T) {
	const username, password = "probe@example.test", "E2e-Pa55word-never-shown"
	ca := smtptest.NewCA(t)
	serverTLS := smtptest.ServerTLS(ca.Issue(t, smtptest.LocalhostLeaf()))
	srv := smtptest.NewServer(t, smtptest.Config{
		StartTLS:       serverTLS,
		AuthMechanisms: []string{"PLAIN", "LOGIN"},
		Users:          map[string]string{username: password},
	})
	echoPlain := smtptest.NewServer(t, smtptest.Config{StartTLS: serverTLS, AuthMechanisms: []string{"PLAIN"}, AuthEcho: true})
	echoLogin := smtptest.NewServer(t, smtptest.Config{StartTLS: serverTLS, AuthMechanisms: []string{"LOGIN"}, AuthEcho: true})
	t.Setenv("SMTP_EXPORTER_TEST_PASSWORD", password) // the binaries inherit it
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	write(t, pwFile, password+"\n")
	cfgFile := filepath.Join(dir, "config.yml")
	config := "modules:\n  sub:\n    tls: starttls\n    timeout: 5s\n    tls_config: {ca_file: " + ca.File + ", server_name: localhost}\n" +
		"    auth: {username: " + username + ", password_file: " + pwFile + "}\n" +
		"  env:\n    tls: starttls\n    timeout: 5s\n    tls_config: {ca_file: " + ca.File + ", server_name: localhost}\n" +
		"    auth: {username: " + username + ", password_env: SMTP_EXPORTER_TEST_PASSWORD}\n"
	write(t, cfgFile, config)

	outputs := map[string]string{}
	for _, output := range []string{"text", "json"} {
		got := runBinary(t, "probe", "--config.file="+cfgFile, "--module=sub", "--log.level=debug", "--output="+output, srv.Addr)
		if got.code != 0 {
			t.Fatalf("probe --output=%s: exit %d\n%s%s", output, got.code, got.stdout, got.stderr)
		}
		outputs["probe --output="+output] = got.stdout
		outputs["probe --output="+output+" log"] = got.stderr
	}

	exp := startExporter(t, "--config.file="+cfgFile, "--log.level=debug")
	for _, path := range []string{
		"/probe?module=sub&target=" + srv.Addr,
		"/probe?module=sub&debug=true&target=" + srv.Addr,
		"/config", "/metrics", "/",
		"/history/1", "/history/2", "/history/1?format=json",
	} {
		outputs[path] = get(t, exp.URL+path, 200)
	}
	// Servers that quote the credentials back, in PLAIN's base64 payload
	// and in clear text; with both modules.
	for _, q := range []string{"module=sub&target=" + echoPlain.Addr, "module=env&target=" + echoLogin.Addr} {
		for _, debug := range []string{"", "&debug=true"} {
			body := get(t, exp.URL+"/probe?"+q+debug, 200)
			mustContain(t, body, `probe_smtp_failure{reason="auth_failed"} 1`)
			outputs["/probe?"+q+debug] = body
		}
	}
	outputs["/history/4"] = get(t, exp.URL+"/history/4", 200)
	// The echo was dropped: after the credentials, only the codes are kept.
	mustContain(t, outputs["/probe?module=sub&target="+echoPlain.Addr+"&debug=true"], "S: 535 5.7.8\n")
	// The password written into the config is refused, without repeating it.
	bad := filepath.Join(dir, "bad.yml")
	write(t, bad, config+"  inline:\n    tls: starttls\n    tls_config: {server_name: localhost}\n    auth: {username: u, password: "+password+"}\n")
	write(t, cfgFile, config+"  inline:\n    tls: starttls\n    tls_config: {server_name: localhost}\n    auth: {username: u, password: "+password+"}\n")
	reload := post(t, exp.URL+"/-/reload")
	if reload.code != 500 || !strings.Contains(reload.body, `module "inline": auth: unknown field "password"`) {
		t.Errorf("/-/reload of a config with the password in it: %d %q", reload.code, reload.body)
	}
	outputs["/-/reload"] = reload.body
	check := runBinary(t, "--config.check", "--config.file="+bad)
	mustContain(t, check.stderr, `unknown field "password"`)
	outputs["--config.check"] = check.stdout + check.stderr
	outputs["server log"] = exp.logs.String()

	for where, out := range outputs {
		t.Run(where, func(t *testing.T) { smtptest.AssertNoSecret(t, out, username, password) })
	}
	// The check above proves something only if AUTH really happened and
	// the transcripts were there to leak from.
	var r prober.Result
	if err := json.Unmarshal([]byte(outputs["/history/1?format=json"]), &r); err != nil || !r.AuthSuccess {
		t.Errorf("the history's probe did not log in (err %v): the test proves nothing", err)
	}
	for _, where := range []string{"probe --output=text", "probe --output=text log", "/probe?module=sub&debug=true&target=" + srv.Addr, "/history/2", "server log"} {
		if !strings.Contains(outputs[where], "AUTH PLAIN") {
			t.Errorf("%s holds no AUTH line: the test proves nothing there", where)
		}
	}
	mustContain(t, outputs["/probe?module=sub&debug=true&target="+srv.Addr], "Verdict: OK")
	mustContain(t, outputs["/probe?module=sub&debug=true&target="+srv.Addr], "probe_smtp_auth_success 1")
}
