package dashgen

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// handshakePhases are the phases up to a usable session, those the
// SMTPSlowHandshake alert adds up.
const handshakePhases = `phase=~"connect|banner|ehlo|starttls|tls_handshake|ehlo_tls"`

// successful keeps the series of successful probes only: a failed probe's
// phase lasts until the timeout (a filtered port, a silent server), which
// says nothing of latency.
const successful = ` and on (job, instance, module) probe_success == 1`

// successfulOnly ends the description of every latency panel.
const successfulOnly = " Successful probes only: a failed probe's phase lasts until the timeout (a filtered port, a silent server), which says nothing of latency; failures are on SMTP / Overview."

// latency: where the time of a handshake goes.
func latency() *dashboard.DashboardBuilder {
	slow := func() *dashboard.ThresholdsConfigBuilder { return thresholds("green", 2, "orange", 5, "red") }
	perTarget := "{{instance}} ({{module}})"
	return newDashboard(UIDLatency, "SMTP / Latency",
		"Where the time of an SMTP handshake goes: connect, greeting, EHLO, STARTTLS, TLS handshake, per target; and the slowest targets.",
		false).
		WithPanel(barGaugePanel("Handshake time by target",
			"Connect + greeting + EHLO + STARTTLS + TLS handshake + EHLO after TLS, average over the time range. The SMTPSlowHandshake alert fires above 5 s."+successfulOnly,
			instant(`sort_desc(sum by (instance, module) (avg_over_time((probe_smtp_phase_duration_seconds{`+sel(handshakePhases)+`}`+successful+`)[$__range:])))`).
				LegendFormat(perTarget)).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			Unit("s").Min(0).Thresholds(slow()).
			Span(12).Height(9)).
		WithPanel(tablePanel("Slowest targets", "The ten targets whose whole probe (including AUTH and QUIT) took longest on average over the time range."+successfulOnly,
			tableQuery("A", `topk(10, avg_over_time((probe_duration_seconds{`+sel()+`}`+successful+`)[$__range:]))`)).
			WithTransformation(organize([]string{"Time", "__name__"}, map[string]string{"instance": "target", "Value": "probe duration"},
				"instance", "module", "job", "Value")).
			WithTransformation(transformation("sortBy", map[string]any{
				"sort": []map[string]any{{"field": "probe duration", "desc": true}},
			})).
			OverrideByName("probe duration", []dashboard.DynamicConfigValue{
				prop("unit", "s"),
				prop("custom.cellOptions", map[string]string{"type": "gauge", "mode": "basic"}),
				prop("thresholds", mustThresholds(slow())),
			}).
			OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
			Span(12).Height(9)).
		WithPanel(tablePanel("Phase breakdown per target",
			"Average time of each handshake phase per target over the time range (0: phase not used, e.g. no STARTTLS on implicit TLS)."+successfulOnly,
			tableQuery("A", `avg_over_time((probe_smtp_phase_duration_seconds{`+sel(handshakePhases)+`}`+successful+`)[$__range:])`)).
			WithTransformation(transformation("groupingToMatrix", map[string]string{
				"columnField": "phase", "rowField": "instance", "valueField": "Value",
			})).
			WithTransformation(organize(nil, nil, `instance\phase`, "connect", "banner", "ehlo", "starttls", "tls_handshake", "ehlo_tls")).
			CellOptions(cellColorBackground()).
			Filterable(false).
			Thresholds(thresholds("transparent", 1, "orange", 3, "red")).
			Unit("s").Decimals(3).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
			OverrideByName(`instance\phase`, []dashboard.DynamicConfigValue{cellTypeProp("auto")}).
			Span(24).Height(9)).
		WithPanel(timeseriesPanel("Phases, average over targets", "Average duration of each handshake phase across the selected targets, stacked: which phase grew."+successfulOnly, "s",
			rangeQuery("A", `avg by (phase) (probe_smtp_phase_duration_seconds{`+sel(handshakePhases)+`}`+successful+`)`, "{{phase}}")).
			Stacking(stacked()).Min(0).Span(12).Height(9)).
		WithPanel(timeseriesPanel("Probe duration by target", "The whole probe per target, resolution to QUIT."+successfulOnly, "s",
			rangeQuery("A", `probe_duration_seconds{`+sel()+`}`+successful, perTarget)).
			Min(0).Span(12).Height(9)).
		WithPanel(timeseriesPanel("TLS handshake by target", "The TLS handshake alone, for targets that reached it."+successfulOnly, "s",
			rangeQuery("A", `probe_smtp_phase_duration_seconds{`+sel(`phase="tls_handshake"`)+`} > 0`+successful, perTarget)).
			Min(0).Span(12).Height(9)).
		WithPanel(timeseriesPanel("Greeting wait by target", "From connect to the server's 220 greeting: slow reverse DNS, postscreen greet pauses and tarpits show here."+successfulOnly, "s",
			rangeQuery("A", `probe_smtp_phase_duration_seconds{`+sel(`phase="banner"`)+`}`+successful, perTarget)).
			Min(0).Span(12).Height(9)).
		WithPanel(timeseriesPanel("DNS lookup by target", "Resolving the target's host name (0 for IP addresses).", "s",
			rangeQuery("A", `probe_dns_lookup_time_seconds{`+sel()+`}`, perTarget)).
			Min(0).Span(24).Height(7))
}

func mustThresholds(b *dashboard.ThresholdsConfigBuilder) dashboard.ThresholdsConfig {
	t, err := b.Build()
	if err != nil {
		panic(err) // a fixed list of steps
	}
	return t
}
