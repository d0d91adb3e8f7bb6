package config

import (
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// TestDANETrustWarning: a DANE module trusts the AD bit of its resolver,
// which is worth what the path to it is worth: off this machine the config
// loads, with a warning that names the module, the server and where it
// came from.
func TestDANETrustWarning(t *testing.T) {
	system, err := resolver.SystemServer(resolver.ResolvConf)
	if err != nil {
		system = "127.0.0.1:53" // resolver.New's fallback
	}
	cases := []struct {
		name, module string
		want         string // "" for no warning
	}{
		{"loopback IPv4", "dane: check\ndns: {server: 127.0.0.1}", ""},
		{"loopback IPv6", "dane: required\ndns: {server: '[::1]:5353'}", ""},
		{"other loopback address", "dane: check\ndns: {server: 127.0.0.53}", ""},
		{"off with a remote server", "dane: off\ndns: {server: 192.0.2.53}", ""},
		{
			"remote server", "dane: check\ndns: {server: 192.0.2.53}",
			`module "m": dane: check: DNSSEC is trusted through the AD bit of 192.0.2.53:53 (dns.server), which is not on this machine`,
		},
		{
			"remote IPv6 server, domain module", "mx: {}\ndane: required\ndns: {server: '2001:db8::53'}",
			`module "m": dane: required: DNSSEC is trusted through the AD bit of [2001:db8::53]:53 (dns.server)`,
		},
		{"the system's resolver", "dane: check", "the first nameserver of /etc/resolv.conf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("modules:\n  m:\n    tls: starttls\n" + indent(tc.module) + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(cfg.Warnings(), "\n")
			want := tc.want
			if tc.name == "the system's resolver" && strings.HasPrefix(system, "127.") {
				want = "" // this machine's resolver is on loopback
			}
			switch {
			case want == "" && got != "":
				t.Errorf("warning %q, want none", got)
			case want != "" && !strings.Contains(got, want):
				t.Errorf("warnings %q, want one with %q", got, want)
			case want != "" && !strings.Contains(got, "set dns.server to a validating resolver on loopback"):
				t.Errorf("warning %q does not say what to do", got)
			}
		})
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
