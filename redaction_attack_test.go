package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// attackPassword holds '"' and '\', which %q and JSON escape, so that an
// escaped rendering of it would not match the plain form; its halves are
// distinct enough to be looked for on their own.
const attackUser, attackPassword = "probe@example.test", `Kq7"Xw\Pz-Vn3Lr-Jd8Mt`

// TestRedactionAttacks drives each way a hostile server could get the AUTH
// password past redaction, against the real binary, and greps every
// surface for it: /probe's metrics, debug=true, the history pages in HTML
// and JSON, the probe command's text and JSON, the logs at debug level,
// /config and /metrics.
func TestRedactionAttacks(t *testing.T) {
	ca := smtptest.NewCA(t)
	pw := attackPassword
	b64 := base64.StdEncoding.EncodeToString
	// A certificate that verifies for the pinned name and carries the
	// password in a SAN after 240 bytes of padding (so that a cap before
	// redaction would leave most of it).
	leaf := smtptest.LocalhostLeaf()
	leaf.DNSNames = append(leaf.DNSNames, strings.Repeat("p", 240)+pw)
	hostileCert := smtptest.ServerTLS(ca.Issue(t, leaf))
	goodCert := smtptest.ServerTLS(ca.Issue(t, smtptest.LocalhostLeaf()))

	half := len(pw) / 2
	reversed := []byte(pw)
	slices.Reverse(reversed)
	attacks := []struct {
		name  string
		reply func(initial, user, pass string) string
		cert  bool   // the hostile certificate
		want  string // the failure reason
		// greeting and extensions, when set, are those of a server that
		// got the password in an earlier probe and quotes it before AUTH.
		greeting   string
		extensions []string
	}{
		// 189 characters then the password: the old 200-byte cut before
		// redaction showed all of it but the last character.
		{"padding", func(_, _, pass string) string {
			return "535 5.7.8 " + strings.Repeat("x", 189) + pass + "\r\n"
		}, false, "auth_failed", "", nil},
		{"quoting characters", func(_, _, pass string) string {
			return "535 5.7.8 password was " + pass + "\r\n"
		}, false, "auth_failed", "", nil},
		// A malformed line is quoted in the error (once with %q).
		{"quoted in a malformed line", func(_, _, pass string) string {
			return "5x5 " + pass + "\r\n"
		}, false, "protocol_error", "", nil},
		{"split across two lines", func(_, _, pass string) string {
			return "535-5.7.8 " + pass[:len(pass)/2] + "\r\n535 5.7.8 " + pass[len(pass)/2:] + "\r\n"
		}, false, "auth_failed", "", nil},
		{"base64", func(initial, _, pass string) string {
			return "535 5.7.8 " + b64([]byte(pass)) + " " + b64([]byte("x"+pass)) + " " + initial + "\r\n"
		}, false, "auth_failed", "", nil},
		{"password in a certificate name", func(_, _, _ string) string {
			return "535 5.7.8 no\r\n"
		}, true, "auth_failed", "", nil},
		// Split, reversed and encoded where no redaction can know it: in
		// the greeting, the EHLO greeting line and extension parameters.
		{
			"quoted in the next probe's greeting and EHLO", func(_, _, _ string) string {
				return "535 5.7.8 no\r\n"
			}, false, "auth_failed",
			"220-mx.test " + pw[:half] + "\r\n220-" + string(reversed) + " " + b64([]byte(pw[1:])) + "\r\n220 " + pw[half:] + " ESMTP\r\n",
			[]string{"SIZE 1000", "XLEAK " + pw[:half] + " " + pw[half:]},
		},
	}

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	write(t, pwFile, pw+"\n")
	var cfg strings.Builder
	cfg.WriteString("modules:\n")
	addrs := map[string]string{}
	for i, a := range attacks {
		cert := goodCert
		if a.cert {
			cert = hostileCert
		}
		for _, mech := range []string{"PLAIN", "LOGIN"} {
			module := fmt.Sprintf("attack%d_%s", i, strings.ToLower(mech))
			addrs[module] = smtptest.NewServer(t, smtptest.Config{
				StartTLS: cert, AuthMechanisms: []string{mech}, AuthReply: a.reply,
				Greeting: a.greeting, Extensions: a.extensions,
			}).Addr
			fmt.Fprintf(&cfg, "  %s:\n    tls: starttls\n    timeout: 5s\n    tls_config: {ca_file: %s, server_name: localhost}\n"+
				"    auth: {username: %s, password_file: %s}\n", module, ca.File, attackUser, pwFile)
		}
	}
	cfgFile := filepath.Join(dir, "config.yml")
	write(t, cfgFile, cfg.String())

	outputs := map[string]string{}
	exp := startExporter(t, "--config.file="+cfgFile, "--log.level=debug")
	id := 0
	for i, a := range attacks {
		for _, mech := range []string{"plain", "login"} {
			module := fmt.Sprintf("attack%d_%s", i, mech)
			name := a.name + " " + mech
			q := "/probe?module=" + module + "&target=" + addrs[module]
			outputs[name+": metrics"] = get(t, exp.URL+q, 200)
			outputs[name+": debug=true"] = get(t, exp.URL+q+"&debug=true", 200)
			mustContain(t, outputs[name+": debug=true"], `probe_smtp_failure{reason="`+a.want+`"} 1`)
			for range 2 {
				id++
				outputs[name+": history HTML"] += get(t, fmt.Sprintf("%s/history/%d", exp.URL, id), 200)
				outputs[name+": history JSON"] += get(t, fmt.Sprintf("%s/history/%d?format=json", exp.URL, id), 200)
			}
			for _, output := range []string{"text", "json"} {
				got := runBinary(t, "probe", "--config.file="+cfgFile, "--module="+module, "--log.level=debug", "--output="+output, addrs[module])
				if got.code != 1 {
					t.Errorf("%s: probe --output=%s: exit %d, want 1 (auth_failed)\n%s%s", name, output, got.code, got.stdout, got.stderr)
				}
				outputs[name+": probe --output="+output] = got.stdout
				outputs[name+": probe --output="+output+" log"] = got.stderr
			}
		}
	}
	outputs["/"] = get(t, exp.URL+"/", 200)
	outputs["/config"] = get(t, exp.URL+"/config", 200)
	outputs["/metrics"] = get(t, exp.URL+"/metrics", 200)
	outputs["server log"] = exp.logs.String()

	needles := secretNeedles(attackUser, pw)
	for where, out := range outputs {
		for what, needle := range needles {
			if strings.Contains(out, needle) {
				t.Errorf("%s shows the password (%s)", where, what)
			}
		}
	}

	// The checks prove something only if the credentials went out and the
	// server's reply reached the surfaces as codes.
	debug := outputs["padding plain: debug=true"]
	mustContain(t, debug, "C: AUTH PLAIN <redacted>")
	mustContain(t, debug, "S: 535 5.7.8\n")
	mustContain(t, outputs["split across two lines login: debug=true"], "S: 535-5.7.8\n")
	var r struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(outputs["padding plain: probe --output=json"]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Error != "AUTH PLAIN answered with 535 5.7.8" {
		t.Errorf("error after credentials were sent: %q, want only the codes", r.Error)
	}
	// The certificate's names are kept, redacted.
	mustContain(t, outputs["password in a certificate name plain: debug=true"], strings.Repeat("p", 100)+"<redacted>")
	// Before AUTH too, a module with credentials keeps codes and EHLO
	// keywords only: the greeting and the EHLO parameters were read.
	quoted := outputs["quoted in the next probe's greeting and EHLO plain: debug=true"]
	for _, want := range []string{"S: 220-\n", "S: 220\n", "S: 250-SIZE 1000\n", "S: 250-XLEAK\n", "S: 250 AUTH PLAIN\n", "C: AUTH PLAIN <redacted>"} {
		mustContain(t, quoted, want)
	}
}

// secretNeedles are the password and the parts of it that would give it
// away, in each rendering an output may use (plain, %q, JSON, HTML), and
// its base64 forms.
func secretNeedles(user, pw string) map[string]string {
	b64 := base64.StdEncoding.EncodeToString
	parts := map[string]string{
		"whole":                   pw,
		"all but the last":        pw[:len(pw)-1],
		"first half":              pw[:len(pw)/2],
		"second half":             pw[len(pw)/2:],
		"base64":                  b64([]byte(pw)),
		"PLAIN payload":           b64([]byte("\x00" + user + "\x00" + pw)),
		"base64 of x+password":    b64([]byte("x" + pw)),
		"base64 without padding":  strings.TrimRight(b64([]byte(pw)), "="),
		"PLAIN payload, unpadded": strings.TrimRight(b64([]byte("\x00"+user+"\x00"+pw)), "="),
	}
	needles := map[string]string{}
	for what, p := range parts {
		needles[what] = p
		q := strconv.Quote(p)
		needles[what+", %q"] = q[1 : len(q)-1]
		j, _ := json.Marshal(p)
		needles[what+", JSON"] = string(j[1 : len(j)-1])
		needles[what+", HTML"] = html.EscapeString(p)
	}
	return needles
}
