package integration

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The DANE and MTA-STS tests run against testbed/dnssec.sh: signed zones
// served by NSD, Unbound validating them, nginx serving MTA-STS policies,
// and the Postfix test bed whose certificates the TLSA records pin. They
// have an exporter of their own, whose modules ask that Unbound.

var (
	policyOnce sync.Once
	policyEnv  map[string]string
	policyExp  *exporterProcess
	policyErr  error
)

func needPolicyBed(t *testing.T) (map[string]string, *exporterProcess) {
	t.Helper()
	tb, _ := needTestbed(t)
	policyOnce.Do(func() { policyEnv, policyExp, policyErr = setupPolicy(tb) })
	if policyErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("DNSSEC test bed unavailable under CI=true: %v", policyErr)
		}
		t.Skipf("DNSSEC test bed unavailable (run as root, or start it with `bash testbed/dnssec.sh start`): %v", policyErr)
	}
	return policyEnv, policyExp
}

func setupPolicy(tb *testbed) (map[string]string, *exporterProcess, error) {
	return startBed("dnssec.sh", "TESTBED_DNSSEC_DIR", "/var/tmp/smtp_exporter-dnssec", "dnssec.env",
		[]string{"TESTBED_DIR=" + tb.get("TESTBED_DIR")},
		func(env map[string]string) string { return policyConfig(tb, env) })
}

const policyTimeout = 5 * time.Second

func policyModules(tb *testbed, env map[string]string) []testbedModule {
	// The bed's Unbound reaches no root: its known-good name is a signed zone of its own.
	dns := "dns: {server: " + env["TESTBED_DNSSEC_RESOLVER"] + ", known_good_name: testbed.local}"
	ca := "tls_config: {ca_file: " + tb.get("TESTBED_CA_FILE") + "}"
	return []testbedModule{
		{"pol_dane", []string{"tls: opportunistic", "dane: check", dns, ca}},
		{"pol_dane_required", []string{"tls: opportunistic", "dane: required", dns, ca}},
		// starttls makes a certificate that does not verify a failure, unless DANE validates it.
		{"pol_dane_starttls", []string{"tls: starttls", "dane: check", dns, ca}},
		{"pol_starttls", []string{"tls: starttls", dns, ca}},
		// Mail domains of policy.test, their MX on the Postfix test bed's port 25 stand-in.
		{"pol_mx", []string{"port: " + tb.port("SMTP"), "tls: opportunistic", "dane: check", "mta_sts: true", "mx: {max_hosts: 10}", dns, ca}},
		// Policies the domain must keep (issue 24): MTA-STS in enforce mode, and
		// a null MX for a domain that sends mail only.
		{"pol_mx_enforce", []string{"port: " + tb.port("SMTP"), "tls: opportunistic", "dane: check", "mta_sts: enforce", "mx: {}", dns, ca}},
		{"pol_sendonly", []string{"mx: {expect_null_mx: true}", dns}},
		// A resolver that is down: nothing answers on the discard port.
		{"pol_mx_deadresolver", []string{"port: " + tb.port("SMTP"), "tls: opportunistic", "mta_sts: true", "mx: {}", "dns: {server: 127.0.0.1:9, known_good_name: testbed.local}", ca}},
	}
}

func policyConfig(tb *testbed, env map[string]string) string {
	s := "modules:\n"
	for _, m := range policyModules(tb, env) {
		s += "  " + m.name + ":\n    timeout: " + policyTimeout.String() + "\n"
		for _, f := range m.fields {
			s += "    " + f + "\n"
		}
	}
	return s
}

// probeMetrics scrapes /probe of the policy exporter.
func probeMetrics(t *testing.T, exp *exporterProcess, target, module string) (metrics, string) {
	t.Helper()
	u := fmt.Sprintf("http://%s/probe?target=%s&module=%s", exp.Addr, url.QueryEscape(target), module)
	text := scrape(t, u)
	return parseMetrics(t, text), text
}

