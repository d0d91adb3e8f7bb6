package dashgen

import (
	"strconv"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// certReasons are the failure (and warning) reasons of a certificate that
// does not verify.
const certReasons = `reason=~"cert_expired|cert_untrusted|cert_hostname_mismatch"`

// daysLeft is the days until a certificate timestamp metric's date.
func daysLeft(metric string) string {
	return `(` + metric + `{` + sel() + `} - time()) / 86400`
}

// certificates: every TLS endpoint's certificate dates and verification.
func certificates() *dashboard.DashboardBuilder {
	warn, crit := strconv.Itoa(ExpiryWarningDays), strconv.Itoa(ExpiryCriticalDays)
	daysColumn := func() []dashboard.DynamicConfigValue {
		return []dashboard.DynamicConfigValue{
			prop("unit", "d"),
			prop("decimals", 1),
			cellTypeProp("color-background"),
			prop("thresholds", mustThresholds(expiryThresholds())),
		}
	}
	return newDashboard(UIDCertificates, "SMTP / Certificates",
		"Every TLS endpoint: days until its certificates expire (leaf and chain), verification, issuer; soonest first. Thresholds at 21 days (warning) and 7 days (critical), like the alerts.",
		false).
		WithPanel(statPanel("Soonest expiry", "Days until the first certificate among the selected endpoints expires.",
			`min(`+daysLeft("probe_ssl_earliest_cert_expiry")+`)`).
			Unit("d").Decimals(1).Thresholds(expiryThresholds()).Span(6).Height(4)).
		WithPanel(statPanel("Expiring < "+warn+" days", "Endpoints with a certificate expiring within "+warn+" days (or expired).",
			`count(`+daysLeft("probe_ssl_earliest_cert_expiry")+` < `+warn+`) or vector(0)`).
			Thresholds(thresholds("green", 1, "orange")).Span(6).Height(4)).
		WithPanel(statPanel("Expiring < "+crit+" days", "Endpoints with a certificate expiring within "+crit+" days (or expired).",
			`count(`+daysLeft("probe_ssl_earliest_cert_expiry")+` < `+crit+`) or vector(0)`).
			Thresholds(thresholds("green", 1, "red")).Span(6).Height(4)).
		WithPanel(statPanel("Not verifying", "Endpoints whose certificate is expired, untrusted or for another host.",
			`count(probe_tls_certificate_verified{`+sel()+`} == 0) or vector(0)`).
			Thresholds(thresholds("green", 1, "red")).Span(6).Height(4)).
		WithPanel(tablePanel("Certificates, soonest first",
			"Earliest expiry: the first of all certificates the server presents (leaf or intermediate). Verified chain: the first expiry in the chain that verified. Verified: chain to a trusted root and host name.",
			tableQuery("A", daysLeft("probe_ssl_earliest_cert_expiry")),
			tableQuery("B", daysLeft("probe_ssl_last_chain_expiry_timestamp_seconds")),
			tableQuery("C", `probe_tls_certificate_verified{`+sel()+`}`),
			tableQuery("D", `probe_ssl_last_chain_info{`+sel()+`}`)).
			WithTransformation(transformation("merge", map[string]any{})).
			WithTransformation(organize(
				[]string{"Time", "job", "Value #D", "fingerprint_sha256", "serialnumber", "__name__"},
				map[string]string{
					"instance": "target", "Value #A": "days left (earliest)", "Value #B": "days left (verified chain)",
					"Value #C": "verified", "subjectalternative": "names",
				},
				"instance", "module", "Value #A", "Value #B", "Value #C", "subject", "issuer", "subjectalternative")).
			WithTransformation(transformation("sortBy", map[string]any{
				"sort": []map[string]any{{"field": "days left (earliest)", "desc": false}},
			})).
			OverrideByName("days left (earliest)", daysColumn()).
			OverrideByName("days left (verified chain)", daysColumn()).
			OverrideByName("verified", []dashboard.DynamicConfigValue{
				cellTypeProp("color-background"),
				prop("mappings", yesNo()),
			}).
			OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
			Span(24).Height(10)).
		WithPanel(timeseriesPanel("Days until expiry", "Days until the earliest certificate of each endpoint expires; lines at "+warn+" and "+crit+" days.", "d",
			rangeQuery("A", daysLeft("probe_ssl_earliest_cert_expiry"), "{{instance}} ({{module}})")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
			Thresholds(expiryThresholds()).
			Span(14).Height(9)).
		WithPanel(tablePanel("Verification failures", "Endpoints whose certificate does not verify, and why: red where it fails the probe, orange where the module accepts it (a warning); no reason: see /probe?debug=true.",
			tableQuery("A", `probe_smtp_failure{`+sel(certReasons)+`} == 1`+
				` or on (job, instance, module) probe_smtp_warning{`+sel(certReasons)+`} == 1`+
				` or on (job, instance, module) (probe_tls_certificate_verified{`+sel()+`} == 0)`)).
			WithTransformation(organize([]string{"Time", "Value", "__name__"}, map[string]string{"instance": "target", "reason": "why"},
				"instance", "module", "job", "reason")).
			OverrideByName("why", []dashboard.DynamicConfigValue{
				prop("mappings", []dashboard.ValueMapping{reasonMapping()}),
				cellTypeProp("color-background"),
			}).
			Span(10).Height(9))
}
