package integration

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/amtest"
)

// TestAlertScenarios plays the incidents of issue 24 on the real test bed:
// one Prometheus with the shipped rules scrapes the three exporters (the
// Postfix listeners, the DNS domains, the DNSSEC and policy domains) through
// the README's relabelling, and every alert rule's expression is evaluated
// now (its `for` only delays it). For each target (job and instance, or the
// job for an alert per job) the set of alerts and severities must be exactly
// the scenario's; then a real Alertmanager with examples/alertmanager gets
// those alerts, and must page once for each affected target or domain.
func TestAlertScenarios(t *testing.T) {
	tb, exp := needTestbed(t)
	_, _, dnsExp := needDomainDNS(t)
	env, polExp := needPolicyBed(t)
	mail := env["TESTBED_DNSSEC_MAIL_HOST"]
	zone := env["TESTBED_DNSSEC_POLICY_ZONE"]
	at := func(port string) string { return mail + ":" + tb.port(port) }
	refused := "127.0.0.1:9" // discard: nothing listens on loopback
	// An exporter that is gone: a loopback port that was just free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadExporter := ln.Addr().String()
	ln.Close()

	jobs := []probeJob{
		{"scen_smtp", "tb_smtp", exp.Addr, []string{tb.addr("SMTP"), refused}},
		{"scen_auth", "tb_submission_wrong_password", exp.Addr, []string{tb.addr("SUBMISSION")}},
		{"scen_mx", "tb_mx", dnsExp.Addr, []string{"dead.domains.test", "mixed.domains.test"}},
		{"scen_mx_nsd_dane", "tb_mx_dane", dnsExp.Addr, []string{"ok.domains.test"}},
		{"scen_dane", "pol_dane", polExp.Addr, []string{at("SUBMISSION"), at("NOTLS"), env["TESTBED_DNSSEC_BOGUS_HOST"] + ":" + tb.port("SMTP")}},
		{"scen_pol_mx", "pol_mx", polExp.Addr, []string{"enforce." + zone, "violation." + zone, env["TESTBED_DNSSEC_EXPIRED_DOMAIN"], "nowhere." + zone, "bogusmx." + zone}},
		{"scen_enforce", "pol_mx_enforce", polExp.Addr, []string{"enforce." + zone, "plain." + zone}},
		{"scen_sendonly", "pol_sendonly", polExp.Addr, []string{"sendonly." + zone}},
		{"scen_deadresolver", "pol_mx_deadresolver", polExp.Addr, []string{"enforce." + zone}},
		{"scen_blind", "tb_smtp", deadExporter, []string{"mx1.blind.example:25", "mx2.blind.example:25"}},
	}
	// What fires, by "job instance" (or "job" for an alert per job), as
	// "alertname/severity". A target without an entry has no alert.
	want := map[string][]string{
		// Postfix stopped: the port refuses, the domain whose only MX it is
		// has no address that takes mail; one page each.
		"scen_smtp " + refused:      {"SMTPPortBlocked/critical"},
		"scen_mx dead.domains.test": {"SMTPMXAllAddressesFailing/critical"},
		// A dead backup MX while the primary takes mail: a ticket.
		"scen_mx mixed.domains.test": {"SMTPMXAddressFailing/warning"},
		// AUTH broken.
		"scen_auth " + tb.addr("SUBMISSION"): {"SMTPProbeFailing/critical"},
		// The certificate no longer matches the TLSA record; STARTTLS off on
		// a host with TLSA records; TLSA records that fail validation.
		"scen_dane " + at("SUBMISSION"): {"SMTPDANEMismatch/critical"},
		"scen_dane " + at("NOTLS"):      {"SMTPDANEMismatch/critical", "SMTPStartTLSNotOffered/warning"},
		// (Its certificate does not name mail.bogus.test either: DANE
		// decides, WebPKI's verdict is a warning, which the page covers.)
		"scen_dane " + env["TESTBED_DNSSEC_BOGUS_HOST"] + ":" + tb.port("SMTP"): {"SMTPCertificateInvalid/warning", "SMTPDNSSECBogus/critical"},
		// The MTA-STS policy names another MX; the zone's signatures expired;
		// the domain does not exist; its only MX host's addresses are bogus.
		"scen_pol_mx violation." + zone:                       {"SMTPMTASTSViolation/critical"},
		"scen_pol_mx " + env["TESTBED_DNSSEC_EXPIRED_DOMAIN"]: {"SMTPDomainDNSSECBogus/critical"},
		"scen_pol_mx nowhere." + zone:                         {"SMTPDomainNotFound/critical"},
		"scen_pol_mx bogusmx." + zone:                         {"SMTPDomainDNSSECBogus/critical"},
		// MTA-STS in enforce mode required and not published.
		"scen_enforce plain." + zone: {"SMTPDomainPolicyMissing/warning"},
		// The monitor's own DNS: a resolver that is down, one that does not
		// validate (NSD). Tickets for the monitoring's owner, per job.
		"scen_deadresolver": {"SMTPDNSResolverFailing/warning"},
		"scen_mx_nsd_dane":  {"SMTPDNSResolverNotValidating/warning"},
		// The exporter killed: the job pages once, its targets' scrape
		// tickets say the same.
		"scen_blind":                      {"SMTPMonitoringBlind/critical"},
		"scen_blind mx1.blind.example:25": {"SMTPProbeScrapeFailing/warning"},
		"scen_blind mx2.blind.example:25": {"SMTPProbeScrapeFailing/warning"},
	}

	rules, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, probeJobsConfig([]string{"smtp_exporter.rules.yml"}, jobs...), map[string]string{"smtp_exporter.rules.yml": string(rules)})
	waitUntil(t, 90*time.Second, "two scrapes of every scenario target", func() error {
		n := 0
		for _, j := range jobs {
			n += len(j.targets)
		}
		if got := prom.query(t, `count_over_time(up{job=~"scen_.*"}[5m]) >= 2`); len(got) != n {
			return fmt.Errorf("%d of %d targets scraped twice; %s", len(got), n, prom.scrapeProblems(t))
		}
		return nil
	})

	var firing []map[string]string
	waitUntil(t, 90*time.Second, "the alerts of every scenario", func() error {
		got := map[string][]string{}
		firing = nil
		for _, r := range readAlertRules(t) {
			samples, err := prom.tryQuery(r.Expr)
			if err != nil {
				return fmt.Errorf("%s: %w", r.key(), err)
			}
			for _, s := range samples {
				if !strings.HasPrefix(s.Labels["job"], "scen_") {
					continue
				}
				key := s.Labels["job"]
				if inst := s.Labels["instance"]; inst != "" {
					key += " " + inst
				}
				got[key] = append(got[key], r.key())
				a := map[string]string{"alertname": r.Alert}
				maps.Copy(a, s.Labels)
				maps.Copy(a, r.Labels)
				firing = append(firing, a)
			}
		}
		var problems []string
		for key := range union(got, want) {
			g := sorted(slices.Compact(sorted(got[key])))
			if w := sorted(want[key]); !slices.Equal(g, w) {
				problems = append(problems, fmt.Sprintf("%s: %v, want %v", key, g, w))
			}
		}
		if len(problems) > 0 {
			sort.Strings(problems)
			return errors.New(strings.Join(problems, "\n"))
		}
		return nil
	})

	// The texts say the cause: STARTTLS gone is not a TLSA problem.
	checkScenarioTexts(t, prom, map[string]string{
		"SMTPDANEMismatch " + at("NOTLS"):      "STARTTLS is no longer offered",
		"SMTPDANEMismatch " + at("SUBMISSION"): "has matched none of its",
	})

	// One page per affected target or domain, through the example
	// Alertmanager configuration.
	config, err := filepath.Abs(filepath.Join(repoRoot, "examples", "alertmanager", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	am := amtest.Start(t, config)
	am.Add(t, firing)
	groups := am.Groups(t, len(firing))
	wantPages := sorted([]string{
		"", // the blind monitor, once for its jobs
		refused, "dead.domains.test", tb.addr("SUBMISSION"),
		at("SUBMISSION"), at("NOTLS"), env["TESTBED_DNSSEC_BOGUS_HOST"] + ":" + tb.port("SMTP"),
		"violation." + zone, env["TESTBED_DNSSEC_EXPIRED_DOMAIN"], "nowhere." + zone, "bogusmx." + zone,
	})
	if got := amtest.Notifying(groups, "pager", "instance"); !slices.Equal(got, wantPages) {
		t.Errorf("pages for %q, want %q", got, wantPages)
	}
	// Tickets: the warnings no page covers (the blind job's scrape tickets
	// and STARTTLS on the mismatching host are held back).
	wantTickets := sorted([]string{"", "mixed.domains.test", "plain." + zone})
	if got := amtest.Notifying(groups, "tickets", "instance"); !slices.Equal(got, wantTickets) {
		t.Errorf("tickets for %q, want %q", got, wantTickets)
	}
}

// checkScenarioTexts checks that the alerts Prometheus holds (pending) say
// what they should, by "alertname instance".
func checkScenarioTexts(t *testing.T, prom *prometheusServer, want map[string]string) {
	t.Helper()
	waitUntil(t, 30*time.Second, "the alert texts", func() error {
		alerts, err := prom.tryAlerts()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, a := range alerts {
			key := a.Labels["alertname"] + " " + a.Labels["instance"]
			if text, ok := want[key]; ok {
				if d := a.Annotations["description"]; !strings.Contains(d, text) {
					return fmt.Errorf("%s says %q, want %q in it", key, d, text)
				}
				seen[key] = true
			}
		}
		for key := range want {
			if !seen[key] {
				return fmt.Errorf("%s is not among the alerts", key)
			}
		}
		return nil
	})
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func union(a, b map[string][]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
