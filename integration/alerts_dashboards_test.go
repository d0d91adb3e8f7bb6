package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/dashboards"
	"github.com/smtp-exporter/smtp_exporter/internal/promnames"
)

// alertRule is an alert of alerts/smtp_exporter.rules.yml.
type alertRule struct {
	Alert  string            `yaml:"alert"`
	Expr   string            `yaml:"expr"`
	Labels map[string]string `yaml:"labels"`
}

func (r alertRule) key() string { return r.Alert + "/" + r.Labels["severity"] }

func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				rules = append(rules, r)
			}
		}
	}
	return rules
}

func instances(samples []sample) []string {
	var out []string
	for _, s := range samples {
		out = append(out, s.Labels["instance"])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// checkAlerts evaluates every alert expression on the test bed's Prometheus
// and compares the targets it selects with what the test bed's listeners
// are; then checks the alerts Prometheus itself holds (pending: the test
// does not wait out `for`) and their expanded annotations.
func checkAlerts(t *testing.T, tb *testbed, prom *prometheusServer, refused, filtered string) {
	// The EXPIRING certificate was made about 10 days from expiry when the
	// test bed started; a test bed kept running for days crosses 7.
	daysLeft := (tb.unix("TESTBED_CHAIN_EARLIEST_NOT_AFTER_EXPIRING") - float64(time.Now().Unix())) / 86400
	expiring := map[string][]string{"warning": nil, "critical": nil}
	switch {
	case daysLeft >= 7 && daysLeft < 21:
		expiring["warning"] = []string{tb.addr("EXPIRING")}
	case daysLeft > 0 && daysLeft < 7:
		expiring["critical"] = []string{tb.addr("EXPIRING")}
	default:
		t.Fatalf("the test bed's EXPIRING certificate has %.1f days left; restart the test bed", daysLeft)
	}
	sorted := func(s ...string) []string { sort.Strings(s); return s }
	// What each alert's expression selects now.
	want := map[string][]string{
		"SMTPPortBlocked/critical":        sorted(refused, filtered),
		"SMTPProbeFailing/critical":       nil, // every failure in the test bed has its own alert
		"SMTPStartTLSNotOffered/critical": {tb.addr("NOTLS")},
		// Every target of the opportunistic job offers STARTTLS (the scenario
		// test has one that does not).
		"SMTPStartTLSNotOffered/warning":         nil,
		"SMTPCertificateExpiringSoon/warning":    expiring["warning"],
		"SMTPCertificateExpiringSoon/critical":   expiring["critical"],
		"SMTPCertificateInvalid/critical":        sorted(tb.addr("EXPIRED"), tb.addr("WRONGHOST")),
		"SMTPCertificateInvalid/warning":         nil, // the opportunistic job's targets have good certificates
		"SMTPTLSFallbackToPlainText/warning":     nil,
		"SMTPExporterDown/warning":               nil,
		"SMTPExporterConfigReloadFailed/warning": nil,
		"SMTPProbeFlapping/warning":              nil,
		"SMTPTLSVersionOutdated/warning":         nil,
		"SMTPAuthBeforeTLS/warning":              {tb.addr("AUTHPLAIN")},
		"SMTPGreetingRejected/critical":          {tb.addr("REJECT")},
		"SMTPSlowHandshake/warning":              nil,
		"SMTPProbeScrapeFailing/warning":         {tb.addr("NOTLS")}, // smtp_by_port: no module for its port
		// ... so job smtp_by_port has a target nobody watches: one page for the job.
		"SMTPMonitoringBlind/critical": {""},
		// The posture job: LEGACYTLS takes TLS 1.0/1.1 and weak suites;
		// its certificate is RSA 2048 SHA-256, its PTR confirms.
		"SMTPLegacyTLSAccepted/warning":        {tb.addr("LEGACYTLS")},
		"SMTPWeakCipherAccepted/warning":       {tb.addr("LEGACYTLS")},
		"SMTPCertificateWeakKey/warning":       nil,
		"SMTPCertificateWeakSignature/warning": nil,
		"SMTPCertificateRevoked/critical":      nil,
		"SMTPCertificateRevoked/warning":       nil,
		"SMTPNoFCrDNS/warning":                 nil,
		// Mail domains: this Prometheus scrapes no domain (TestDomainAlerts does).
		"SMTPMXAddressFailing/warning":         nil,
		"SMTPMXAllAddressesFailing/critical":   nil,
		"SMTPDomainAcceptsNoMail/critical":     nil,
		"SMTPDomainMXLookupFailing/critical":   nil,
		"SMTPDomainDNSSECBogus/critical":       nil,
		"SMTPDomainNotFound/critical":          nil,
		"SMTPDNSResolverFailing/warning":       nil,
		"SMTPDNSResolverNotValidating/warning": nil,
		"SMTPDomainPolicyMissing/warning":      nil,
		"SMTPDomainPolicyDowngraded/warning":   nil,
		// DANE and MTA-STS: no module of this Prometheus checks them (TestPolicyInPrometheus does).
		"SMTPDANEMismatch/critical":                   nil,
		"SMTPDNSSECBogus/critical":                    nil,
		"SMTPMTASTSViolation/critical":                nil,
		"SMTPMTASTSPolicyUnreachable/warning":         nil,
		"SMTPMTASTSPolicyCertificateExpiring/warning": nil,
		// Issue 25: this Prometheus has one vantage point, no egress
		// canaries and no injection check (TestEgressBlockedOneAlert has).
		"SMTPPortBlockedFromVantage/warning": nil,
		"SMTPEgressBlocked/warning":          nil,
		"SMTPEgressIntercepted/warning":      nil,
		"SMTPStartTLSInjection/critical":     nil,
		"SMTPStartTLSInjection/warning":      nil,
	}
	rules := readAlertRules(t)
	for _, r := range rules {
		w, ok := want[r.key()]
		if !ok {
			t.Errorf("%s: no expectation in this test; add what it selects on the test bed", r.key())
			continue
		}
		got, err := prom.tryQuery(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", r.key(), err)
			continue
		}
		if g := instances(got); !slices.Equal(g, w) {
			t.Errorf("%s selects %v on the test bed, want %v\n%s", r.key(), g, w, r.Expr)
		}
	}
	if len(rules) != len(want) {
		t.Errorf("%d alert rules, %d expectations", len(rules), len(want))
	}
	checkGrafanaRules(t, prom, want, filtered)

	// Prometheus's own evaluation: the alerts are pending (their `for` has
	// not passed) with the annotations a receiver would get.
	pending := map[string][]string{}
	for k, inst := range want {
		if len(inst) > 0 {
			pending[strings.Split(k, "/")[0]] = append(pending[strings.Split(k, "/")[0]], inst...)
		}
	}
	var alerts struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			State       string            `json:"state"`
		} `json:"alerts"`
	}
	waitUntil(t, 20*time.Second, "Prometheus to hold every expected alert", func() error {
		if err := prom.tryAPI("/api/v1/alerts", &alerts); err != nil {
			return err
		}
		got := map[string][]string{}
		for _, a := range alerts.Alerts {
			got[a.Labels["alertname"]] = append(got[a.Labels["alertname"]], a.Labels["instance"])
		}
		for name := range got {
			if _, ok := pending[name]; !ok {
				return fmt.Errorf("unexpected alert %s for %v", name, got[name])
			}
		}
		for name, inst := range pending {
			if g := sorted(got[name]...); !slices.Equal(g, sorted(inst...)) {
				return fmt.Errorf("%s active for %v, want %v", name, g, sorted(inst...))
			}
		}
		return nil
	})
	wantText := map[string]string{
		"SMTPPortBlocked " + refused:                         "the connection is refused",
		"SMTPPortBlocked " + filtered:                        "SYNs go unanswered",
		"SMTPCertificateInvalid " + tb.addr("EXPIRED"):       "it has expired",
		"SMTPCertificateInvalid " + tb.addr("WRONGHOST"):     "does not name the host probed",
		"SMTPGreetingRejected " + tb.addr("REJECT"):          "reply code 554",
		"SMTPCertificateExpiringSoon " + tb.addr("EXPIRING"): fmt.Sprintf("expires in %.0f days", daysLeft),
	}
	for _, a := range alerts.Alerts {
		name, inst := a.Labels["alertname"], a.Labels["instance"]
		if a.State != "pending" {
			t.Errorf("%s %s is %s, want pending (its for has not passed)", name, inst, a.State)
		}
		for k, v := range a.Annotations {
			if strings.Contains(v, "error expanding") || strings.Contains(v, "<no value>") || strings.Contains(v, "{{") {
				t.Errorf("%s %s: annotation %s did not expand: %s", name, inst, k, v)
			}
		}
		if !strings.Contains(a.Annotations["summary"]+a.Annotations["description"], inst) {
			t.Errorf("%s %s: summary and description do not name the target: %v", name, inst, a.Annotations)
		}
		if text, ok := wantText[name+" "+inst]; ok && !strings.Contains(a.Annotations["summary"]+" "+a.Annotations["description"], text) {
			t.Errorf("%s %s: annotations %v do not say %q", name, inst, a.Annotations, text)
		}
		if want := "https://github.com/smtp-exporter/smtp_exporter/blob/main/docs/runbooks.md#" + strings.ToLower(name); a.Annotations["runbook_url"] != want {
			t.Errorf("%s %s: runbook_url %q, want %q", name, inst, a.Annotations["runbook_url"], want)
		}
		// The dashboard opens on the alert's target, or its job for an
		// alert per job (the monitor gone blind for its targets).
		if u := a.Annotations["dashboard_url"]; inst == "" {
			if !strings.HasSuffix(u, "?var-job="+a.Labels["job"]) {
				t.Errorf("%s of job %s: dashboard_url %q does not open the dashboard on this job", name, a.Labels["job"], u)
			}
		} else if !strings.HasPrefix(u, "http://localhost:3000/d/smtp-exporter-") ||
			!strings.Contains(u, "&var-instance="+inst+"&viewPanel=") || !strings.Contains(u, "var-job="+a.Labels["job"]+"&") {
			t.Errorf("%s %s: dashboard_url %q does not open the dashboard on this target", name, inst, u)
		}
	}
}

