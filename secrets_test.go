package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestSecretsNeverShown configures passwords from a file and from the
// environment, runs the real binary through successful, refused and
// hostile AUTH (a server that quotes the credentials back in its reply),
// with debug logging, and then searches every surface an operator or an
// attacker can read for the passwords in any form the prober sends them:
// /probe (metrics and debug output), /metrics, /config, the reply to a
// failed /-/reload, --config.check's output, and the logs.
func TestSecretsNeverShown(t *testing.T) {
	const (
		user       = "monitor@example.net"
		filePass   = "File-Secret-9x!"
		envPass    = "Env-Secret-42?"
		inlinePass = "Inline-Secret-77"
	)
	ca := smtptest.NewCA(t)
	tlsCfg := smtptest.ServerTLS(ca.Issue(t, smtptest.LocalhostLeaf()))
	accepting := smtptest.NewServer(t, smtptest.Config{Implicit: tlsCfg, AuthMechanisms: []string{"PLAIN"}, Users: map[string]string{user: filePass}})
	echoing := smtptest.NewServer(t, smtptest.Config{Implicit: tlsCfg, AuthMechanisms: []string{"PLAIN"}, AuthEcho: true})
	echoingLogin := smtptest.NewServer(t, smtptest.Config{Implicit: tlsCfg, AuthMechanisms: []string{"LOGIN"}, AuthEcho: true})

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	write(t, pwFile, filePass+"\n")
	cfgFile := filepath.Join(dir, "config.yml")
	goodConfig := `modules:
  file:
    tls: implicit
    tls_config: {ca_file: ` + ca.File + `}
    auth: {username: "` + user + `", password_file: ` + pwFile + `}
  env:
    tls: implicit
    tls_config: {ca_file: ` + ca.File + `}
    auth: {username: "` + user + `", password_env: SMTP_TEST_PASSWORD}
`
	write(t, cfgFile, goodConfig)
	// Someone writes the password into the config itself, which is refused.
	badFile := filepath.Join(dir, "bad.yml")
	write(t, badFile, goodConfig+"  inline:\n    tls: implicit\n    auth: {username: u, password: \""+inlinePass+"\"}\n")

	cmd, base, logs := startExporter(t, cfgFile, "SMTP_TEST_PASSWORD="+envPass)

	surfaces := map[string]string{}
	for _, p := range []struct{ name, module, target, want string }{
		{"accepted", "file", accepting.Addr, "probe_smtp_auth_success 1"},
		{"refused, env password", "env", accepting.Addr, `probe_smtp_failure{reason="auth_failed"} 1`},
		{"echoed back, PLAIN", "file", echoing.Addr, `probe_smtp_failure{reason="auth_failed"} 1`},
		{"echoed back, LOGIN", "env", echoingLogin.Addr, `probe_smtp_failure{reason="auth_failed"} 1`},
	} {
		for _, debug := range []string{"false", "true"} {
			body := get(t, base+"/probe?module="+p.module+"&debug="+debug+"&target="+p.target, 200)
			mustContain(t, body, p.want)
			surfaces["/probe "+p.name+" debug="+debug] = body
		}
	}
	surfaces["/metrics"] = get(t, base+"/metrics", 200)
	surfaces["/config"] = get(t, base+"/config", 200)
	mustContain(t, surfaces["/config"], "password_env: SMTP_TEST_PASSWORD")

	write(t, cfgFile, string(mustRead(t, badFile)))
	resp := post(t, base+"/-/reload")
	if resp.code != 500 || !strings.Contains(resp.body, `module "inline": auth: unknown field "password"`) {
		t.Errorf("/-/reload of a config with an inline password: %d %q", resp.code, resp.body)
	}
	surfaces["/-/reload"] = resp.body
	check, _ := exec.Command(binary, "--config.check", "--config.file="+badFile).CombinedOutput()
	mustContain(t, string(check), `unknown field \"password\"`)
	surfaces["--config.check"] = string(check)

	cmd.Process.Kill()
	cmd.Wait()
	surfaces["logs"] = logs.String()
	mustContain(t, surfaces["logs"], "AUTH PLAIN <redacted>") // debug logging did log the conversation

	forms := map[string]string{}
	for _, pw := range []string{filePass, envPass, inlinePass} {
		forms[pw] = pw
		forms["base64 of "+pw] = base64.StdEncoding.EncodeToString([]byte(pw))
		forms["PLAIN payload with "+pw] = base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
	}
	for surface, text := range surfaces {
		for form, secret := range forms {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows the password (%s)", surface, form)
			}
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
