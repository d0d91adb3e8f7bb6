package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/dashboards"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
)

// The mail-domain tests: a real NSD (testbed/dns.sh) serving domains.test,
// whose MX hosts point at the Postfix test bed (127.0.0.1 and ::1, port
// 10025) and at 127.0.0.9, where nothing listens; an exporter of their own
// whose domain modules ask NSD through dns.server.

var (
	dnsOnce sync.Once
	dnsBed  map[string]string
	dnsExp  *exporterProcess
	dnsErr  error
)

// needDomainDNS starts (as root) or finds the DNS test bed and an exporter with
// the domain modules, or skips; under CI=true it fails instead.
func needDomainDNS(t *testing.T) (*testbed, map[string]string, *exporterProcess) {
	t.Helper()
	tb, _ := needTestbed(t)
	dnsOnce.Do(func() { dnsBed, dnsExp, dnsErr = setupDNS(tb) })
	if dnsErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("DNS test bed unavailable under CI=true: %v", dnsErr)
		}
		t.Skipf("DNS test bed unavailable (run as root, or start it with `bash testbed/dns.sh start`): %v", dnsErr)
	}
	return tb, dnsBed, dnsExp
}

func setupDNS(tb *testbed) (map[string]string, *exporterProcess, error) {
	return startBed("dns.sh", "TESTBED_DNS_DIR", "/var/tmp/smtp_exporter-dns", "dns.env", nil,
		func(env map[string]string) string { return domainConfig(tb, env) })
}

// startBed starts (as root) a test bed script of testbed/ with its state in
// the directory named by dirVar (default def), reads the environment file it
// writes there, and starts an exporter on the config made from it.
func startBed(script, dirVar, def, envFile string, extraEnv []string, config func(env map[string]string) string) (map[string]string, *exporterProcess, error) {
	dir := os.Getenv(dirVar)
	if dir == "" {
		dir = def
	}
	if os.Getuid() == 0 {
		cmd := exec.Command("bash", filepath.Join(repoRoot, "testbed", script), "start")
		cmd.Env = append(append(os.Environ(), dirVar+"="+dir), extraEnv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("testbed/%s start: %w\n%s", script, err, out)
		}
	}
	env, err := readEnv(filepath.Join(dir, envFile))
	if err != nil {
		return nil, nil, fmt.Errorf("not root and no running test bed of %s: %w", script, err)
	}
	tmp, err := os.MkdirTemp("", "smtp_exporter-"+strings.TrimSuffix(script, ".sh"))
	if err != nil {
		return nil, nil, err
	}
	bin, err := testtool.Build(repoRoot, tmp)
	if err != nil {
		return nil, nil, err
	}
	exp, err := startExporter(bin, tmp, config(env))
	if err != nil {
		return nil, nil, err
	}
	return env, exp, nil
}

// domainConfig holds the domain modules (and one single-target module
// whose host names go to NSD through dns.server; and tb_mx_dane, whose DANE
// check asks NSD, which does not validate DNSSEC). NSD answers for its own
// zones only: the known-good name that tells its failures from the
// domains' is one of them.
func domainConfig(tb *testbed, env map[string]string) string {
	base := fmt.Sprintf("timeout: 5s\n    port: %s\n    tls: opportunistic\n    tls_config: {ca_file: %s}\n    dns: {server: %q, known_good_name: domains.test}",
		env["TESTBED_DNS_SMTP_PORT"], tb.get("TESTBED_CA_FILE"), env["TESTBED_DNS_SERVER"])
	return fmt.Sprintf(`modules:
  tb_mx:
    %[1]s
    mx: {}
  tb_mx_any:
    %[1]s
    mx: {success: any}
  tb_mx_first:
    %[1]s
    mx: {addresses: first, max_hosts: 2}
  tb_single_dns:
    %[1]s
  tb_mx_dane:
    %[1]s
    mx: {}
    dane: check
`, base)
}

