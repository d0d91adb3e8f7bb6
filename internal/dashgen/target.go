package dashgen

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/text"
)

// target: one target in detail (the drill-down of the other dashboards).
func target() *dashboard.DashboardBuilder {
	q := func(metric string) string { return metric + `{` + sel() + `}` }
	return newDashboard(UIDTarget, "SMTP / Target",
		"One target in detail: success and failure reason over time, reply codes, TLS version and cipher, certificate, ESMTP extensions and AUTH mechanisms.",
		true).
		WithVariable(dashboard.NewTextBoxVariableBuilder("exporter").
			Label("Exporter URL").
			Description("Where this Grafana's users reach smtp_exporter, for the debug command and link.").
			DefaultValue(dashboard.StringOrMap{String: new("http://smtp-exporter:9667")})).
		WithPanel(text.NewPanelBuilder().
			Title("Debug this target").
			Datasource(datasource()).
			Mode(text.TextModeMarkdown).
			Content("Ask the exporter for the transcript, phase timings and metrics of **$instance** (module `$module`). Set the exporter's URL in the *Exporter URL* box above.\n\n" +
				"[Open the probe's debug output]($exporter/probe?target=$instance&module=$module&debug=true)\n\n" +
				"```\ncurl -s '$exporter/probe?target=$instance&module=$module&debug=true'\n" +
				"smtp_exporter probe --config.file /etc/smtp_exporter/config.yml --module $module $instance\n" +
				"# the same from a shell on the exporter's host, with the exporter's config (its --config.file)\n```\n\n" +
				"Runbooks: [docs/runbooks.md](https://github.com/smtp-exporter/smtp_exporter/blob/main/docs/runbooks.md)").
			Span(8).Height(5)).
		WithPanel(statPanel("Last probe", "Whether the last probe succeeded.", q("probe_success")).
			Mappings(boolMapping("down", "red", "up", "green")).Span(4).Height(5)).
		WithPanel(statPanel("STARTTLS offered", "STARTTLS in the clear-text EHLO reply (no for implicit TLS, 465).", q("probe_smtp_starttls_advertised")).
			Mappings(yesNo()).Span(4).Height(5)).
		WithPanel(statPanel("Encrypted", "The session ended up under TLS.", q("probe_smtp_tls")).
			Mappings(yesNo()).Span(4).Height(5)).
		WithPanel(statPanel("AUTH before TLS", "AUTH offered on a clear-text session: passwords could travel in clear text.", q("probe_smtp_auth_before_tls")).
			Mappings(boolMapping("no", "green", "yes", "red")).Span(4).Height(5)).
		WithPanel(statPanel("Certificate verified", "Chain to a trusted root and host name (empty: no TLS).", q("probe_tls_certificate_verified")).
			Mappings(yesNo()).NoValue("no TLS").Span(4).Height(4)).
		WithPanel(statPanel("Certificate expires in", "Days until the earliest presented certificate expires.", daysLeft("probe_ssl_earliest_cert_expiry")).
			Unit("d").Decimals(1).Thresholds(expiryThresholds()).NoValue("no TLS").Span(4).Height(4)).
		WithPanel(statPanel("AUTH accepted", "Whether the module's credentials were accepted (only modules with auth).", q("probe_smtp_auth_success")).
			Mappings(yesNo()).NoValue("no credentials").Span(4).Height(4)).
		WithPanel(statPanel("Size limit", "The SIZE the server declares (0: none).", q("probe_smtp_size_limit_bytes")).
			Unit("bytes").Span(4).Height(4)).
		WithPanel(statPanel("IP protocol", "IPv4 or IPv6.", q("probe_ip_protocol")).
			Mappings([]dashboard.ValueMapping{valueMapping(map[string]dashboard.ValueMappingResult{
				"4": result("IPv4", "", 0),
				"6": result("IPv6", "", 1),
				"0": result("none", "red", 2),
			})}).Span(4).Height(4)).
		WithPanel(statPanel("Probe duration", "The whole last probe.", q("probe_duration_seconds")).
			Unit("s").Thresholds(thresholds("green", 2, "orange", 5, "red")).Span(4).Height(4)).
		WithPanel(stateTimelinePanel("Success and failure reason", "Up or down over time; a down period shows the failure reason, a problem that did not fail the probe its warning reason.",
			rangeQuery("A", q("probe_success"), "probe"),
			rangeQuery("B", q("probe_smtp_failure")+` == 1`, "{{reason}}"),
			rangeQuery("C", q("probe_smtp_warning")+` == 1`, "{{reason}} (warning)")).
			ShowValue(common.VisibilityModeAuto).
			Mappings(boolMapping("down", "red", "up", "green")).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
			Thresholds(thresholds("red", 1, "green")).
			OverrideByQuery("B", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{valueMapping(map[string]dashboard.ValueMappingResult{"1": result("failing", "red", 0)})}),
				prop("color", map[string]string{"mode": "fixed", "fixedColor": "red"}),
			}).
			OverrideByQuery("C", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{valueMapping(map[string]dashboard.ValueMappingResult{"1": result("warning", "orange", 0)})}),
				prop("color", map[string]string{"mode": "fixed", "fixedColor": "orange"}),
			}).
			Span(24).Height(6)).
		WithPanel(timeseriesPanel("Reply codes", "The last reply code of each phase: 220 greeting, 250 EHLO, 220 STARTTLS, 235 AUTH; 4xx/5xx are refusals.", "none",
			rangeQuery("A", q("probe_smtp_reply_code")+` > 0`, "{{phase}}")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
			Thresholds(thresholds("green", 400, "orange", 500, "red")).
			Span(12).Height(8)).
		WithPanel(timeseriesPanel("Phase durations", "Time of each phase of the conversation, stacked.", "s",
			rangeQuery("A", q("probe_smtp_phase_duration_seconds")+` > 0`, "{{phase}}")).
			Stacking(stacked()).Min(0).Span(12).Height(8)).
		WithPanel(stateTimelinePanel("TLS version", "The TLS version negotiated over time (outdated below TLS 1.2).",
			rangeQuery("A", q("probe_tls_version_info"), "{{version}}")).
			ShowValue(common.VisibilityModeNever).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdFixed).FixedColor("green")).
			Thresholds(thresholds("green")).
			Span(12).Height(5)).
		WithPanel(tablePanel("TLS session", "Version and cipher suite of the last probe.",
			tableQuery("A", q("probe_tls_version_info")),
			tableQuery("B", q("probe_tls_cipher_info"))).
			WithTransformation(transformation("merge", map[string]any{})).
			WithTransformation(organize([]string{"Time", "job", "Value #A", "Value #B", "__name__"}, map[string]string{"instance": "target"},
				"instance", "module", "version", "cipher")).
			Span(12).Height(5)).
		WithPanel(tablePanel("Certificate", "The leaf certificate the server presented.",
			tableQuery("A", q("probe_ssl_last_chain_info"))).
			WithTransformation(organize([]string{"Time", "job", "Value", "__name__"}, map[string]string{"instance": "target", "subjectalternative": "names"},
				"instance", "module", "subject", "issuer", "subjectalternative", "serialnumber", "fingerprint_sha256")).
			Span(24).Height(5)).
		WithPanel(tablePanel("ESMTP extensions", "Extensions in the last EHLO reply (after STARTTLS when TLS was used).",
			tableQuery("A", q("probe_smtp_extension_info"))).
			WithTransformation(organize([]string{"Time", "job", "Value", "__name__"}, map[string]string{"instance": "target"},
				"instance", "module", "extension")).
			Span(12).Height(8)).
		WithPanel(tablePanel("AUTH mechanisms", "SASL mechanisms in the last EHLO reply; empty when AUTH is not offered.",
			tableQuery("A", q("probe_smtp_auth_mechanism_info"))).
			WithTransformation(organize([]string{"Time", "job", "Value", "__name__"}, map[string]string{"instance": "target"},
				"instance", "module", "mechanism")).
			Span(12).Height(8)).
		// DANE (RFC 7672), for modules that check it; empty otherwise.
		WithRow(row("DANE")).
		WithPanel(stateTimelinePanel("DANE status", "The DANE status of the TLS session over time: validated (a TLSA record matches), failed (none matches: DANE senders defer mail), bogus (the TLSA answer does not validate), unusable, insecure or none (no DANE). Empty for modules that do not check DANE.",
			rangeQuery("A", q("probe_smtp_dane_status")+` == 1`, "{{status}}")).
			ShowValue(common.VisibilityModeAuto).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdFixed).FixedColor("blue")).
			Thresholds(thresholds("green")).
			OverrideByName("validated", []dashboard.DynamicConfigValue{prop("color", map[string]string{"mode": "fixed", "fixedColor": "green"})}).
			OverrideByName("failed", []dashboard.DynamicConfigValue{prop("color", map[string]string{"mode": "fixed", "fixedColor": "red"})}).
			OverrideByName("bogus", []dashboard.DynamicConfigValue{prop("color", map[string]string{"mode": "fixed", "fixedColor": "red"})}).
			Span(12).Height(5)).
		WithPanel(statPanel("TLSA answer DNSSEC-secure", "Whether the TLSA answer (or its denial) was DNSSEC-secure: without it, DANE does not apply.", q("probe_smtp_dane_dnssec_secure")).
			Mappings(yesNo()).NoValue("not checked").Span(4).Height(5)).
		WithPanel(tablePanel("TLSA records", "How many TLSA records of each certificate usage the answer held, and the one that validated the chain.",
			tableQuery("A", `sum by (usage) (`+q("probe_smtp_dane_records")+`)`),
			tableQuery("B", q("probe_smtp_dane_match_info"))).
			WithTransformation(transformation("merge", map[string]any{})).
			WithTransformation(organize([]string{"Time", "job", "instance", "module", "__name__", "Value #B"},
				map[string]string{"Value #A": "records", "selector": "matching selector", "matching_type": "matching type"},
				"usage", "Value #A", "selector", "matching_type")).
			Span(8).Height(5))
}
