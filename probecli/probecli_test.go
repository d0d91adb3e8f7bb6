package probecli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

const builtin = `modules:
  smtp: {port: 25, tls: none, timeout: 5s}
  submission: {port: 587, tls: starttls, timeout: 5s}
  noport: {tls: none}
port_modules: {25: smtp, 587: submission}
`

type run struct {
	code           int
	stdout, stderr string
}

func runCommand(t *testing.T, c Command) run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if c.Builtin == nil {
		c.Builtin = []byte(builtin)
	}
	if c.Output == "" {
		c.Output = OutputText
	}
	code := c.Run(context.Background())
	return run{code, stdout.String(), stderr.String()}
}

func TestExitStatus(t *testing.T) {
	ok := smtptest.NewServer(t, smtptest.Config{}).Addr
	refused := smtptest.RefusedAddr(t)
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(badConfig, []byte("modules:\n  m:\n    tls: sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, okPort, _ := net.SplitHostPort(ok)

	type exitCase struct {
		name       string
		cmd        Command
		wantCode   int
		wantStdout string
		wantStderr string
	}
	cases := []exitCase{
		{"success", Command{Module: "smtp", Target: ok}, ExitSuccess, "Verdict: OK: greeting 220, no TLS", ""},
		{"failed probe", Command{Module: "smtp", Target: refused}, ExitFailed, "Verdict: FAILED (connect_refused)", ""},
		{"module follows the port", Command{Target: "127.0.0.1:25", Timeout: time.Nanosecond}, ExitFailed, "with module smtp", ""},
		{"host alone takes the module's port", Command{Module: "smtp", Target: "127.0.0.1", Timeout: time.Nanosecond}, ExitFailed, "Probe of 127.0.0.1:25 with module smtp", ""},
		{"no module for the port", Command{Target: "127.0.0.1:" + okPort}, ExitUsage, "", "no module is configured for port " + okPort + ": add --module NAME (modules: noport, smtp, submission)"},
		{"no port at all", Command{Target: "127.0.0.1"}, ExitUsage, "", `target "127.0.0.1" has no port and no module is given: add :PORT or --module NAME`},
		{"module without port and target without port", Command{Module: "noport", Target: "127.0.0.1"}, ExitUsage, "", `module "noport" sets none`},
		{"unknown module", Command{Module: "nope", Target: ok}, ExitUsage, "", `unknown module "nope" (modules: noport, smtp, submission)`},
		{"malformed target", Command{Target: "http://mx.example.com"}, ExitUsage, "", "looks like a URL"},
		{"bad config", Command{ConfigFile: badConfig, Target: ok}, ExitUsage, "", `module "m": tls: unknown mode "sometimes"`},
		{"missing config", Command{ConfigFile: filepath.Join(dir, "missing.yml"), Target: ok}, ExitUsage, "", "no such file"},
		{"negative timeout", Command{Module: "smtp", Target: ok, Timeout: -time.Second}, ExitUsage, "", "--timeout -1s is negative"},
		{"unknown output", Command{Module: "smtp", Target: ok, Output: "yaml"}, ExitUsage, "", `--output "yaml": give text or json`},
	}
	goodConfig := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(goodConfig, []byte("modules:\n  mine:\n    tls: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Issue 24: the command says which config its module came from.
	cases = append(cases,
		exitCase{
			"built-in config named",
			Command{Module: "smtp", Target: ok},
			ExitSuccess, "Verdict: OK",
			"smtp_exporter probe: module smtp of the built-in config.example.yml (no --config.file: the exporter's own config may differ)",
		},
		exitCase{
			"--config.file named",
			Command{ConfigFile: goodConfig, Module: "mine", Target: ok},
			ExitSuccess, "Verdict: OK",
			"smtp_exporter probe: module mine of " + goodConfig + "\n",
		},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runCommand(t, tc.cmd)
			if got.code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got.code, tc.wantCode, got.stdout, got.stderr)
			}
			if !strings.Contains(got.stdout, tc.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantStdout, got.stdout)
			}
			if !strings.Contains(got.stderr, tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, got.stderr)
			}
			if tc.wantCode == ExitUsage && got.stdout != "" {
				t.Errorf("a usage error printed a report:\n%s", got.stdout)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{}).Addr
	for _, color := range []bool{false, true} {
		got := runCommand(t, Command{Module: "smtp", Target: srv, Output: OutputJSON, Color: color})
		if got.code != ExitSuccess {
			t.Fatalf("exit %d: %s", got.code, got.stderr)
		}
		if strings.Contains(got.stdout, "\x1b") {
			t.Errorf("JSON output (color %v) holds escape sequences", color)
		}
		var r prober.Result
		dec := json.NewDecoder(strings.NewReader(got.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("stdout is not one JSON Result: %v\n%s", err, got.stdout)
		}
		if dec.More() {
			t.Errorf("stdout holds more than one JSON document")
		}
		if !r.Success || r.Module != "smtp" || r.Target != srv || len(r.Transcript) == 0 {
			t.Errorf("JSON result: success %v module %q target %q transcript %d lines", r.Success, r.Module, r.Target, len(r.Transcript))
		}
	}
}

func TestTextColour(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{}).Addr
	plain := runCommand(t, Command{Module: "smtp", Target: srv})
	coloured := runCommand(t, Command{Module: "smtp", Target: srv, Color: true})
	if strings.Contains(plain.stdout, "\x1b") {
		t.Error("text without Color holds escape sequences")
	}
	if !strings.Contains(coloured.stdout, "\x1b[") {
		t.Error("text with Color has no colour")
	}
}

// The command's timeout bounds the probe, not the module's (5s here): a
// silent server must end the probe with banner_timeout.
func TestTimeoutFlag(t *testing.T) {
	silent := smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) {
		c.Read(make([]byte, 1)) // until the client gives up
	}).Addr
	got := runCommand(t, Command{Module: "smtp", Target: silent, Timeout: 200 * time.Millisecond})
	if got.code != ExitFailed || !strings.Contains(got.stdout, "FAILED (banner_timeout)") {
		t.Errorf("exit %d:\n%s", got.code, got.stdout)
	}
}