func TestDANEThroughProbe(t *testing.T) {
	env, exp := needPolicyBed(t)
	tb, _ := needTestbed(t)
	mail := env["TESTBED_DNSSEC_MAIL_HOST"]
	at := func(port string) string { return mail + ":" + tb.port(port) }
	cases := []struct {
		name, target, module string
		status               string
		success              bool
		reason               string // "" on success
		secure               bool
		match                []string // usage, selector, matching_type of the matched record
		verified             float64  // probe_tls_certificate_verified; -1: no TLS
		records              map[string]float64
	}{
		{"DANE-EE 3 1 1 of the valid certificate", at("SMTP"), "pol_dane", "validated", true, "", true, []string{"3", "1", "1"}, 1, map[string]float64{"3": 1}},
		{"DANE-TA 2 1 1 of the test CA's intermediate", at("ALT2525"), "pol_dane", "validated", true, "", true, []string{"2", "1", "1"}, 1, map[string]float64{"2": 1}},
		{"a wrong digest", at("SUBMISSION"), "pol_dane", "failed", false, "dane_failed", true, nil, 1, map[string]float64{"3": 1}},
		{"usage 1 only", at("TLS12"), "pol_dane", "unusable", true, "", true, nil, 1, map[string]float64{"1": 1}},
		{"usage 1 only, DANE required", at("TLS12"), "pol_dane_required", "unusable", false, "dane_missing", true, nil, 1, map[string]float64{"1": 1}},
		{"DANE-TA with an expired leaf", at("EXPIRED"), "pol_dane", "failed", false, "dane_failed", true, nil, 0, map[string]float64{"2": 1}},
		{"DANE-EE ignores the certificate's names", at("WRONGHOST"), "pol_dane", "validated", true, "", true, []string{"3", "1", "1"}, 0, map[string]float64{"3": 1}},
		{"self-signed, vouched for by 3 1 1", at("DANESELF"), "pol_dane", "validated", true, "", true, []string{"3", "1", "1"}, 0, map[string]float64{"3": 1}},
		{"self-signed under tls: starttls, DANE validated", at("DANESELF"), "pol_dane_starttls", "validated", true, "", true, []string{"3", "1", "1"}, 0, map[string]float64{"3": 1}},
		{"usable records and no STARTTLS", at("NOTLS"), "pol_dane", "failed", false, "dane_failed", true, nil, -1, map[string]float64{"3": 1}},
		{"no TLSA records, securely denied", at("EXPIRING"), "pol_dane", "none", true, "", true, nil, 1, nil},
		{"no TLSA records, DANE required", at("EXPIRING"), "pol_dane_required", "none", false, "dane_missing", true, nil, 1, nil},
		{"a broken signature", env["TESTBED_DNSSEC_BOGUS_HOST"] + ":" + tb.port("SMTP"), "pol_dane", "bogus", false, "dane_bogus", false, nil, 0, nil},
		{"an unsigned zone", env["TESTBED_DNSSEC_INSECURE_HOST"] + ":" + tb.port("SMTP"), "pol_dane", "insecure", true, "", false, nil, 0, nil},
		{"an unsigned zone, DANE required", env["TESTBED_DNSSEC_INSECURE_HOST"] + ":" + tb.port("SMTP"), "pol_dane_required", "insecure", false, "dane_missing", false, nil, 0, nil},
		// Secure, matching TLSA records at a host whose address records are
		// not secure (a CNAME into the unsigned zone): DANE does not apply,
		// and the records are not even asked for (RFC 7672 §2.2.2).
		{"secure TLSA, insecure address records", env["TESTBED_DNSSEC_INSECURE_ADDR_HOST"] + ":" + tb.port("SMTP"), "pol_dane", "insecure", true, "", false, nil, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, text := probeMetrics(t, exp, tc.target, tc.module)
			fail := func(format string, args ...any) {
				t.Helper()
				t.Errorf(format+"\n%s", append(args, text)...)
			}
			if v, _ := m.value("probe_success"); v != boolFloat(tc.success) {
				fail("probe_success %v, want %v", v, tc.success)
			}
			for _, s := range []string{"none", "insecure", "bogus", "unusable", "validated", "failed"} {
				v, ok := m.value("probe_smtp_dane_status", "status="+s)
				if !ok || v != boolFloat(s == tc.status) {
					fail("probe_smtp_dane_status{status=%q} = %v (present %v), want status %s", s, v, ok, tc.status)
				}
			}
			for _, r := range []string{"dane_failed", "dane_bogus", "dane_missing"} {
				if v, ok := m.value("probe_smtp_failure", "reason="+r); !ok || v != boolFloat(r == tc.reason) {
					fail("probe_smtp_failure{reason=%q} = %v (present %v), want the reason %q", r, v, ok, tc.reason)
				}
			}
			if v, ok := m.value("probe_smtp_dane_dnssec_secure"); !ok || v != boolFloat(tc.secure) {
				fail("probe_smtp_dane_dnssec_secure %v, want %v", v, tc.secure)
			}
			for _, u := range []string{"0", "1", "2", "3"} {
				if v, ok := m.value("probe_smtp_dane_records", "usage="+u); !ok || v != tc.records[u] {
					fail("probe_smtp_dane_records{usage=%s} = %v, want %v", u, v, tc.records[u])
				}
			}
			if tc.match != nil {
				if v, ok := m.value("probe_smtp_dane_match_info", "usage="+tc.match[0], "selector="+tc.match[1], "matching_type="+tc.match[2]); !ok || v != 1 {
					fail("no probe_smtp_dane_match_info for %v", tc.match)
				}
			} else if _, ok := m["probe_smtp_dane_match_info"]; ok {
				fail("probe_smtp_dane_match_info without a match")
			}
			v, ok := m.value("probe_tls_certificate_verified")
			switch {
			case tc.verified < 0 && ok:
				fail("probe_tls_certificate_verified present without TLS")
			case tc.verified >= 0 && (!ok || v != tc.verified):
				fail("probe_tls_certificate_verified %v, want %v", v, tc.verified)
			}
		})
	}

	// Without DANE, the self-signed listener fails a starttls module: it is
	// DANE that lets it pass above.
	m, text := probeMetrics(t, exp, at("DANESELF"), "pol_starttls")
	if v, _ := m.value("probe_success"); v != 0 {
		t.Errorf("the self-signed listener passed tls: starttls without DANE:\n%s", text)
	}
	if v, _ := m.value("probe_smtp_failure", "reason=cert_untrusted"); v != 1 {
		t.Errorf("want cert_untrusted:\n%s", text)
	}
	if _, ok := m["probe_smtp_dane_status"]; ok {
		t.Errorf("DANE series from a module with dane off:\n%s", text)
	}
}

