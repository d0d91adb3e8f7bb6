package dashgen

import (
	"slices"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/reasons"
)

// UIDDomains is the mail-domain dashboard's UID.
const UIDDomains = "smtp-exporter-domains"

// domainStatusPrefix marks a domain's failure reason in the Overview's
// target matrix, whose other cells hold single targets' reasons.
const domainStatusPrefix = "domain: "

// pairStatusMappings are the words of a pair's status: its failure reason
// (the reasons only a pair can have among them: target_not_allowed, and
// the DNS failures of its MX host's address lookup), or up with its TLS
// version.
func pairStatusMappings() []dashboard.ValueMapping {
	only := map[string]dashboard.ValueMappingResult{"up, no TLS": result("up, no TLS", "yellow", 201)}
	for i, r := range maildomain.PairReasons {
		if slices.Contains(prober.Reasons, r) {
			continue
		}
		w := reasons.Of(r)
		only[string(r)] = result(w.Short, string(w.Color), int32(210+i)) //nolint:gosec // a short fixed list
	}
	return []dashboard.ValueMapping{
		reasonMapping(),
		valueMapping(only),
		regexMapping(`^up, (TLS 1\.[23])$`, result("up, $1", "green", 202)),
		regexMapping(`^up, (TLS 1\.[01])$`, result("up, $1 (outdated)", "orange", 203)),
	}
}

