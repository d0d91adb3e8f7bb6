package integration

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/dashboards"
	"github.com/smtp-exporter/smtp_exporter/internal/netnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/promnames"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

// TestEgressBlockedOneAlert is issue 25's case on real parts: the real
// exporter runs in a network namespace of the test's own, with egress
// canaries for port 25; a real Prometheus scrapes it and evaluates the
// shipped alert rules. When the namespace's nftables drop everything to
// port 25, three healthy port-25 targets give exactly one alert,
// SMTPEgressBlocked, and no SMTPPortBlocked; the probe command run from
// the namespace says why; lifting the rule ends it.
func TestEgressBlockedOneAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the integration test (real exporter in a namespace, real Prometheus)")
	}
	ns := netnstest.New(t)
	// Healthy servers offer STARTTLS with a certificate that verifies: a
	// port-25 server without it warns (SMTPStartTLSNotOffered), one with a
	// bad certificate too (SMTPCertificateInvalid), and this test wants no
	// alert but egress's.
	ca := smtptest.NewCA(t)
	serve := func(n int) []string {
		var addrs []string
		for range n {
			ln := ns.Listen(t, "ip4", 25)
			ip := ln.Addr().(*net.TCPAddr).IP
			starttls := smtptest.ServerTLS(ca.Issue(t, smtptest.Leaf{IPs: []net.IP{ip}}))
			srv := smtptest.Serve(t, ln, func(c net.Conn, s *smtptest.Server) {
				s.Converse(c, smtptest.Config{Greeting: "220 mx.example.test ESMTP\r\n", StartTLS: starttls})
			})
			addrs = append(addrs, srv.Addr)
		}
		return addrs
	}
	canaries, targets := serve(3), serve(3)
	sort.Strings(targets)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	doc := "modules:\n  smtp: {tls: opportunistic, timeout: 2s, starttls_injection_check: true, tls_config: {ca_file: '" + ca.File + "'}}\n" +
		"egress:\n  interval: 1s\n  timeout: 500ms\n  quorum: 2\n  canaries:\n"
	for _, c := range canaries {
		doc += "    - {target: '" + c + "'}\n"
	}
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := testtool.Binary(t)
	exporterAddr := netip.AddrPortFrom(ns.NSIP, 9667).String()
	startInNamespace(t, ns, bin, exporterAddr, "--config.file="+cfg)

	rules, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [smtp_exporter.rules.yml]
scrape_configs:
  - job_name: smtp_exporter
    static_configs: [{targets: ['%s']}]
  - job_name: smtp
    metrics_path: /probe
    params: {module: [smtp]}
    static_configs: [{targets: ['%s']}]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {source_labels: [__param_module], target_label: module}
      - {target_label: __address__, replacement: '%s'}
