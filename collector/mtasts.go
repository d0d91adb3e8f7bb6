package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/mtasts"
)

// The MTA-STS and TLS-RPT series of a domain probe whose module has
// mta_sts: true.
var (
	mtaSTSRecordDesc = domain.add("probe_smtp_mta_sts_record_valid",
		"Whether the domain publishes exactly one valid v=STSv1 TXT record at _mta-sts (RFC 8461 section 3.1).", nil)
	mtaSTSFetchDesc = domain.add("probe_smtp_mta_sts_policy_fetch_success",
		"Whether the MTA-STS policy was fetched over HTTPS and parsed (0 when there is no record to fetch it for).", nil)
	mtaSTSModeDesc = domain.add("probe_smtp_mta_sts_mode",
		"The mode of the MTA-STS policy: 1 for the current mode, 0 for the others; all 0 without a policy.", []string{"mode"})
	mtaSTSMaxAgeDesc = domain.add("probe_smtp_mta_sts_max_age_seconds",
		"The max_age of the MTA-STS policy, in seconds: how long senders cache it (0 without a policy).", nil)
	mtaSTSCertExpiryDesc = domain.add("probe_smtp_mta_sts_policy_cert_expiry_timestamp_seconds",
		"The expiry of the policy host's certificate (mta-sts.DOMAIN), in seconds since the Unix epoch; present after a TLS handshake with it.", nil)
	mtaSTSMXMatchDesc = domain.add("probe_smtp_mta_sts_mx_match",
		"Whether the MX host matches an mx pattern of the MTA-STS policy (0 without a policy).", []string{"mx"})
	mtaSTSCompliantDesc = domain.add("probe_smtp_mta_sts_compliant",
		"Whether the (MX host, address) pair complies with the MTA-STS policy: matching pattern and, in enforce and testing mode, TLS 1.2 or later with a certificate valid for the MX host.", []string{"mx", "address"})
	tlsrptDesc = domain.add("probe_smtp_tlsrpt_record_valid",
		"Whether the domain publishes exactly one valid v=TLSRPTv1 TXT record at _smtp._tls with mailto: or https: rua URIs (RFC 8460).", nil)
)

// mtaSTSSeries emits the MTA-STS series of a domain probe.
func mtaSTSSeries(r *maildomain.Result, gauge func(d *prometheus.Desc, v float64, labels ...string)) {
	m := r.MTASTS
	if m == nil {
		return
	}
	gauge(mtaSTSRecordDesc, boolValue(m.RecordValid))
	gauge(mtaSTSFetchDesc, boolValue(m.Policy != nil))
	var mode mtasts.Mode
	var maxAge float64
	if m.Policy != nil {
		mode, maxAge = m.Policy.Mode, float64(m.Policy.MaxAge)
	}
	for _, md := range mtasts.Modes {
		gauge(mtaSTSModeDesc, boolValue(md == mode), string(md))
	}
	gauge(mtaSTSMaxAgeDesc, maxAge)
	if m.Fetch != nil && !m.Fetch.CertNotAfter.IsZero() {
		gauge(mtaSTSCertExpiryDesc, float64(m.Fetch.CertNotAfter.Unix()))
	}
	for _, h := range m.MX {
		gauge(mtaSTSMXMatchDesc, boolValue(h.Match), h.Host)
	}
	for _, p := range r.Pairs {
		if p.Address.IsValid() {
			gauge(mtaSTSCompliantDesc, boolValue(p.MTASTS != nil && p.MTASTS.Compliant), p.MX, p.Address.String())
		}
	}
	gauge(tlsrptDesc, boolValue(m.TLSRPTValid))
}
