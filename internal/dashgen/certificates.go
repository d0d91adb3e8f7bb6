package dashgen

import (
	"strconv"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
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
			Span(10).Height(9)).
		WithPanel(leafFactsPanel()).
		WithPanel(posturePanel()).
		WithPanel(injectionPanel())
}

// leafFactsPanel: the leaf's key, signature and chain, and the stapled
// OCSP response, whether or not the chain verifies.
func leafFactsPanel() *table.PanelBuilder {
	return tablePanel("Leaf key, signature and OCSP",
		"The leaf certificate as presented (also when it does not verify): key type and size, signature algorithm, certificates presented, and the stapled OCSP response (its status only from a response signed by the leaf's issuer).",
		tableQuery("A", `probe_ssl_leaf_key_bits{`+sel()+`}`),
		tableQuery("B", `probe_ssl_leaf_signature_algorithm_info{`+sel()+`}`),
		tableQuery("C", `probe_ssl_chain_certificates{`+sel()+`}`),
		tableQuery("D", `(time() - probe_ssl_leaf_not_before_timestamp_seconds{`+sel()+`}) / 86400`),
		tableQuery("E", `probe_tls_ocsp_stapled{`+sel()+`}`),
		tableQuery("F", `probe_tls_ocsp_response_valid{`+sel()+`}`),
		tableQuery("G", `probe_tls_ocsp_status{`+sel()+`} == 1`),
		tableQuery("H", `(probe_tls_ocsp_next_update_timestamp_seconds{`+sel()+`} - time()) / 3600`)).
		WithTransformation(transformation("merge", map[string]any{})).
		WithTransformation(organize(
			[]string{"Time", "job", "__name__", "Value #B", "Value #G"},
			map[string]string{
				"instance": "target", "type": "key", "Value #A": "key bits", "algorithm": "signature",
				"Value #C": "certificates", "Value #D": "days since issue", "Value #E": "OCSP stapled",
				"Value #F": "OCSP valid", "status": "OCSP status", "Value #H": "hours to OCSP update",
			},
			"instance", "module", "type", "Value #A", "algorithm", "Value #C", "Value #D", "Value #E", "Value #F", "status", "Value #H")).
		OverrideByName("key bits", []dashboard.DynamicConfigValue{
			cellTypeProp("color-background"), prop("thresholds", mustThresholds(thresholds("red", 2048, "green"))),
		}).
		OverrideByName("OCSP valid", []dashboard.DynamicConfigValue{cellTypeProp("color-background"), prop("mappings", yesNo())}).
		OverrideByName("hours to OCSP update", []dashboard.DynamicConfigValue{prop("unit", "h"), prop("decimals", 1)}).
		OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
		Span(24).Height(10)
}

// posturePanel: what tls_posture's extra connections found accepted.
func posturePanel() *table.PanelBuilder {
	badIfYes := func() []dashboard.DynamicConfigValue {
		return []dashboard.DynamicConfigValue{cellTypeProp("color-background"), prop("mappings", boolMapping("no", "green", "yes", "red"))}
	}
	return tablePanel("Legacy TLS and weak ciphers (tls_posture)",
		"Modules with tls_posture: true make one extra connection per check after the probe. yes: the server completed a handshake offering only TLS 1.0, only TLS 1.1, or TLS 1.2 with only weak suites (RC4, 3DES, CBC). No row: the checks did not run or were not conclusive.",
		tableQuery("A", `probe_tls_legacy_version_accepted{`+sel(`version="TLS 1.0"`)+`}`),
		tableQuery("B", `probe_tls_legacy_version_accepted{`+sel(`version="TLS 1.1"`)+`}`),
		tableQuery("C", `probe_tls_weak_cipher_accepted{`+sel()+`}`),
		tableQuery("D", `probe_tls_weak_cipher_info{`+sel()+`}`)).
		WithTransformation(transformation("merge", map[string]any{})).
		WithTransformation(organize(
			[]string{"Time", "job", "__name__", "version", "Value #D"},
			map[string]string{
				"instance": "target", "Value #A": "TLS 1.0 accepted", "Value #B": "TLS 1.1 accepted",
				"Value #C": "weak cipher accepted", "cipher": "weak cipher chosen",
			},
			"instance", "module", "Value #A", "Value #B", "Value #C", "cipher")).
		OverrideByName("TLS 1.0 accepted", badIfYes()).
		OverrideByName("TLS 1.1 accepted", badIfYes()).
		OverrideByName("weak cipher accepted", badIfYes()).
		OverrideByName("target", []dashboard.DynamicConfigValue{drillDown()}).
		Span(24).Height(8)
}
