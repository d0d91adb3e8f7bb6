package dashgen

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// egressStates are the states of smtp_exporter_egress_state in words and
// color: red where the exporter's own path fails, so that its probes say
// nothing about their targets.
func egressStates() dashboard.ValueMapping {
	return valueMapping(map[string]dashboard.ValueMappingResult{
		"open":        result("open", "green", 0),
		"blocked":     result("blocked: probes say nothing about their targets", "red", 1),
		"throttled":   result("throttled: connections lost now and then", "orange", 2),
		"intercepted": result("intercepted: a middlebox answers", "purple", 3),
		"unknown":     result("unknown: the canaries cannot tell", "yellow", 4),
	})
}

// egressPanel: the egress state each exporter's canaries give for every
// port and family they cover (the egress section of its config), for the
// ports the selected targets are probed on: the exporters' own series
// carry no target labels.
func egressPanel() *table.PanelBuilder {
	return tablePanel("Egress from the exporters (canaries)",
		"Whether each exporter may connect out, by port and address family, from its egress canaries (SMTP listeners known to be good): open; blocked (a quorum of canaries time out or are refused: the probes of that port from that exporter say nothing about their targets, and their connect alerts are held back); throttled (connections lost now and then: a provider's rate limit); intercepted (a middlebox answers with another greeting or certificate); unknown (the canaries fail on their own). See the runbook of SMTPEgressBlocked.",
		tableQuery("A", `smtp_exporter_egress_state == 1 and on (port) group by (port) (
  label_replace(probe_success{`+sel()+`}, "port", "$1", "instance", ".*:([0-9]+)"))`)).
		WithTransformation(organize([]string{"Time", "Value", "__name__"}, map[string]string{"instance": "exporter"},
			"exporter", "job", "port", "family", "state")).
		OverrideByName("state", []dashboard.DynamicConfigValue{
			prop("mappings", []dashboard.ValueMapping{egressStates()}),
			cellTypeProp("color-background"),
		}).
		Span(12).Height(8)
}

// egressProbesPanel: the probes that ran over a path their exporter's
// canaries do not vouch for (probe_smtp_egress_open 0).
func egressProbesPanel() *table.PanelBuilder {
	return tablePanel("Probes over a path the canaries do not vouch for",
		"Targets whose last probe ran from an exporter whose egress canaries for the target's port and family are not open (probe_smtp_egress_open 0): a failure of these probes may be the exporter's network, not the target's. Empty: every covered path is open, or no exporter has canaries.",
		tableQuery("A", `probe_smtp_egress_open{`+sel()+`} == 0`)).
		WithTransformation(organize([]string{"Time", "Value", "__name__"}, map[string]string{"instance": "target"},
			"instance", "module", "job")).
		OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
		Span(12).Height(8)
}

// injectionPanel: the STARTTLS injection check of modules with
// starttls_injection_check, one row per target.
func injectionPanel() *table.PanelBuilder {
	return tablePanel("STARTTLS injection (starttls_injection_check)",
		"Modules with starttls_injection_check: true test on a connection of their own whether the server keeps commands sent in clear text with STARTTLS and answers them inside TLS (CVE-2011-0411 class): then anyone on the path can inject commands into the encrypted session. Vulnerable: patch or replace the server; inconclusive: the check could not tell (no STARTTLS, a refused STARTTLS, a failed handshake), see /probe?debug=true.",
		tableQuery("A", `probe_smtp_starttls_injection{`+sel()+`} == 1`)).
		WithTransformation(organize([]string{"Time", "Value", "__name__"}, map[string]string{"instance": "target"},
			"instance", "module", "job", "result")).
		OverrideByName("result", []dashboard.DynamicConfigValue{
			prop("mappings", []dashboard.ValueMapping{valueMapping(map[string]dashboard.ValueMappingResult{
				"vulnerable":     result("VULNERABLE", "red", 0),
				"not_vulnerable": result("not vulnerable", "green", 1),
				"inconclusive":   result("inconclusive", "yellow", 2),
			})}),
			cellTypeProp("color-background"),
		}).
		OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
		Span(24).Height(8)
}