// TestDANEDebugOutput: the debug page shows the TLSA records, what matched
// and why the others did not.
func TestDANEDebugOutput(t *testing.T) {
	env, exp := needPolicyBed(t)
	tb, _ := needTestbed(t)
	u := fmt.Sprintf("http://%s/probe?target=%s&module=pol_dane&debug=true", exp.Addr, url.QueryEscape(env["TESTBED_DNSSEC_MAIL_HOST"]+":"+tb.port("SUBMISSION")))
	out := scrape(t, u)
	for _, want := range []string{
		"DANE (RFC 7672), module dane: check",
		"TLSA name:   _" + tb.port("SUBMISSION") + "._tcp." + env["TESTBED_DNSSEC_MAIL_HOST"],
		"DNSSEC:      secure (the resolver set the AD bit)",
		"status:      failed",
		"3 1 1 " + strings.Repeat("0", 64),
		"no match (DANE-EE): does not match the leaf certificate",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("debug output lacks %q:\n%s", want, out)
		}
	}
}

func TestMTASTSThroughProbe(t *testing.T) {
	env, exp := needPolicyBed(t)
	mail := env["TESTBED_DNSSEC_MAIL_HOST"]
	zone := env["TESTBED_DNSSEC_POLICY_ZONE"]
	certNotAfter := env["TESTBED_DNSSEC_POLICY_CERT_NOT_AFTER"]
	type want struct {
		success            bool
		reason             string // domain failure reason, "" on success
		record, fetch      bool
		mode               string // "" without a policy
		maxAge             float64
		mx                 string
		match, compliant   bool
		tlsrpt, certExpiry bool
	}
	cases := map[string]want{
		"enforce":     {true, "", true, true, "enforce", 86400, mail, true, true, true, true},
		"testing":     {true, "", true, true, "testing", 604800, mail, true, true, false, true},
		"broken":      {false, "mta_sts_invalid", true, false, "", 0, mail, false, false, false, true},
		"violation":   {false, "mta_sts_violation", true, true, "enforce", 86400, mail, false, false, false, true},
		"badcert":     {false, "mta_sts_violation", true, true, "enforce", 86400, "mx2." + zone, true, false, false, true},
		"unreachable": {false, "mta_sts_invalid", true, false, "", 0, mail, false, false, false, false},
		"plain":       {true, "", false, false, "", 0, mail, false, false, false, false},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			m, text := probeMetrics(t, exp, name+"."+zone, "pol_mx")
			fail := func(format string, args ...any) {
				t.Helper()
				t.Errorf(format+"\n%s", append(args, text)...)
			}
			check := func(series string, want float64, labels ...string) {
				t.Helper()
				if v, ok := m.value(series, labels...); !ok || v != want {
					fail("%s%v = %v (present %v), want %v", series, labels, v, ok, want)
				}
			}
			check("probe_success", boolFloat(w.success))
			for _, r := range []string{"mta_sts_invalid", "mta_sts_violation", "address_failed", "resolve"} {
				check("probe_smtp_domain_failure", boolFloat(r == w.reason), "reason="+r)
			}
			check("probe_smtp_mta_sts_record_valid", boolFloat(w.record))
			check("probe_smtp_mta_sts_policy_fetch_success", boolFloat(w.fetch))
			for _, md := range []string{"enforce", "testing", "none"} {
				check("probe_smtp_mta_sts_mode", boolFloat(md == w.mode), "mode="+md)
			}
			check("probe_smtp_mta_sts_max_age_seconds", w.maxAge)
			check("probe_smtp_mta_sts_mx_match", boolFloat(w.match), "mx="+w.mx)
			check("probe_smtp_mta_sts_compliant", boolFloat(w.compliant), "mx="+w.mx, "address=127.0.0.1")
			check("probe_smtp_tlsrpt_record_valid", boolFloat(w.tlsrpt))
			v, ok := m.value("probe_smtp_mta_sts_policy_cert_expiry_timestamp_seconds")
			switch {
			case ok != w.certExpiry:
				fail("policy certificate expiry present %v, want %v", ok, w.certExpiry)
			case ok && fmt.Sprint(v) != fmt.Sprint(parseFloat(t, certNotAfter)):
				fail("policy certificate expiry %v, want %s", v, certNotAfter)
			}
			if w.mx == mail {
				// DANE per pair: port 25's stand-in has a matching 3 1 1 record.
				check("probe_smtp_dane_status", 1, "mx="+mail, "address=127.0.0.1", "status=validated")
			}
		})
	}
}

