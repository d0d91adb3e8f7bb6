package dashgen

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// blockedReasons are the failures of the TCP connection itself.
const blockedReasons = "connect_refused|connect_timeout|connect_unreachable"

// overview: every host and port at a glance.
func overview() *dashboard.DashboardBuilder {
	return newDashboard(UIDOverview, "SMTP / Overview",
		"Every probed target and module: reachable, refused, blocked (filtered / unreachable), TLS and its version, failure reasons, scrapes that fail, success over time.",
		false).
		WithPanel(statPanel("Targets", "Targets probed (host:port and module).",
			`count(probe_success{`+sel()+`})`).
			NoValue("0").Mappings(nil).Span(4).Height(4)).
		WithPanel(statPanel("Up", "Targets whose last probe succeeded.",
			`sum(probe_success{`+sel()+`})`).
			NoValue("0").Mappings(nil).Span(4).Height(4)).
		WithPanel(statPanel("Failing", "Targets whose last probe failed, for any reason.",
			`sum(1 - probe_success{`+sel()+`})`).
			NoValue("0").Mappings(nil).Thresholds(thresholds("green", 1, "red")).Span(4).Height(4)).
		WithPanel(statPanel("Ports accepting no connections", "Targets where the TCP connection itself fails: refused (nothing listens, or a firewall rejects), or blocked (filtered: no answer to SYN; unreachable).",
			`sum(probe_smtp_failure{`+sel(`reason=~"`+blockedReasons+`"`)+`})`).
			NoValue("0").Mappings(nil).Thresholds(thresholds("green", 1, "red")).Span(4).Height(4)).
		WithPanel(statPanel("Certificates < 21 days", "Endpoints with a certificate (leaf or chain) expiring within 21 days, or expired.",
			`count((probe_ssl_earliest_cert_expiry{`+sel()+`} - time()) / 86400 < 21) or vector(0)`).
			Thresholds(thresholds("green", 1, "orange")).Span(4).Height(4)).
		WithPanel(statPanel("Firing SMTP alerts", "Alerts from alerts/smtp_exporter.rules.yml firing for the selected targets.",
			`count(ALERTS{alertstate="firing", alertname=~"SMTP.+", `+sel()+`}) or vector(0)`).
			Thresholds(thresholds("green", 1, "red")).Span(4).Height(4)).
		WithPanel(targetMatrix().Span(24).Height(10)).
		WithPanel(tablePanel("Failing targets", "Every target whose last probe failed, with the reason in words. Click a target for its drill-down.",
			tableQuery("A", `probe_smtp_failure{`+sel()+`} == 1`)).
			Mappings([]dashboard.ValueMapping{}).
			WithTransformation(organize([]string{"Time", "Value", "__name__"}, map[string]string{"instance": "target", "reason": "failure"},
				"instance", "module", "job", "reason")).
			OverrideByName("failure", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{reasonMapping()}),
				cellTypeProp("color-background"),
			}).
			OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
			Span(12).Height(8)).
		WithPanel(barGaugePanel("Failing targets by reason", "How many targets fail for each reason right now.",
			instant(`sum by (reason) (probe_smtp_failure{`+sel()+`} == 1)`).LegendFormat("{{reason}}")).
			DisplayMode(common.BarGaugeDisplayModeBasic).
			Unit("none").Min(0).Decimals(0).
			Thresholds(thresholds("red")).
			Span(12).Height(8)).
		WithPanel(timeseriesPanel("Success ratio by job", "Share of targets whose probe succeeded, per job (module).", "percentunit",
			rangeQuery("A", `avg by (job) (probe_success{`+sel()+`})`, "{{job}}")).
			Min(0).Max(1).Span(12).Height(8)).
		WithPanel(timeseriesPanel("Failures by reason", "Number of failing targets per reason over time.", "none",
			rangeQuery("A", `sum by (reason) (probe_smtp_failure{`+sel()+`}) > 0`, "{{reason}}")).
			Stacking(stacked()).Min(0).Span(12).Height(8)).
		WithPanel(tablePanel("Targets with warnings",
			"Problems the module does not fail the probe for (probe_smtp_warning): on opportunistic port 25 a bad certificate, a refused STARTTLS or a failed handshake (mail then goes in clear text), AUTH before TLS. Mail still flows.",
			tableQuery("A", `probe_smtp_warning{`+sel()+`} == 1`)).
			WithTransformation(organize([]string{"Time", "Value", "__name__"}, map[string]string{"instance": "target", "reason": "warning"},
				"instance", "module", "job", "reason")).
			OverrideByName("warning", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{warningMapping()}),
				cellTypeProp("color-background"),
			}).
			OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
			Span(24).Height(8)).
		WithPanel(reverseDNSPanel()).
		WithPanel(egressPanel()).
		WithPanel(egressProbesPanel())
}

