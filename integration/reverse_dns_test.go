package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// dnsDir is where testbed/dns.sh keeps its state and dns.env.
func dnsDir() string {
	if d := os.Getenv("TESTBED_DNS_DIR"); d != "" {
		return d
	}
	return "/var/tmp/smtp_exporter-dns"
}

// testDNSServer is the test bed's DNS server (testbed/dns.sh), as its
// dns.env says, or where it listens by default.
func testDNSServer() string {
	if env, err := readEnv(filepath.Join(dnsDir(), "dns.env")); err == nil && env["TESTBED_DNS_SERVER"] != "" {
		return env["TESTBED_DNS_SERVER"]
	}
	return "127.0.0.1:10053"
}

// needDNS starts the test bed's DNS server as root (idempotent), or skips
// without it; under CI=true it fails instead.
func needDNS(t *testing.T) {
	t.Helper()
	if os.Getuid() == 0 {
		out, err := exec.Command("bash", filepath.Join(repoRoot, "testbed", "dns.sh"), "start").CombinedOutput()
		if err == nil {
			return
		}
		t.Logf("testbed/dns.sh start: %v\n%s", err, out)
	}
	if exec.Command("bash", filepath.Join(repoRoot, "testbed", "dns.sh"), "status").Run() == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the test bed's DNS server is not running under CI=true")
	}
	t.Skip("the test bed's DNS server is not running (bash testbed/dns.sh start)")
}

// TestReverseDNS: the module's dns server is the test bed's NSD, whose
// 0.0.127.in-addr.arpa zone names 127.0.0.1 mail.testbed.local (which
// resolves back, and is Postfix's greeting name) and 127.0.0.9
// dead-end.testbed.local (which has no address, and where nothing listens).
func TestReverseDNS(t *testing.T) {
	tb, exp := needTestbed(t)
	needDNS(t)
	for _, tc := range []probeCase{
		{
			name: "PTR, FCrDNS and the greeting agree", target: tb.addr("SMTP"), module: "tb_reverse_dns",
			want: map[string]float64{
				"probe_smtp_ptr_info{ptr=mail.testbed.local}": 1, "probe_smtp_fcrdns": 1,
				"probe_smtp_banner_hostname_info{hostname=mail.testbed.local}": 1, "probe_smtp_banner_matches_ptr": 1,
			},
		},
		{
			// The lookups run beside the conversation, so a refused
			// connection still reports them.
			name: "PTR without an address, nothing listening", target: "127.0.0.9:" + tb.port("SMTP"), module: "tb_reverse_dns",
			reason: "connect_refused",
			want: map[string]float64{
				"probe_smtp_ptr_info{ptr=dead-end.testbed.local}": 1, "probe_smtp_fcrdns": 0,
			},
			absent: []string{"probe_smtp_banner_hostname_info", "probe_smtp_banner_matches_ptr"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { checkProbe(t, exp, tb, tc) })
	}
}