// TestMTASTSDebugOutput: the domain's debug page shows the record, the
// policy and each MX host's compliance.
func TestMTASTSDebugOutput(t *testing.T) {
	env, exp := needPolicyBed(t)
	zone := env["TESTBED_DNSSEC_POLICY_ZONE"]
	out := scrape(t, fmt.Sprintf("http://%s/probe?target=violation.%s&module=pol_mx&debug=true", exp.Addr, zone))
	for _, want := range []string{
		"MTA-STS (RFC 8461)",
		"record:  v=STSv1; id=20261202Tviolation",
		"policy:  https://mta-sts.violation." + zone + "/.well-known/mta-sts.txt fetched",
		"mode:    enforce, max_age 86400 s, mx mx.elsewhere.test",
		"MX " + env["TESTBED_DNSSEC_MAIL_HOST"] + " matches no mx pattern",
		"DOES NOT COMPLY",
		"TLS-RPT (RFC 8460)",
		"FAILED (mta_sts_violation)",
		"DANE (RFC 7672), module dane: check",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("debug output lacks %q:\n%s", want, out)
		}
	}
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}

// TestPolicyInPrometheus: a real Prometheus scrapes the DANE targets and the
// MTA-STS domains through the exporter, and the alert expressions of
// alerts/smtp_exporter.rules.yml pick exactly the broken ones.
func TestPolicyInPrometheus(t *testing.T) {
	env, exp := needPolicyBed(t)
	tb, _ := needTestbed(t)
	mail := env["TESTBED_DNSSEC_MAIL_HOST"]
	zone := env["TESTBED_DNSSEC_POLICY_ZONE"]
	at := func(port string) string { return mail + ":" + tb.port(port) }
	bogus := env["TESTBED_DNSSEC_BOGUS_HOST"] + ":" + tb.port("SMTP")
	insecure := env["TESTBED_DNSSEC_INSECURE_HOST"] + ":" + tb.port("SMTP")
	job := func(name, module string, targets ...string) probeJob {
		return probeJob{name, module, exp.Addr, targets}
	}
	var domains []string
	for _, d := range []string{"enforce", "testing", "broken", "violation", "badcert", "unreachable", "plain"} {
		domains = append(domains, d+"."+zone)
	}
	cfg := probeJobsConfig(nil,
		job("dane", "pol_dane", at("SMTP"), at("ALT2525"), at("SUBMISSION"), at("TLS12"), at("DANESELF"), at("EXPIRING"), bogus, insecure),
		job("dane_required", "pol_dane_required", at("TLS12"), at("SMTP")),
		job("mx", "pol_mx", domains...))
	prom := startPrometheus(t, cfg, nil)

	instancesOf := func(q string) (map[string]bool, error) {
		s, err := prom.tryQuery(q)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, x := range s {
			out[x.Labels["instance"]] = true
		}
		return out, nil
	}
	expect := func(what, q string, want ...string) {
		t.Helper()
		waitUntil(t, 60*time.Second, what, func() error {
			got, err := instancesOf(q)
			if err != nil {
				return err
			}
			if len(got) != len(want) {
				return fmt.Errorf("%s: %v, want %v", q, got, want)
			}
			for _, w := range want {
				if !got[w] {
					return fmt.Errorf("%s: %v, want %v", q, got, want)
				}
			}
			return nil
		})
	}
	// Every target scraped, every status seen where it belongs.
	expect("every DANE and domain target scraped", `up == 1`, append([]string{at("SMTP"), at("ALT2525"), at("SUBMISSION"), at("TLS12"), at("DANESELF"), at("EXPIRING"), bogus, insecure}, domains...)...)
	expect("validated", `probe_smtp_dane_status{job="dane",status="validated"} == 1`, at("SMTP"), at("ALT2525"), at("DANESELF"))
	expect("failed", `probe_smtp_dane_status{job="dane",status="failed"} == 1`, at("SUBMISSION"))
	expect("unusable", `probe_smtp_dane_status{job="dane",status="unusable"} == 1`, at("TLS12"))
	expect("none", `probe_smtp_dane_status{job="dane",status="none"} == 1`, at("EXPIRING"))
	expect("bogus", `probe_smtp_dane_status{job="dane",status="bogus"} == 1`, bogus)
	expect("insecure", `probe_smtp_dane_status{job="dane",status="insecure"} == 1`, insecure)
	expect("dane_failed", `probe_smtp_failure{reason="dane_failed"} == 1`, at("SUBMISSION"))
	expect("dane_bogus", `probe_smtp_failure{reason="dane_bogus"} == 1`, bogus)
	expect("dane_missing", `probe_smtp_failure{reason="dane_missing"} == 1`, at("TLS12"))
	expect("DANE per MX pair", `probe_smtp_dane_status{job="mx",status="validated",mx="`+mail+`"} == 1`, "enforce."+zone, "testing."+zone, "broken."+zone, "violation."+zone, "unreachable."+zone, "plain."+zone)
	expect("mta_sts_invalid", `probe_smtp_domain_failure{reason="mta_sts_invalid"} == 1`, "broken."+zone, "unreachable."+zone)
	expect("mta_sts_violation", `probe_smtp_domain_failure{reason="mta_sts_violation"} == 1`, "violation."+zone, "badcert."+zone)
	expect("enforce mode", `probe_smtp_mta_sts_mode{mode="enforce"} == 1`, "enforce."+zone, "violation."+zone, "badcert."+zone)
	expect("TLS-RPT", `probe_smtp_tlsrpt_record_valid == 1`, "enforce."+zone)

	// The alert expressions (without their for:) select exactly these.
	want := map[string][]string{
		"SMTPDANEMismatch":                    {at("SUBMISSION")},
		"SMTPDNSSECBogus":                     {bogus},
		"SMTPMTASTSViolation":                 {"violation." + zone, "badcert." + zone},
		"SMTPMTASTSPolicyUnreachable":         {"broken." + zone, "unreachable." + zone},
		"SMTPMTASTSPolicyCertificateExpiring": nil,
	}
	seen := 0
	for _, r := range readAlertRules(t) {
		w, ok := want[r.Alert]
		if !ok {
			continue
		}
		seen++
		expect(r.Alert, r.Expr, w...)
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d policy alerts in the rule file", seen, len(want))
	}

	// The domains dashboard's DANE, MTA-STS and TLS-RPT panels show these domains.
	queries := domainsDashboardQueries(t, isPolicyQuery)
	for where, expr := range queries {
		waitUntil(t, 30*time.Second, where, func() error {
			got, err := prom.tryQuery(expr)
			if err == nil && len(got) == 0 {
				err = fmt.Errorf("no data on the policy domains: %s", expr)
			}
			return err
		})
	}
	if len(queries) == 0 {
		t.Errorf("the domains dashboard has no DANE or MTA-STS query")
	}
}