// checkDashboards runs every query of every dashboard, variables filled in
// as Grafana would with "All" selected: none may fail, and on the test bed,
// which has up, failing, TLS, expiring and AUTH targets, every one must
// return data.
func checkDashboards(t *testing.T, tb *testbed, prom *prometheusServer, refused, filtered string) {
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	n, matrixChecked := 0, false
	for _, d := range ds {
		qs, err := d.Queries()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			expr, err := dashboards.Substitute(q.Expr, dashboards.TestValues)
			if err != nil {
				t.Errorf("%s: %v", q.Where, err)
				continue
			}
			n++
			got, err := prom.tryQuery(expr)
			if err != nil {
				t.Errorf("%s: %v", q.Where, err)
				continue
			}
			// No test bed target has a warning (a problem its module
			// accepts), and no job of its Prometheus checks DANE: queries
			// of those metrics alone must run, and may be empty.
			// Postfix cannot staple OCSP: the series that need a stapled
			// response may be empty too (unit tests cover them).
			mayBeEmpty := !slices.ContainsFunc(promnames.InQuery(expr), func(n string) bool {
				return n != "probe_smtp_warning" && !strings.HasPrefix(n, "probe_smtp_dane_") &&
					n != "probe_tls_ocsp_response_valid" && n != "probe_tls_ocsp_status" &&
					n != "probe_tls_ocsp_next_update_timestamp_seconds"
			})
			// This Prometheus scrapes no mail domain: the domains
			// dashboard's queries must run here, and are held to data by
			// TestDomainAlerts, whose Prometheus scrapes domains.
			mayBeEmpty = mayBeEmpty || d.UID == domainsDashboard
			// The test bed's exporter has no egress canaries, and no job
			// of its Prometheus runs the STARTTLS injection check: those
			// panels must run here, and are held to data by
			// TestEgressBlockedOneAlert, whose exporter has both.
			mayBeEmpty = mayBeEmpty || slices.ContainsFunc(promnames.InQuery(expr), func(n string) bool {
				return strings.HasPrefix(n, "smtp_exporter_egress_") || n == "probe_smtp_egress_open" || n == "probe_smtp_starttls_injection"
			})
			if len(got) == 0 && !mayBeEmpty {
				t.Errorf("%s: no data on the test bed: %s", q.Where, expr)
			}
			if strings.Contains(q.Where, `"Target matrix"`) {
				matrixChecked = true
				checkPortMatrix(t, tb, got, refused, filtered)
			}
		}
	}
	if !matrixChecked {
		t.Error(`no "Target matrix" panel on the overview`)
	}
	t.Logf("%d dashboard queries evaluated", n)
}