`, exporterAddr, strings.Join(targets, "', '"), exporterAddr), map[string]string{"smtp_exporter.rules.yml": string(rules)})

	// Open: the targets answer, and their probes say the path is open.
	waitQuery(t, prom, `probe_success{job="smtp"} == 1 and probe_smtp_egress_open == 1`, len(targets))
	waitQuery(t, prom, `smtp_exporter_egress_state{port="25",family="ip4",state="open"} == 1`, 1)

	ns.Nft(t, "table inet egress_test {\n  chain output {\n    type filter hook output priority 0; policy accept;\n    tcp dport 25 drop\n  }\n}\n")
	waitQuery(t, prom, `smtp_exporter_egress_state{port="25",family="ip4",state="blocked"} == 1`, 1)
	waitQuery(t, prom, `probe_smtp_egress_open == 0`, len(targets))
	// Every target fails to connect from here: without the hold-back,
	// SMTPPortBlocked would be pending for each.
	if got := prom.query(t, `max without (reason) (probe_smtp_failure{reason=~"connect_.*"}) == 1`); len(got) != len(targets) {
		t.Fatalf("%d targets fail to connect, want %d: the test would prove nothing", len(got), len(targets))
	}
	// A few evaluations more, then the alerts Prometheus holds.
	time.Sleep(4 * time.Second)
	alerts := activeAlerts(t, prom)
	if len(alerts) != 1 || alerts[0].Labels["alertname"] != "SMTPEgressBlocked" ||
		alerts[0].Labels["port"] != "25" || alerts[0].Labels["family"] != "ip4" || alerts[0].Labels["instance"] != exporterAddr {
		t.Errorf("alerts with egress to 25 dropped: %v, want exactly SMTPEgressBlocked{port=25,family=ip4,instance=%s}", alerts, exporterAddr)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == "SMTPPortBlocked" {
			t.Errorf("SMTPPortBlocked for %s while egress is blocked", a.Labels["instance"])
		}
	}
	checkEgressPanels(t, prom)

	// The probe command, run from the same host, says whose fault it is.
	cmd := ns.Command(bin, "probe", "--config.file="+cfg, "--module=smtp", targets[0])
	out, err := cmd.CombinedOutput()
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 {
		t.Errorf("probe command: %v, want exit 1 (a failed probe)\n%s", err, out)
	}
	if want := "egress to port 25 from this host: blocked (3/3 IPv4 canaries time out): this result says nothing about the target"; !strings.Contains(string(out), want) {
		t.Errorf("probe command output lacks %q:\n%s", want, out)
	}

	// Lifted: the path is open again and the alert goes.
	ns.FlushNft(t)
	waitQuery(t, prom, `smtp_exporter_egress_state{port="25",family="ip4",state="open"} == 1`, 1)
	waitQuery(t, prom, `probe_success{job="smtp"} == 1`, len(targets))
	for end := time.Now().Add(15 * time.Second); len(activeAlerts(t, prom)) > 0; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("alerts after the block was lifted: %v", activeAlerts(t, prom))
		}
	}
}

// startInNamespace runs the exporter inside ns, listening on addr there,
// and waits until it answers from the test's side of the veth.
func startInNamespace(t *testing.T, ns *netnstest.NS, bin, addr string, args ...string) {
	t.Helper()
	logs := &testtool.SyncBuffer{}
	cmd := ns.Command(bin, append(args, "--web.listen-address="+addr, "--log.level=debug")...)
	p, err := testtool.StartCommand(cmd, addr, logs)
	if err != nil {
		t.Fatalf("the exporter in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		p.Stop()
		<-p.Exited()
		if t.Failed() {
			t.Logf("exporter log:\n%s", logs.String())
		}
	})
}

// waitQuery waits until q returns n series.
func waitQuery(t *testing.T, prom *prometheusServer, q string, n int) {
	t.Helper()
	var got []sample
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		var err error
		if got, err = prom.tryQuery(q); err == nil && len(got) == n {
			return
		}
	}
	t.Fatalf("%s: %d series after 20s, want %d: %v", q, len(got), n, got)
}

// activeAlerts are the alerts Prometheus holds, pending or firing.
func activeAlerts(t *testing.T, prom *prometheusServer) []promAlert {
	t.Helper()
	alerts, err := prom.tryAlerts()
	if err != nil {
		t.Fatalf("reading the alerts: %v", err)
	}
	return alerts
}

// checkEgressPanels: the dashboard queries of the egress series, which the
// test bed's Prometheus has no data for, have data here.
func checkEgressPanels(t *testing.T, prom *prometheusServer) {
	t.Helper()
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range ds {
		qs, err := d.Queries()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if !slices.ContainsFunc(promnames.InQuery(q.Expr), func(n string) bool {
				return strings.HasPrefix(n, "smtp_exporter_egress_") || n == "probe_smtp_egress_open" || n == "probe_smtp_starttls_injection"
			}) {
				continue
			}
			expr, err := dashboards.Substitute(q.Expr, dashboards.TestValues)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			if got, err := prom.tryQuery(expr); err != nil || len(got) == 0 {
				t.Errorf("%s: no data with egress blocked (%v): %s", q.Where, err, expr)
			}
		}
	}
	if checked < 3 {
		t.Errorf("%d egress and injection panel queries, want at least 3", checked)
	}
}