// domains: mail domains probed with an mx module, every MX host on every
// address.
func domains() *dashboard.DashboardBuilder {
	pair := `job, instance, module, mx, address`
	matrix := `label_replace(probe_smtp_failure{` + sel(`mx!=""`) + `} == 1, "status", "$1", "reason", "(.+)")
  or label_replace(probe_tls_version_info{` + sel(`mx!=""`) + `} and on (` + pair + `) probe_smtp_address_success == 1, "status", "up, $1", "version", "(.+)")
  or label_replace(probe_smtp_address_success{` + sel() + `} == 1 unless on (` + pair + `) probe_tls_version_info, "status", "up, no TLS", "", "")`
	return newDashboard(UIDDomains, "SMTP / Domains",
		"Mail domains probed with a module with an mx section: does mail for each domain get in, through which MX hosts and addresses, and what the DNS published over time.",
		false).
		WithPanel(statPanel("Domains", "Mail domains probed.",
			`count(probe_smtp_mx_hosts{`+sel()+`})`).
			NoValue("0").Span(4).Height(4)).
		WithPanel(statPanel("Domains accepting mail", "Domains whose last probe passed the module's mx.success rule.",
			`sum(probe_success{`+sel()+`} and on (job, instance, module) probe_smtp_mx_hosts)`).
			NoValue("0").Span(4).Height(4)).
		WithPanel(statPanel("Domains failing", "Domains whose last probe failed: MX lookup, null MX, no address, or failing addresses.",
			`sum(1 - (probe_success{`+sel()+`} and on (job, instance, module) probe_smtp_mx_hosts))`).
			NoValue("0").Thresholds(thresholds("green", 1, "red")).Span(4).Height(4)).
		WithPanel(statPanel("MX addresses failing", "(MX host, address) pairs whose last probe failed, over all selected domains.",
			`count(probe_smtp_address_success{`+sel()+`} == 0) or vector(0)`).
			Thresholds(thresholds("green", 1, "orange")).Span(4).Height(4)).
		WithPanel(statPanel("Null MX", "Domains publishing a null MX (RFC 7505): they accept no mail.",
			`sum(probe_smtp_mx_null{`+sel()+`})`).
			NoValue("0").Thresholds(thresholds("green", 1, "red")).Span(4).Height(4)).
		WithPanel(statPanel("Implicit MX", "Domains without MX records, whose own A/AAAA receive their mail.",
			`sum(probe_smtp_mx_implicit{`+sel()+`})`).
			NoValue("0").Thresholds(thresholds("green", 1, "yellow")).Span(4).Height(4)).
		WithPanel(tablePanel("Domain x MX x address",
			"Every (MX host, address) pair of every domain, with what its last probe found in words: green up with TLS 1.2+, yellow up without TLS, orange outdated TLS or AUTH problems, red the failure, purple not probed (allowed_targets). An MX host without address shows with an empty address and reason DNS.",
			tableQuery("A", matrix)).
			WithTransformation(organize([]string{"Time", "Value", "__name__", "reason", "version", "job"},
				map[string]string{"instance": "domain", "mx": "MX host"},
				"instance", "mx", "address", "module", "status")).
			OverrideByName("status", []dashboard.DynamicConfigValue{
				prop("mappings", pairStatusMappings()),
				cellTypeProp("color-background"),
			}).
			Span(24).Height(10)).
		WithPanel(tablePanel("Failing domains", "Every domain whose last probe failed, with the reason in words.",
			tableQuery("A", `probe_smtp_domain_failure{`+sel()+`} == 1`)).
			WithTransformation(organize([]string{"Time", "Value", "__name__"}, map[string]string{"instance": "domain", "reason": "failure"},
				"instance", "module", "job", "reason")).
			OverrideByName("failure", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{domainReasonMapping()}),
				cellTypeProp("color-background"),
			}).
			Span(12).Height(8)).
		WithPanel(timeseriesPanel("Addresses accepting mail", "Per domain, the share of its probed (MX host, address) pairs that succeeded.", "percentunit",
			rangeQuery("A", `probe_smtp_mx_addresses_success{`+sel()+`} / (probe_smtp_mx_addresses{`+sel()+`} > 0)`, "{{instance}}")).
			Min(0).Max(1).Span(12).Height(8)).
		WithPanel(stateTimelinePanel("MX records over time", "Each MX record a domain published (preference and host), as the exporter saw it: a record that appears or goes away shows as a band starting or ending.",
			rangeQuery("A", `probe_smtp_mx_info{`+sel()+`}`, "{{instance}}: {{preference}} {{mx}}")).
			Mappings(boolMapping("absent", "transparent", "published", "green")).
			Span(24).Height(8)).
		WithPanel(timeseriesPanel("Domain probe and MX lookup time", "How long each domain probe took (its slowest pair, after the DNS questions) and its MX lookup.", "s",
			rangeQuery("A", `probe_duration_seconds{`+sel()+`} and on (job, instance, module) probe_smtp_mx_hosts`, "{{instance}} probe"),
			rangeQuery("B", `probe_dns_lookup_time_seconds{`+sel()+`} and on (job, instance, module) probe_smtp_mx_hosts`, "{{instance}} MX lookup")).
			Min(0).Span(12).Height(8)).
		WithPanel(timeseriesPanel("MX hosts and addresses", "MX hosts per domain (beyond max_hosts included) and the (MX host, address) pairs probed.", "none",
			rangeQuery("A", `probe_smtp_mx_hosts{`+sel()+`}`, "{{instance}} MX hosts"),
			rangeQuery("B", `probe_smtp_mx_addresses{`+sel()+`}`, "{{instance}} addresses")).
			Min(0).Span(12).Height(8)).
		WithPanel(tablePanel("Certificates of the MX hosts", "Days until the earliest certificate of each (MX host, address) expires.",
			tableQuery("A", `(probe_ssl_earliest_cert_expiry{`+sel(`mx!=""`)+`} - time()) / 86400`)).
			WithTransformation(organize([]string{"Time", "__name__", "job"}, map[string]string{"instance": "domain", "mx": "MX host", "Value": "days left"},
				"instance", "mx", "address", "module", "Value")).
			OverrideByName("days left", []dashboard.DynamicConfigValue{
				prop("thresholds", expiryThresholds()),
				cellTypeProp("color-background"),
				prop("decimals", 1),
			}).
			Span(24).Height(8)).
		WithPanel(barGaugePanel("Pairs failing by reason", "How many (MX host, address) pairs fail for each reason right now.",
			instant(`sum by (reason) (probe_smtp_failure{`+sel(`mx!=""`)+`} == 1)`).LegendFormat("{{reason}}")).
			DisplayMode(common.BarGaugeDisplayModeBasic).
			Unit("none").Min(0).Decimals(0).
			Thresholds(thresholds("red")).
			Span(24).Height(6)).
		// MTA-STS (RFC 8461) and TLS-RPT (RFC 8460), for modules with
		// mta_sts: true; empty otherwise.
		WithRow(row("MTA-STS and TLS-RPT")).
		WithPanel(tablePanel("MTA-STS policy per domain", "Per domain: the _mta-sts record valid, the policy fetched, its mode, its max_age, and the TLS-RPT record valid. Senders enforce an enforce-mode policy; a record whose policy cannot be fetched leaves them on their cached copy.",
			tableQuery("A", `probe_smtp_mta_sts_record_valid{`+sel()+`}`),
			tableQuery("B", `probe_smtp_mta_sts_policy_fetch_success{`+sel()+`}`),
			tableQuery("C", `probe_smtp_mta_sts_mode{`+sel()+`} == 1`),
			tableQuery("D", `probe_smtp_mta_sts_max_age_seconds{`+sel()+`}`),
			tableQuery("E", `probe_smtp_tlsrpt_record_valid{`+sel()+`}`)).
			WithTransformation(transformation("merge", map[string]any{})).
			WithTransformation(organize([]string{"Time", "job", "__name__", "Value #C"},
				map[string]string{"instance": "domain", "Value #A": "record valid", "Value #B": "policy fetched", "Value #D": "max_age", "Value #E": "TLS-RPT valid"},
				"instance", "module", "Value #A", "Value #B", "mode", "Value #D", "Value #E")).
			OverrideByName("record valid", []dashboard.DynamicConfigValue{prop("mappings", yesNo()), cellTypeProp("color-background")}).
			OverrideByName("policy fetched", []dashboard.DynamicConfigValue{prop("mappings", yesNo()), cellTypeProp("color-background")}).
			OverrideByName("TLS-RPT valid", []dashboard.DynamicConfigValue{prop("mappings", yesNo()), cellTypeProp("color-background")}).
			OverrideByName("max_age", []dashboard.DynamicConfigValue{prop("unit", "s")}).
			Span(24).Height(8)).
		WithPanel(tablePanel("MTA-STS compliance per MX address", "Per (MX host, address): whether it complies with the domain's policy (its MX host matches a policy pattern and it offered TLS 1.2 or later with a certificate valid for its name). In enforce mode, senders skip a host that does not comply.",
			tableQuery("A", `probe_smtp_mta_sts_compliant{`+sel()+`}`),
			tableQuery("B", `probe_smtp_mta_sts_mx_match{`+sel()+`}`)).
			WithTransformation(transformation("merge", map[string]any{})).
			WithTransformation(organize([]string{"Time", "job", "__name__"},
				map[string]string{"instance": "domain", "mx": "MX host", "Value #A": "compliant", "Value #B": "MX matches a pattern"},
				"instance", "mx", "address", "module", "Value #B", "Value #A")).
			OverrideByName("compliant", []dashboard.DynamicConfigValue{prop("mappings", yesNo()), cellTypeProp("color-background")}).
			OverrideByName("MX matches a pattern", []dashboard.DynamicConfigValue{prop("mappings", yesNo()), cellTypeProp("color-background")}).
			Span(16).Height(8)).
		WithPanel(tablePanel("MTA-STS policy host certificate", "Days until the certificate of mta-sts.DOMAIN expires: once it has, senders cannot refresh the policy.",
			tableQuery("A", `(probe_smtp_mta_sts_policy_cert_expiry_timestamp_seconds{`+sel()+`} - time()) / 86400`)).
			WithTransformation(organize([]string{"Time", "__name__", "job"}, map[string]string{"instance": "domain", "Value": "days left"},
				"instance", "module", "Value")).
			OverrideByName("days left", []dashboard.DynamicConfigValue{
				prop("thresholds", expiryThresholds()),
				cellTypeProp("color-background"),
				prop("decimals", 1),
			}).
			Span(8).Height(8)).
		// DANE (RFC 7672) per MX address, for modules with dane: check or
		// required; empty otherwise.
		WithRow(row("DANE")).
		WithPanel(tablePanel("DANE status per MX address", "Per (MX host, address): the DANE status of its TLS session. failed (no TLSA record matches) and bogus (the TLSA answer does not validate) mean DANE-validating senders defer mail to it now; validated is good; none, insecure and unusable mean DANE does not apply.",
			tableQuery("A", `probe_smtp_dane_status{`+sel(`mx!=""`)+`} == 1`)).
			WithTransformation(organize([]string{"Time", "Value", "__name__", "job"},
				map[string]string{"instance": "domain", "mx": "MX host", "status": "DANE"},
				"instance", "mx", "address", "module", "status")).
			OverrideByName("DANE", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{valueMapping(map[string]dashboard.ValueMappingResult{
					"validated": result("validated", "green", 0),
					"failed":    result("failed: senders defer", "red", 1),
					"bogus":     result("bogus: senders defer", "red", 2),
					"unusable":  result("unusable records", "yellow", 3),
					"insecure":  result("insecure (no DNSSEC)", "text", 4),
					"none":      result("none", "text", 5),
				})}),
				cellTypeProp("color-background"),
			}).
			Span(24).Height(8)).
		WithPanel(tablePanel("Policies per domain", "Per domain, what protects its mail and what it can rely on: whether the exporter's DNS server validates DNSSEC (the AD bit on its known-good name; when it stops, every DANE status reads insecure; modules with DANE or MTA-STS), the MTA-STS mode, how many MX addresses DANE validates, and whether the domain can receive mail sent with REQUIRETLS (RFC 8689: every address advertises it and is authenticated by DANE or an enforced MTA-STS policy). A policy that goes away is SMTPDomainPolicyDowngraded.",
			tableQuery("A", `probe_smtp_dns_resolver_validating{`+sel()+`}`),
			tableQuery("B", `probe_smtp_mta_sts_mode{`+sel()+`} == 1`),
			tableQuery("C", `count by (job, instance, module) (probe_smtp_dane_status{`+sel(`mx!=""`, `status="validated"`)+`} == 1)`),
			tableQuery("D", `probe_smtp_requiretls_ready{`+sel()+`}`)).
			WithTransformation(transformation("merge", map[string]any{})).
			WithTransformation(organize([]string{"Time", "job", "__name__", "Value #B"},
				map[string]string{"instance": "domain", "Value #A": "resolver validates DNSSEC", "mode": "MTA-STS mode", "Value #C": "DANE-validated addresses", "Value #D": "REQUIRETLS ready"},
				"instance", "module", "Value #A", "mode", "Value #C", "Value #D")).
			OverrideByName("resolver validates DNSSEC", []dashboard.DynamicConfigValue{prop("mappings", yesNo()), cellTypeProp("color-background")}).
			OverrideByName("REQUIRETLS ready", []dashboard.DynamicConfigValue{
				prop("mappings", boolMapping("no", "text", "yes", "green")), cellTypeProp("color-background"),
			}).
			Span(24).Height(8)).
		// What each domain probe cost, and what its bounds left out: the
		// panels come last so that the alerts' links to the others keep
		// their panel numbers.
		WithRow(row("Cost and bounds")).
		WithPanel(timeseriesPanel("DNS questions per probe", "The DNS messages each domain probe sent, every lookup counted (MX, addresses, PTR and TLSA names, MTA-STS). A probe sends at most 128; one that needs more says so in a warning and leaves the rest unasked.", "none",
			rangeQuery("A", `probe_dns_queries{`+sel()+`}`, "{{instance}}")).
			Min(0).Span(12).Height(8)).
		WithPanel(timeseriesPanel("Pairs left out", "(MX host, address) pairs DNS gave that a probe left out: beyond mx.max_addresses of their family, beyond mx.max_pairs, or not started before the deadline (the exporter's --probe.max-concurrent was short of slots, or servers that never answer took the time). Those pairs are not judged.", "none",
			rangeQuery("A", `probe_smtp_domain_pairs_skipped{`+sel()+`}`, "{{instance}} {{reason}}")).
			Min(0).Span(12).Height(8))
}
