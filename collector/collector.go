// Package collector turns one probe's result into Prometheus metrics. Names
// follow blackbox_exporter where it has the same fact, so that existing
// alerts and dashboards carry over; SMTP facts live under probe_smtp_.
package collector

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

var (
	successDesc = newDesc("probe_success",
		"Whether the probe succeeded (1) or failed (0).", nil)
	durationDesc = newDesc("probe_duration_seconds",
		"How long the whole probe took, in seconds.", nil)
	dnsLookupDesc = newDesc("probe_dns_lookup_time_seconds",
		"How long resolving the target's host name took, in seconds.", nil)
	ipProtocolDesc = newDesc("probe_ip_protocol",
		"The IP protocol version of the address probed (4 or 6; 0 when none was resolved).", nil)

	failureDesc = newDesc("probe_smtp_failure",
		"Why the probe failed: 1 for the probe's failure reason, 0 for every other reason.", []string{"reason"})
	warningDesc = newDesc("probe_smtp_warning",
		"Problems found that did not fail the probe: 1 for each such reason, 0 for every other reason.", []string{"reason"})
	phaseDurationDesc = newDesc("probe_smtp_phase_duration_seconds",
		"How long each phase of the SMTP conversation took, in seconds (0 for a phase not reached).", []string{"phase"})
	replyCodeDesc = newDesc("probe_smtp_reply_code",
		"The last SMTP reply code of each phase (0 when the phase got no reply).", []string{"phase"})
	startTLSAdvertisedDesc = newDesc("probe_smtp_starttls_advertised",
		"Whether the server advertised STARTTLS on the clear-text session.", nil)
	tlsDesc = newDesc("probe_smtp_tls",
		"Whether the SMTP session ended up encrypted with TLS.", nil)
	authBeforeTLSDesc = newDesc("probe_smtp_auth_before_tls",
		"Whether AUTH was advertised on a clear-text session, inviting passwords in clear text.", nil)
	authSuccessDesc = newDesc("probe_smtp_auth_success",
		"Whether the server accepted the module's credentials.", nil)
	extensionDesc = newDesc("probe_smtp_extension_info",
		"An ESMTP extension advertised in the last EHLO reply.", []string{"extension"})
	authMechanismDesc = newDesc("probe_smtp_auth_mechanism_info",
		"A SASL mechanism advertised with AUTH in the last EHLO reply.", []string{"mechanism"})
	sizeLimitDesc = newDesc("probe_smtp_size_limit_bytes",
		"The message size limit from the SIZE extension of the last EHLO reply, in bytes (0 when none is declared).", nil)

	tlsVersionDesc = newDesc("probe_tls_version_info",
		"The TLS version the session negotiated.", []string{"version"})
	tlsCipherDesc = newDesc("probe_tls_cipher_info",
		"The TLS cipher suite the session negotiated.", []string{"cipher"})
	earliestExpiryDesc = newDesc("probe_ssl_earliest_cert_expiry",
		"The earliest expiry among the certificates the server presented, in seconds since the Unix epoch.", nil)
	lastChainExpiryDesc = newDesc("probe_ssl_last_chain_expiry_timestamp_seconds",
		"The earliest expiry in the verified certificate chain (the presented chain when none verified), in seconds since the Unix epoch.", nil)
	lastChainInfoDesc = newDesc("probe_ssl_last_chain_info",
		"Facts about the server's leaf certificate.",
		[]string{"fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber"})
	certVerifiedDesc = newDesc("probe_tls_certificate_verified",
		"Whether the certificate chain leads to a trusted root and matches the host name.", nil)
)

// Collector exposes the metrics of one probe result. Make a fresh one, in a
// fresh registry, for every probe.
type Collector struct {
	result *prober.Result
	// reasons are those of probe_smtp_failure: a pair of a domain probe
	// has one more (target_not_allowed).
	reasons []prober.Reason
}

// New returns the collector for one result.
func New(result *prober.Result) *Collector {
	return &Collector{result: result, reasons: prober.Reasons}
}

// Describe sends every descriptor the collector may use.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
}

// Collect sends the result's metrics. Every series a module can produce is
// sent on every probe of it (0 when false), so that alerts on == 0 never
// meet an absent series; TLS and certificate series need a handshake.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.each(func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	})
}

// each hands every series of the result to gauge, the samples of one
// metric one after the other. Collect and WriteText both read it.
func (c *Collector) each(emit func(d *prometheus.Desc, v float64, labels ...string)) {
	r := c.result
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		// The prober sanitizes what servers send; this is the last guard,
		// because one invalid label value fails the whole scrape. A label
		// of server text (a certificate's 64 SANs, joined) is capped, so
		// that a hostile server cannot make series kilobytes long.
		for i, l := range labels {
			labels[i] = prober.CapLabel(strings.ToValidUTF8(l, "\uFFFD"))
		}
		emit(d, v, labels...)
	}

	gauge(successDesc, boolValue(r.Success))
	gauge(durationDesc, r.Duration.Seconds())
	if ph := r.Phase(prober.PhaseResolve); ph != nil {
		gauge(dnsLookupDesc, ph.Duration.Seconds())
	}
	gauge(ipProtocolDesc, float64(r.IPProtocol))

	for _, reason := range c.reasons {
		gauge(failureDesc, boolValue(r.Failure == reason), string(reason))
	}
	for _, reason := range prober.Reasons {
		gauge(warningDesc, boolValue(r.HasWarning(reason)), string(reason))
	}
	for _, ph := range prober.Phases {
		pr := r.Phase(ph)
		var d float64
		if pr != nil {
			d = pr.Duration.Seconds()
		}
		gauge(phaseDurationDesc, d, string(ph))
	}
	for _, ph := range prober.ReplyPhases {
		var code float64
		if pr := r.Phase(ph); pr != nil {
			code = float64(pr.ReplyCode)
		}
		gauge(replyCodeDesc, code, string(ph))
	}

	gauge(startTLSAdvertisedDesc, boolValue(r.StartTLSAdvertised))
	gauge(tlsDesc, boolValue(r.Encrypted))
	gauge(authBeforeTLSDesc, boolValue(r.AuthBeforeTLS))
	if r.AuthConfigured {
		gauge(authSuccessDesc, boolValue(r.AuthSuccess))
	}

	var size float64
	if ehlo := r.LastEHLO(); ehlo != nil {
		for _, ext := range ehlo.Extensions {
			gauge(extensionDesc, 1, ext.Keyword)
		}
		for _, mech := range ehlo.AuthMechanisms {
			gauge(authMechanismDesc, 1, mech)
		}
		size = float64(ehlo.SizeLimit)
	}
	gauge(sizeLimitDesc, size)

	daneSeries(r.DANE, gauge)

	if t := r.TLS; t != nil {
		gauge(tlsVersionDesc, 1, t.Version)
		gauge(tlsCipherDesc, 1, t.Cipher)
		gauge(certVerifiedDesc, boolValue(t.Verified))
		if len(t.Certificates) > 0 {
			gauge(earliestExpiryDesc, float64(t.EarliestExpiry.Unix()))
			gauge(lastChainExpiryDesc, float64(t.LastChainExpiry.Unix()))
			leaf := t.Certificates[0]
			gauge(lastChainInfoDesc, 1, leaf.FingerprintSHA256, leaf.Subject, leaf.Issuer,
				strings.Join(leaf.SANs, ","), leaf.SerialNumber)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
