package probecli

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
)

func TestDomain(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr)
	dns := dnstest.Start(t,
		"good.test. 300 IN MX 10 mx.good.test.",
		"mx.good.test. 300 IN A 127.0.0.1",
		"bad.test. 300 IN MX 10 mx.good.test.",
		"bad.test. 300 IN MX 20 dead.bad.test.",
		"dead.bad.test. 300 IN A 127.0.0.9",
	)
	cfg := []byte(fmt.Sprintf("modules:\n  mx: {port: %s, tls: none, timeout: 5s, mx: {}, dns: {server: %q}}\n", port, dns.Addr))
	cases := []struct {
		target, output string
		code           int
		stdout, stderr string
	}{
		{"good.test", OutputText, ExitSuccess, "Verdict: OK: 1 of 1 addresses of 1 MX host(s) accept mail", ""},
		{"bad.test", OutputText, ExitFailed, "dead.bad.test  20    127.0.0.9  FAILED   connect_refused", ""},
		{"bad.test", OutputJSON, ExitFailed, `"failure": "address_failed"`, ""},
		{"good.test:25", OutputText, ExitUsage, "", `module "mx" probes mail domains: give the domain without a port`},
		{"127.0.0.1", OutputText, ExitUsage, "", `"127.0.0.1" is an IP address`},
	}
	for _, tc := range cases {
		t.Run(tc.target+" "+tc.output, func(t *testing.T) {
			r := runCommand(t, Command{Builtin: cfg, Module: "mx", Target: tc.target, Output: tc.output})
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("output lacks %q / %q:\n%s\n%s", tc.stdout, tc.stderr, r.stdout, r.stderr)
			}
			if tc.output == OutputJSON {
				var d maildomain.Result
				if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d.Pairs) != 2 {
					t.Errorf("JSON: %v, %d pairs", err, len(d.Pairs))
				}
			}
		})
	}
}