// TestDomainDNSAndPoliciesThroughProbe: the domain probe against the test
// bed's validating Unbound tells a zone whose signatures expired, an MX
// host whose addresses are bogus and one that does not exist apart from
// other failures; a module with mta_sts: enforce fails a domain without
// an enforced policy; a sending-only domain's null MX is its success; and
// the resolver is seen to validate.
func TestDomainDNSAndPoliciesThroughProbe(t *testing.T) {
	env, exp := needPolicyBed(t)
	zone := env["TESTBED_DNSSEC_POLICY_ZONE"]
	cases := []struct {
		domain, module string
		reason         string // "" on success
		pair           string // "mx reason" of the pair without address, if any
	}{
		{env["TESTBED_DNSSEC_EXPIRED_DOMAIN"], "pol_mx", "dnssec_bogus", ""},
		{"bogusmx." + zone, "pol_mx", "dnssec_bogus", env["TESTBED_DNSSEC_BOGUS_ADDR_HOST"] + " dnssec_bogus"},
		{"ghostmx." + zone, "pol_mx", "no_address", "ghost." + zone + " nxdomain"},
		{"nowhere." + zone, "pol_mx", "nxdomain", ""},
		{"enforce." + zone, "pol_mx_enforce", "", ""},
		{"testing." + zone, "pol_mx_enforce", "mta_sts_not_enforced", ""},
		{"plain." + zone, "pol_mx_enforce", "mta_sts_not_enforced", ""},
		{"plain." + zone, "pol_mx", "", ""},
		{"sendonly." + zone, "pol_sendonly", "", ""},
		{"sendonly." + zone, "pol_mx", "null_mx", ""},
		{"plain." + zone, "pol_sendonly", "null_mx_missing", ""},
	}
	for _, tc := range cases {
		t.Run(tc.domain+" "+tc.module, func(t *testing.T) {
			m, text := probeMetrics(t, exp, tc.domain, tc.module)
			check := func(series string, want float64, labels ...string) {
				t.Helper()
				if v, ok := m.value(series, labels...); !ok || v != want {
					t.Errorf("%s%v = %v (present %v), want %v\n%s", series, labels, v, ok, want, text)
				}
			}
			check("probe_success", boolFloat(tc.reason == ""))
			for _, r := range []string{"resolve", "dnssec_bogus", "nxdomain", "resolver_failed", "no_address", "null_mx", "null_mx_missing", "mta_sts_not_enforced"} {
				check("probe_smtp_domain_failure", boolFloat(r == tc.reason), "reason="+r)
			}
			if mx, reason, ok := strings.Cut(tc.pair, " "); ok {
				check("probe_smtp_failure", 1, "mx="+mx, "address=", "reason="+reason)
			}
			if tc.module == "pol_mx" {
				// The bed's Unbound validates its known-good name.
				check("probe_smtp_dns_resolver_validating", 1)
			}
			// Postfix 3.7 does not advertise REQUIRETLS (3.11 does).
			check("probe_smtp_requiretls_ready", 0)
		})
	}
}