// probeDomain asks the exporter for a domain and returns the parsed answer.
func probeDomain(t *testing.T, exp *exporterProcess, domain, module string) metrics {
	t.Helper()
	return parseMetrics(t, scrape(t, fmt.Sprintf("http://%s/probe?target=%s&module=%s", exp.Addr, domain, module)))
}

func want(t *testing.T, m metrics, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := m.value(name, labels...)
	if !ok {
		t.Errorf("no %s%v", name, labels)
		return
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

// pairs returns the (mx, address) pairs of probe_smtp_address_success, sorted.
func pairs(m metrics) []string {
	var out []string
	for _, metric := range m["probe_smtp_address_success"].GetMetric() {
		l := map[string]string{}
		for _, lp := range metric.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		out = append(out, l["mx"]+" "+l["address"])
	}
	sort.Strings(out)
	return out
}

func TestDomainProbes(t *testing.T) {
	_, env, exp := needDomainDNS(t)
	ipv6 := env["TESTBED_DNS_IPV6"] == "1"
	mail, dead := env["TESTBED_DNS_MAIL_HOST"], env["TESTBED_DNS_DEAD_ADDR"]
	mailPairs := []string{mail + " 127.0.0.1"}
	if ipv6 {
		mailPairs = append(mailPairs, mail+" ::1")
	}
	sorted := func(s ...string) []string { sort.Strings(s); return s }
	cases := []struct {
		domain, module string
		success        float64
		reason         string // domain failure reason; "" on success
		pairs          []string
		failing        map[string]string // "mx address" -> pair failure reason
		hosts          float64
		null, implicit float64
		check          func(t *testing.T, m metrics)
	}{
		{domain: "ok.domains.test", module: "tb_mx", success: 1, pairs: mailPairs, hosts: 1, check: func(t *testing.T, m metrics) {
			for _, p := range mailPairs {
				mx, addr, _ := strings.Cut(p, " ")
				want(t, m, 1, "probe_smtp_tls", "mx="+mx, "address="+addr)
				want(t, m, 1, "probe_tls_certificate_verified", "mx="+mx, "address="+addr)
				if v, ok := m.value("probe_smtp_phase_duration_seconds", "mx="+mx, "address="+addr, "phase=tls_handshake"); !ok || v <= 0 {
					t.Errorf("%s: TLS handshake time %v (present %v)", p, v, ok)
				}
				if _, ok := m.value("probe_ssl_earliest_cert_expiry", "mx="+mx, "address="+addr); !ok {
					t.Errorf("no certificate expiry for %s", p)
				}
			}
			want(t, m, 1, "probe_smtp_mx_info", "mx="+mail, "preference=10")
		}},
		{
			// mx2.domains.test is Postfix too, with a certificate for another
			// name: in an opportunistic module, a warning, as senders see it.
			domain: "two.domains.test", module: "tb_mx", success: 1, hosts: 2,
			pairs: func() []string {
				p := append(slices.Clone(mailPairs), "mx2.domains.test 127.0.0.1")
				if ipv6 {
					p = append(p, "mx2.domains.test ::1")
				}
				return sorted(p...)
			}(),
			check: func(t *testing.T, m metrics) {
				want(t, m, 0, "probe_tls_certificate_verified", "mx=mx2.domains.test", "address=127.0.0.1")
				want(t, m, 1, "probe_smtp_warning", "mx=mx2.domains.test", "address=127.0.0.1", "reason=cert_hostname_mismatch")
				want(t, m, 1, "probe_smtp_mx_info", "mx=mx2.domains.test", "preference=20")
			},
		},
		{
			domain: "mixed.domains.test", module: "tb_mx", reason: "address_failed", hosts: 2,
			pairs:   sorted(append(slices.Clone(mailPairs), "dead.domains.test "+dead)...),
			failing: map[string]string{"dead.domains.test " + dead: "connect_refused"},
		},
		{
			domain: "mixed.domains.test", module: "tb_mx_any", success: 1, hosts: 2,
			pairs:   sorted(append(slices.Clone(mailPairs), "dead.domains.test "+dead)...),
			failing: map[string]string{"dead.domains.test " + dead: "connect_refused"},
		},
		{
			domain: "dead.domains.test", module: "tb_mx", reason: "address_failed", hosts: 1,
			pairs: []string{"dead.domains.test " + dead}, failing: map[string]string{"dead.domains.test " + dead: "connect_refused"},
		},
		{domain: "null.domains.test", module: "tb_mx", reason: "null_mx", null: 1, check: func(t *testing.T, m metrics) {
			want(t, m, 1, "probe_smtp_mx_info", "mx=.", "preference=0")
		}},
		{
			domain: "noaddr.domains.test", module: "tb_mx", reason: "no_address", hosts: 1,
			pairs: []string{"ghost.domains.test "}, failing: map[string]string{"ghost.domains.test ": "resolve"},
		},
		{domain: "nowhere.domains.test", module: "tb_mx", reason: "nxdomain"},
		{domain: mail, module: "tb_mx", success: 1, hosts: 1, implicit: 1, pairs: mailPairs},
		{
			// 12 MX hosts, max_hosts 10: the lowest-preference ten are probed.
			domain: "many.domains.test", module: "tb_mx", reason: "address_failed", hosts: 12,
			pairs:   manyPairs(dead),
			failing: manyFailing(dead),
		},
		{
			// first: one address per host, of ip_protocol's family (ip4); two hosts at most.
			domain: "two.domains.test", module: "tb_mx_first", success: 1, hosts: 2,
			pairs: []string{mail + " 127.0.0.1", "mx2.domains.test 127.0.0.1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.domain+" "+tc.module, func(t *testing.T) {
			m := probeDomain(t, exp, tc.domain, tc.module)
			want(t, m, tc.success, "probe_success")
			for _, r := range maildomain.Reasons {
				want(t, m, map[bool]float64{true: 1, false: 0}[string(r) == tc.reason], "probe_smtp_domain_failure", "reason="+string(r))
			}
			want(t, m, tc.hosts, "probe_smtp_mx_hosts")
			want(t, m, tc.null, "probe_smtp_mx_null")
			want(t, m, tc.implicit, "probe_smtp_mx_implicit")
			if got := pairs(m); !slices.Equal(got, tc.pairs) {
				t.Errorf("pairs %q, want %q", got, tc.pairs)
			}
			probed, good := 0.0, 0.0
			for _, p := range tc.pairs {
				mx, addr, _ := strings.Cut(p, " ")
				reason, fails := tc.failing[p]
				want(t, m, map[bool]float64{true: 0, false: 1}[fails], "probe_smtp_address_success", "mx="+mx, "address="+addr)
				if fails {
					want(t, m, 1, "probe_smtp_failure", "mx="+mx, "address="+addr, "reason="+reason)
				}
				if addr != "" {
					probed++
					if !fails {
						good++
					}
				}
				// A pair reports its failure reason only: none when it succeeds.
				if _, ok := m.value("probe_smtp_failure", "mx="+mx, "address="+addr, "reason=target_not_allowed"); ok {
					t.Errorf("%s: a target_not_allowed series", p)
				}
			}
			want(t, m, probed, "probe_smtp_mx_addresses")
			want(t, m, good, "probe_smtp_mx_addresses_success")
			if v, ok := m.value("probe_dns_lookup_time_seconds"); !ok || v <= 0 || v > 5 {
				t.Errorf("probe_dns_lookup_time_seconds = %v (present %v)", v, ok)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func manyPairs(dead string) []string {
	var p []string
	for i := 1; i <= 10; i++ {
		p = append(p, fmt.Sprintf("m%d.many.domains.test %s", i, dead))
	}
	sort.Strings(p)
	return p
}

func manyFailing(dead string) map[string]string {
	f := map[string]string{}
	for _, p := range manyPairs(dead) {
		f[p] = "connect_refused"
	}
	return f
}

// TestDomainBadTargets: in a domain module, a port, an IP address or a
// malformed name is a 400 that says why.
func TestDomainBadTargets(t *testing.T) {
	_, _, exp := needDomainDNS(t)
	for target, text := range map[string]string{
		"ok.domains.test:25": "give the domain without a port",
		"127.0.0.1":          "is an IP address",
		"[::1]":              "is an IP address",
		"bad_name.test":      "is not a domain name",
		"a..domains.test":    "is not a valid host name",
	} {
		resp, err := http.Get(fmt.Sprintf("http://%s/probe?target=%s&module=tb_mx", exp.Addr, target))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), text) {
			t.Errorf("%s: %d %q, want 400 saying %q", target, resp.StatusCode, body, text)
		}
	}
}

// TestDomainDebugAndCLI: the debug page and the probe command show the
// domain table, then each pair's transcript; the command's exit status
// follows probe_success.
func TestDomainDebugAndCLI(t *testing.T) {
	_, _, exp := needDomainDNS(t)
	page := scrape(t, fmt.Sprintf("http://%s/probe?target=mixed.domains.test&module=tb_mx&debug=true", exp.Addr))
	table, transcript := strings.Index(page, "Addresses:"), strings.Index(page, "Transcript:")
	if table < 0 || transcript < table || !strings.Contains(page, "connect_refused: connection refused") ||
		!strings.Contains(page, "Metrics that would have been returned:") {
		t.Errorf("debug page lacks the table before the transcripts:\n%s", page)
	}
	cfg := filepath.Join(filepath.Dir(exp.logFile), "config.yml")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(exp.bin, append([]string{"probe", "--config.file=" + cfg}, args...)...)
		out, err := cmd.Output()
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run("--module", "tb_mx", "ok.domains.test"); code != 0 || !strings.Contains(out, "Verdict: OK") {
		t.Errorf("ok.domains.test: exit %d\n%s", code, out)
	}
	code, out := run("--module", "tb_mx", "--output", "json", "mixed.domains.test")
	var d maildomain.Result
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 1 || d.Failure != maildomain.ReasonAddressFailed {
		t.Errorf("mixed.domains.test JSON: exit %d, %v, %+v", code, err, d.Failure)
	}
	if code, _ := run("--module", "tb_mx", "ok.domains.test:25"); code != 2 {
		t.Errorf("a domain with a port: exit %d, want 2", code)
	}
}

// TestDomainDNSServerForSingleTargets: a module's dns.server answers the
// host names of single targets: mail.testbed.local is known to NSD only.
func TestDomainDNSServerForSingleTargets(t *testing.T) {
	_, env, exp := needDomainDNS(t)
	m := parseMetrics(t, scrape(t, fmt.Sprintf("http://%s/probe?target=%s&module=tb_single_dns", exp.Addr, env["TESTBED_DNS_MAIL_HOST"])))
	want(t, m, 1, "probe_success")
	want(t, m, 1, "probe_tls_certificate_verified")
}

// domainsDashboard is the UID of the "SMTP / Domains" dashboard.
const domainsDashboard = "smtp-exporter-domains"

// TestDomainAlerts: a real Prometheus scrapes domains through the README's
// relabelling, and the domain alerts select what the test bed is: the dead
// address fails, the dead domain has no working address, the null MX and
// the MX without address accept no mail.
func TestDomainAlerts(t *testing.T) {
	_, env, exp := needDomainDNS(t)
	rules, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	config := probeJobsConfig([]string{"smtp_exporter.rules.yml"}, probeJob{"mx", "tb_mx", exp.Addr, []string{
		"ok.domains.test", "mixed.domains.test", "dead.domains.test", "null.domains.test", "noaddr.domains.test", "nowhere.domains.test",
	}})
	prom := startPrometheus(t, config, map[string]string{"smtp_exporter.rules.yml": string(rules)})
	waitUntil(t, 60*time.Second, "two scrapes of every domain", func() error {
		s := prom.query(t, `count_over_time(probe_success[5m]) >= 2`)
		if len(s) == 6 {
			return nil
		}
		return fmt.Errorf("scraped twice: %v; %s", byInstance(s), prom.scrapeProblems(t))
	})
	dead := env["TESTBED_DNS_DEAD_ADDR"]
	key := func(s sample) string {
		k := s.Labels["instance"]
		for _, l := range []string{"mx", "address", "reason"} {
			if v, ok := s.Labels[l]; ok {
				k += " " + v
			}
		}
		return k
	}
	expect := map[string][]string{
		// Only where another address takes mail: a domain whose every
		// address fails pages once, as the domain.
		"SMTPMXAddressFailing":      {"mixed.domains.test dead.domains.test " + dead},
		"SMTPMXAllAddressesFailing": {"dead.domains.test"},
		"SMTPDomainAcceptsNoMail":   {"noaddr.domains.test no_address", "null.domains.test null_mx"},
		"SMTPDomainNotFound":        {"nowhere.domains.test nxdomain"},
		"SMTPDomainMXLookupFailing": nil,
	}
	// The shared test bed may restart under other work: the expressions
	// must settle on what the test bed is within a minute.
	exprs := map[string]string{}
	for _, r := range readAlertRules(t) {
		if _, ok := expect[r.Alert]; ok {
			exprs[r.Alert] = r.Expr
		}
	}
	if len(exprs) != len(expect) {
		t.Fatalf("alerts %v, want %v", exprs, expect)
	}
	waitUntil(t, 60*time.Second, "the domain alerts to select what the test bed is", func() error {
		var problems []string
		for alert, w := range expect {
			got, err := prom.tryQuery(exprs[alert])
			if err != nil {
				return fmt.Errorf("%s: %w", alert, err)
			}
			var keys []string
			for _, s := range got {
				keys = append(keys, key(s))
			}
			sort.Strings(keys)
			if !slices.Equal(keys, w) {
				problems = append(problems, fmt.Sprintf("%s selects %q, want %q", alert, keys, w))
			}
		}
		if len(problems) > 0 {
			return errors.New(strings.Join(problems, "\n"))
		}
		return nil
	})
	// Every query of the domains dashboard returns data on these domains.
	queries := domainsDashboardQueries(t, func(expr string) bool {
		return !isPolicyQuery(expr) // no DANE or MTA-STS here: TestPolicyInPrometheus holds those panels to data
	})
	for where, expr := range queries {
		got, err := prom.tryQuery(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
		} else if len(got) == 0 {
			t.Errorf("%s: no data on the domains: %s", where, expr)
		}
	}
	if len(queries) == 0 {
		t.Errorf("no dashboard %s", domainsDashboard)
	}

	// Prometheus itself holds the failing-address alert (pending: its for
	// has not passed) for the dead address, with its reason in the text.
	waitUntil(t, 20*time.Second, "the failing-address alert for the dead address", func() error {
		alerts, err := prom.tryAlerts()
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "SMTPMXAddressFailing" && a.Labels["instance"] == "mixed.domains.test" &&
				a.Labels["address"] == dead && strings.Contains(a.Annotations["description"], "connect_refused") {
				return nil
			}
		}
		return fmt.Errorf("not among %d alerts", len(alerts))
	})
}

// isPolicyQuery tells the domains dashboard's DANE, MTA-STS and TLS-RPT
// queries, which only the policy test bed's domains answer.
func isPolicyQuery(expr string) bool {
	return strings.Contains(expr, "probe_smtp_mta_sts_") || strings.Contains(expr, "probe_smtp_tlsrpt_") ||
		strings.Contains(expr, "probe_smtp_dane_") || strings.Contains(expr, "probe_smtp_dns_resolver_validating")
}

// domainsDashboardQueries returns the domains dashboard's queries that keep
// accepts, with the dashboard's variables substituted, by where they stand.
func domainsDashboardQueries(t *testing.T, keep func(expr string) bool) map[string]string {
	t.Helper()
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range ds {
		if d.UID != domainsDashboard {
			continue
		}
		qs, err := d.Queries()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if !keep(q.Expr) {
				continue
			}
			expr, err := dashboards.Substitute(q.Expr, dashboards.TestValues)
			if err != nil {
				t.Errorf("%s: %v", q.Where, err)
				continue
			}
			out[q.Where] = expr
		}
	}
	return out
}
