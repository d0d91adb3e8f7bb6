package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestFormatCharactersAttack: a server that writes Unicode format
// characters (U+202E turns the text after it around, U+200B and U+2066
// hide in a word) into its greeting, EHLO reply and error text gets none of
// them into any surface: /probe's metrics, debug=true, the history pages
// in HTML and JSON, the probe command's text and JSON, the logs.
func TestFormatCharactersAttack(t *testing.T) {
	const rlo, zwsp, lri, bom = "\u202e", "\u200b", "\u2066", "\ufeff"
	srv := smtptest.NewServer(t, smtptest.Config{
		Greeting:   "220 mx.exam" + zwsp + "ple.test " + rlo + "PTMSE" + "\r\n",
		Extensions: []string{"SIZE 1000", "XNOTE " + lri + "hidden" + bom, "8BITMIME"},
		MailReply:  "550 5.7.1 go " + rlo + "yawa\r\n",
	})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	write(t, cfgFile, "modules:\n  plain:\n    tls: none\n    timeout: 5s\n    reverse_dns: true\n    envelope: {rcpt_to: [postmaster@example.test]}\n")
	exp := startExporter(t, "--config.file="+cfgFile, "--log.level=debug")
	q := exp.URL + "/probe?module=plain&target=" + url.QueryEscape(srv.Addr)

	outputs := map[string]string{
		"metrics":    get(t, q, 200),
		"debug=true": get(t, q+"&debug=true", 200),
	}
	for id := 1; id <= 2; id++ {
		outputs[fmt.Sprintf("history %d HTML", id)] = get(t, fmt.Sprintf("%s/history/%d", exp.URL, id), 200)
		outputs[fmt.Sprintf("history %d JSON", id)] = get(t, fmt.Sprintf("%s/history/%d?format=json", exp.URL, id), 200)
	}
	outputs["landing page"] = get(t, exp.URL+"/", 200)
	for _, output := range []string{"text", "json"} {
		got := runBinary(t, "probe", "--config.file="+cfgFile, "--module=plain", "--log.level=debug", "--output="+output, srv.Addr)
		outputs["probe --output="+output] = got.stdout
		outputs["probe --output="+output+" log"] = got.stderr
	}
	outputs["server log"] = exp.logs.String()

	for where, out := range outputs {
		for _, r := range out {
			if unicode.Is(unicode.Cf, r) {
				t.Errorf("%s holds the format character %U", where, r)
				break
			}
		}
		// JSON may escape them; the escapes would turn back into them.
		for _, esc := range []string{`\u202e`, `\u200b`, `\u2066`, `\ufeff`} {
			if strings.Contains(strings.ToLower(out), esc) {
				t.Errorf("%s holds the format character escaped as %s", where, esc)
			}
		}
	}
	// The text around them arrived, with U+FFFD where they were.
	debug := outputs["debug=true"]
	mustContain(t, debug, "S: 220 mx.exam\uFFFDple.test \uFFFDPTMSE")
	mustContain(t, debug, "S: 250-XNOTE \uFFFDhidden\uFFFD")
	mustContain(t, debug, `probe_smtp_failure{reason="mail_rejected"} 1`)
	mustContain(t, outputs["probe --output=json"], "go \uFFFDyawa")
}
