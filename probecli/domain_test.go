package probecli

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
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
	allowList := slices.Concat(cfg, []byte("allowed_targets: {hosts: [good.test, '*.good.test']}\n"))
	cases := []struct {
		target, output string
		code           int
		stdout, stderr string
		config         []byte // nil: cfg
	}{
		{"good.test", OutputText, ExitSuccess, "Verdict: OK: 1 of 1 addresses of 1 MX host(s) accept mail", "", nil},
		{"bad.test", OutputText, ExitFailed, "dead.bad.test  20    127.0.0.9  FAILED   connect_refused", "", nil},
		{"bad.test", OutputJSON, ExitFailed, `"failure": "address_failed"`, "", nil},
		{"good.test:25", OutputText, ExitUsage, "", `module "mx" probes mail domains: give the domain without a port`, nil},
		{"127.0.0.1", OutputText, ExitUsage, "", `"127.0.0.1" is an IP address`, nil},
		// The domain meets allowed_targets before any lookup, as on /probe.
		{"good.test", OutputText, ExitSuccess, "Verdict: OK", "", allowList},
		{"bad.test", OutputText, ExitUsage, "", `target host "bad.test" is not allowed: it matches no pattern of allowed_targets.hosts`, allowList},
	}
	for _, tc := range cases {
		t.Run(tc.target+" "+tc.output, func(t *testing.T) {
			config := cfg
			if tc.config != nil {
				config = tc.config
			}
			before := len(dns.Queries())
			r := runCommand(t, Command{Builtin: config, Module: "mx", Target: tc.target, Output: tc.output})
			if r.code == ExitUsage && len(dns.Queries()) != before {
				t.Errorf("a refused target was looked up")
			}
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