// The password must not reach stdout or the log, whatever the output and
// log level.
func TestRedaction(t *testing.T) {
	const password = "Cli-Pa55word-never-shown"
	ca := smtptest.NewCA(t)
	srv := smtptest.NewServer(t, smtptest.Config{
		StartTLS:       smtptest.ServerTLS(ca.Issue(t, smtptest.LocalhostLeaf())),
		AuthMechanisms: []string{"LOGIN"},
		Users:          map[string]string{"probe": password},
	}).Addr
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(pw, []byte(password), 0o600)
	os.WriteFile(cfg, []byte("modules:\n  sub:\n    tls: starttls\n    tls_config: {ca_file: "+ca.File+", server_name: localhost}\n    auth: {username: probe, password_file: "+pw+"}\n"), 0o600)

	for _, output := range []string{OutputText, OutputJSON} {
		var log bytes.Buffer
		got := runCommand(t, Command{
			ConfigFile: cfg, Module: "sub", Target: srv, Output: output,
			Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		for _, out := range []string{got.stdout, got.stderr, log.String()} {
			smtptest.AssertNoSecret(t, out, "probe", password)
		}
		// Without a successful AUTH and a logged transcript the test proves nothing.
		if got.code != ExitSuccess || !strings.Contains(got.stdout, "<redacted>") || !strings.Contains(log.String(), "AUTH LOGIN") {
			t.Fatalf("%s: exit %d, want a successful AUTH with redacted lines, logged:\n%s%s\nlog:\n%s", output, got.code, got.stdout, got.stderr, log.String())
		}
	}
}

// TestAllowedTargets: the command obeys the config's allowed_targets, as
// /probe does, and a refused target is a usage error with no connection.
func TestAllowedTargets(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	dir := t.TempDir()
	write := func(name, doc string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	modules := "modules:\n  smtp: {tls: none, timeout: 5s}\n"
	denyPrivate := write("deny.yml", modules+"allowed_targets: {deny_private: true}\n")
	loopback := write("loopback.yml", modules+"allowed_targets: {cidrs: [127.0.0.0/8], deny_private: false}\n")
	other := write("other.yml", modules+"allowed_targets: {cidrs: [192.0.2.0/24]}\n")

	cases := []struct {
		name       string
		config     string
		wantCode   int
		wantStderr string
	}{
		{"deny_private refuses loopback", denyPrivate, ExitUsage, "allowed_targets.deny_private is set"},
		{"a cidr that holds the target", loopback, ExitSuccess, ""},
		{"a cidr that does not", other, ExitUsage, "matches neither allowed_targets.hosts nor allowed_targets.cidrs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Accepted()
			got := runCommand(t, Command{ConfigFile: tc.config, Module: "smtp", Target: srv.Addr})
			if got.code != tc.wantCode || !strings.Contains(got.stderr, tc.wantStderr) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", got.code, tc.wantCode, got.stderr, tc.wantStderr)
			}
			if connected := srv.Accepted() > before; connected != (tc.wantCode == ExitSuccess) {
				t.Errorf("connected: %v", connected)
			}
		})
	}
}