// targetMatrix: one row per host, one column per port and module (so that
// several modules on one host:port each have a cell), each cell saying in
// words and color what the last probe found. The query labels every series
// with status (failure reason, "up, TLS 1.x", "up, no TLS" or "scrape
// failed"), host, port and column; groupingToMatrix lays them out. A mail
// domain is a row of its own, with its domain failure reason ("domain: "
// and the reason) or "up, mail domain": its pairs' series (mx!="") stay out
// of the matrix, so a domain failing for its DNS or its MTA-STS policy,
// whose pairs are fine or absent, is still there.
func targetMatrix() *table.PanelBuilder {
	single := sel(`mx=""`)
	domain := `and on (job, instance, module) probe_smtp_mx_hosts`
	expr := `label_join(label_replace(label_replace(
    label_replace(probe_smtp_failure{` + single + `} == 1, "status", "$1", "reason", "(.+)")
  or label_replace(probe_tls_version_info{` + single + `} and on (job, instance, module) probe_success == 1, "status", "up, $1", "version", "(.+)")
  or label_replace(probe_success{` + sel() + `} == 1 unless on (job, instance, module) probe_tls_version_info unless on (job, instance, module) probe_smtp_mx_hosts, "status", "up, no TLS", "", "")
  or label_replace(probe_smtp_domain_failure{` + sel() + `} == 1, "status", "` + domainStatusPrefix + `$1", "reason", "(.+)")
  or label_replace(probe_success{` + sel() + `} == 1 ` + domain + `, "status", "up, mail domain", "", "")
  or label_replace(
      up{` + sel(`module!=""`) + `} == 0
      or (up{` + sel() + `} == 0 and on (job) group by (job) (present_over_time(probe_smtp_tls[1d]))),
    "status", "` + scrapeFailed + `", "", "")
, "host", "$1", "instance", "(.+?)(:[0-9]+)?"), "port", "$1", "instance", ".*:([0-9]+)"), "column", " ", "port", "module")`
	mappings := []dashboard.ValueMapping{
		reasonMapping(),
		regexMapping(`^up, (TLS 1\.[23])$`, result("up, $1", "green", 100)),
		regexMapping(`^up, (TLS 1\.[01])$`, result("up, $1 (outdated)", "orange", 101)),
		valueMapping(map[string]dashboard.ValueMappingResult{
			"up, no TLS":      result("up, no TLS", "yellow", 102),
			"up, mail domain": result("up, mail domain", "green", 103),
		}),
		domainReasonMappingWith(domainStatusPrefix),
	}
	return tablePanel("Target matrix",
		"One row per host (and per mail domain), one column per port and module, so that several modules on one host:port each have a cell. Green: up with TLS 1.2 or newer, or a mail domain that passes; yellow: up without TLS; orange: outdated TLS, an AUTH problem, or a domain policy lost; red: down, with the reason (refused: nothing listens; blocked: filtered / unreachable; greeting rejected; certificate...; for a domain: its MX lookup, DNSSEC, MTA-STS, or its addresses, detailed on SMTP / Domains); purple: Prometheus cannot scrape the probe (the exporter is down or answers 400/403/503), or the exporter's own DNS server fails, so nothing is known of the target.",
		tableQuery("A", expr)).
		WithTransformation(transformation("groupingToMatrix", map[string]string{
			"columnField": "column", "rowField": "host", "valueField": "status", "emptyValue": "empty",
		})).
		Align(common.FieldTextAlignmentCenter).
		CellOptions(cellColorBackground()).
		Filterable(false).
		Mappings(mappings).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdFixed).FixedColor("transparent")).
		OverrideByName(`host\column`, []dashboard.DynamicConfigValue{
			cellTypeProp("auto"),
			prop("custom.align", "left"),
		})
}

func regexMapping(pattern string, r dashboard.ValueMappingResult) dashboard.ValueMapping {
	return dashboard.ValueMapping{RegexMap: &dashboard.RegexMap{
		Type:    dashboard.MappingTypeRegexToText,
		Options: dashboard.DashboardRegexMapOptions{Pattern: pattern, Result: r},
	}}
}

// reverseDNSPanel: PTR names, FCrDNS and the greeting's name (modules with
// reverse_dns).
func reverseDNSPanel() *table.PanelBuilder {
	return tablePanel("Reverse DNS (reverse_dns)",
		"Modules with reverse_dns: true look up the PTR names of the address probed. FCrDNS: a PTR name resolves back to the address (receiving hosts check this of mail senders). Banner matches: the greeting names a PTR name. No row: the lookup failed or the module does not look.",
		tableQuery("A", `probe_smtp_fcrdns{`+sel()+`}`),
		tableQuery("B", `probe_smtp_banner_matches_ptr{`+sel()+`}`),
		tableQuery("C", `probe_smtp_ptr_info{`+sel()+`}`),
		tableQuery("D", `probe_smtp_banner_hostname_info{`+sel()+`}`)).
		WithTransformation(transformation("merge", map[string]any{})).
		WithTransformation(organize(
			[]string{"Time", "job", "__name__", "Value #C", "Value #D"},
			map[string]string{
				"instance": "target", "Value #A": "FCrDNS", "Value #B": "greeting matches PTR",
				"ptr": "PTR name", "hostname": "greeting name",
			},
			"instance", "module", "Value #A", "Value #B", "ptr", "hostname")).
		OverrideByName("FCrDNS", []dashboard.DynamicConfigValue{cellTypeProp("color-background"), prop("mappings", yesNo())}).
		OverrideByName("greeting matches PTR", []dashboard.DynamicConfigValue{
			cellTypeProp("color-background"), prop("mappings", boolMapping("no", "orange", "yes", "green")),
		}).
		OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
		Span(24).Height(8)
}