// checkPortMatrix checks the overview's target matrix: the query splits the
// target into host and port, makes the column of port and module (one cell
// per target and module), and says in status what the cell shows.
func checkPortMatrix(t *testing.T, tb *testbed, cells []sample, refused, filtered string) {
	t.Helper()
	// By target and module ("" in smtp_by_port, where the port chose it).
	want := map[[2]string]string{
		{tb.addr("SMTP"), "tb_smtp"}:      "up, TLS 1.3",
		{tb.addr("SMTP"), ""}:             "up, TLS 1.3",
		{tb.addr("AUTHPLAIN"), "tb_smtp"}: "up, TLS 1.3",
		{tb.addr("NOTLS"), "tb_starttls"}: "starttls_not_advertised",
		{tb.addr("NOTLS"), ""}:            "scrape failed",
		{tb.addr("REJECT"), "tb_smtp"}:    "banner_rejected",
		{refused, "tb_smtp"}:              "connect_refused",
		{filtered, "tb_smtp"}:             "connect_timeout",
	}
	seen := 0
	for _, c := range cells {
		inst := c.Labels["instance"]
		host, port, _ := strings.Cut(inst, ":")
		if c.Labels["host"] != host || c.Labels["port"] != port {
			t.Errorf("port matrix: %s split into host %q port %q", inst, c.Labels["host"], c.Labels["port"])
		}
		if want := port + " " + c.Labels["module"]; c.Labels["column"] != want {
			t.Errorf("port matrix: %s (module %s) in column %q, want %q", inst, c.Labels["module"], c.Labels["column"], want)
		}
		if w, ok := want[[2]string{inst, c.Labels["module"]}]; ok {
			seen++
			if c.Labels["status"] != w {
				t.Errorf("port matrix: %s status %q, want %q", inst, c.Labels["status"], w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("port matrix: %d of the %d checked targets present: %v", seen, len(want), cells)
	}
}

// grafanaRule is a Grafana-managed rule of alerts/grafana/, as the
// provisioning API takes it (internal/alertgen generates it from the rule
// file; alerts/ checks it decodes strictly with the SDK's types).
type grafanaRule struct {
	Title     string            `json:"title"`
	Condition string            `json:"condition"`
	Labels    map[string]string `json:"labels"`
	Data      []struct {
		RefID         string `json:"refId"`
		DatasourceUID string `json:"datasourceUid"`
		Model         struct {
			Expr       string `json:"expr"`
			Instant    bool   `json:"instant"`
			Type       string `json:"type"`
			Expression string `json:"expression"`
			Reducer    string `json:"reducer"`
			Conditions []struct {
				Evaluator struct {
					Type   string    `json:"type"`
					Params []float64 `json:"params"`
				} `json:"evaluator"`
			} `json:"conditions"`
		} `json:"model"`
	} `json:"data"`
}

// checkGrafanaRules evaluates each Grafana-managed rule on the test bed's
// Prometheus the way Grafana does: its query (A) as an instant query, then
// its expressions (reduce, math, threshold) on each series; the targets
// for which the condition holds must be those where the matching
// Prometheus alert's expression fires (want), the filtered port among the
// blocked ones.
func checkGrafanaRules(t *testing.T, prom *prometheusServer, want map[string][]string, filtered string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "grafana", "smtp_exporter.json"))
	if err != nil {
		t.Fatal(err)
	}
	var group struct {
		Rules []grafanaRule `json:"rules"`
	}
	if err := json.Unmarshal(b, &group); err != nil {
		t.Fatal(err)
	}
	if len(group.Rules) != len(want) {
		t.Errorf("%d Grafana rules, %d expectations", len(group.Rules), len(want))
	}
	for _, r := range group.Rules {
		name, _, _ := strings.Cut(r.Title, " (")
		key := name + "/" + r.Labels["severity"]
		w, ok := want[key]
		if !ok {
			t.Errorf("Grafana rule %s: no expectation", key)
			continue
		}
		firing, err := evalGrafanaRule(prom, r)
		if err != nil {
			t.Errorf("Grafana rule %s: %v", key, err)
			continue
		}
		if !slices.Equal(firing, w) {
			t.Errorf("Grafana rule %s fires for %v on the test bed, the Prometheus alert for %v", key, firing, w)
		}
		if name == "SMTPPortBlocked" && !slices.Contains(firing, filtered) {
			t.Errorf("Grafana rule %s does not fire for the filtered port %s", key, filtered)
		}
	}
}

// evalGrafanaRule runs a rule's query and applies its expressions as
// Grafana's server-side expressions do, for the kinds the generator
// writes; it returns the targets for which the condition is true.
func evalGrafanaRule(prom *prometheusServer, r grafanaRule) ([]string, error) {
	// Per series (by instance and labels), the value of each ref id.
	values := map[string]map[string]float64{}
	instance := map[string]string{}
	for _, d := range r.Data {
		m := d.Model
		switch {
		case d.DatasourceUID != "__expr__":
			if !m.Instant || m.Expr == "" {
				return nil, fmt.Errorf("%s: not an instant query", d.RefID)
			}
			samples, err := prom.tryQuery(m.Expr)
			if err != nil {
				return nil, err
			}
			for _, s := range samples {
				id := fmt.Sprint(s.Labels)
				values[id] = map[string]float64{d.RefID: s.Value}
				instance[id] = s.Labels["instance"]
			}
		case m.Type == "reduce" && m.Reducer == "last":
			// An instant query has one value per series: its last.
			for _, v := range values {
				v[d.RefID] = v[m.Expression]
			}
		case m.Type == "math" && m.Expression == "is_number($B) || is_nan($B) || is_inf($B)":
			for _, v := range values {
				v[d.RefID] = 1 // every value is a number, NaN or infinite
			}
		case m.Type == "threshold" && len(m.Conditions) == 1 && m.Conditions[0].Evaluator.Type == "gt":
			for _, v := range values {
				v[d.RefID] = 0
				if v[m.Expression] > m.Conditions[0].Evaluator.Params[0] {
					v[d.RefID] = 1
				}
			}
		default:
			return nil, fmt.Errorf("%s: expression %+v is not one this test evaluates", d.RefID, m)
		}
	}
	var out []string
	for id, v := range values {
		if v[r.Condition] != 0 {
			out = append(out, instance[id])
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}
