// Package collector turns one probe's result into Prometheus metrics: a
// single target's, or a mail domain's with each single-target series once
// per (MX host, address) pair. Names follow blackbox_exporter where it has
// the same fact, so that existing alerts and dashboards carry over; SMTP
// facts live under probe_smtp_.
package collector

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
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
	leafNotBeforeDesc = newDesc("probe_ssl_leaf_not_before_timestamp_seconds",
		"When the server's leaf certificate became valid, in seconds since the Unix epoch.", nil)
	leafKeyBitsDesc = newDesc("probe_ssl_leaf_key_bits",
		"The size of the leaf certificate's public key in bits, by key type (rsa, ecdsa, ed25519).", []string{"type"})
	leafSignatureDesc = newDesc("probe_ssl_leaf_signature_algorithm_info",
		"The algorithm the leaf certificate is signed with (SHA256-RSA, ECDSA-SHA384, SHA1-RSA, ...).", []string{"algorithm"})
	chainCertificatesDesc = newDesc("probe_ssl_chain_certificates",
		"How many certificates the server presented, leaf included.", nil)
	ocspStapledDesc = newDesc("probe_tls_ocsp_stapled",
		"Whether the server stapled an OCSP response to the handshake.", nil)
	ocspValidDesc = newDesc("probe_tls_ocsp_response_valid",
		"Whether the stapled OCSP response parsed, answers for the leaf and is signed by its issuer; an invalid response's status is not reported.", nil)
	ocspStatusDesc = newDesc("probe_tls_ocsp_status",
		"The leaf's status in the stapled OCSP response: 1 for the status given, 0 for the others (all 0 when the response is not valid).", []string{"status"})
	ptrInfoDesc = newDesc("probe_smtp_ptr_info",
		"A PTR name of the address connected to (reverse_dns).", []string{"ptr"})
	fcrdnsDesc = newDesc("probe_smtp_fcrdns",
		"Whether a PTR name of the address connected to resolves back to it (forward-confirmed reverse DNS; reverse_dns).", nil)
	bannerHostnameDesc = newDesc("probe_smtp_banner_hostname_info",
		"The name the server gives in its greeting, sanitized and capped (reverse_dns).", []string{"hostname"})
	bannerMatchesPTRDesc = newDesc("probe_smtp_banner_matches_ptr",
		"Whether the name in the greeting is a PTR name of the address connected to (reverse_dns).", nil)
	legacyVersionDesc = newDesc("probe_tls_legacy_version_accepted",
		"Whether the server completed a handshake with a client offering only this TLS version (tls_posture; absent when the check was not conclusive).", []string{"version"})
	weakCipherAcceptedDesc = newDesc("probe_tls_weak_cipher_accepted",
		"Whether the server completed a TLS 1.2 handshake with a client offering only weak cipher suites (tls_posture; absent when the check was not conclusive).", nil)
	weakCipherInfoDesc = newDesc("probe_tls_weak_cipher_info",
		"The weak cipher suite the server chose when offered only weak ones.", []string{"cipher"})
	ocspNextUpdateDesc = newDesc("probe_tls_ocsp_next_update_timestamp_seconds",
		"When the stapled OCSP response says fresher information will be available, in seconds since the Unix epoch.", nil)
	starttlsInjectionDesc = newDesc("probe_smtp_starttls_injection",
		"The STARTTLS injection check (starttls_injection_check), 1 for its result and 0 for the others: vulnerable (the server answered inside TLS a command sent in clear text with STARTTLS, CVE-2011-0411), not_vulnerable, or inconclusive (it could not tell).", []string{"result"})
	egressOpenDesc = newDesc("probe_smtp_egress_open",
		"Whether this host's egress canaries get through to the probe's port over its address family (0: blocked, throttled, intercepted or unknown: a failure may be the path's, not the target's); absent when no canary covers them.", nil)
)

// Collector exposes the metrics of one probe's outcome: a single target's,
// or a mail domain's. Make a fresh one, in a fresh registry, for every
// probe.
type Collector struct {
	// One of target and domain is set.
	target *prober.Result
	// reasons are those of probe_smtp_failure: a pair of a domain probe
	// has one more (target_not_allowed).
	reasons []prober.Reason
	domain  *maildomain.Result
}

// New returns the collector for one probe's outcome.
func New(o prober.Outcome) *Collector {
	switch r := o.(type) {
	case *maildomain.Result:
		return &Collector{domain: r}
	case *prober.Result:
		return &Collector{target: r, reasons: reasonsByName}
	}
	return &Collector{} // no series: there is no other kind of probe
}

// descs are the descriptors of the collector's kind of probe.
func (c *Collector) descs() *descSet {
	if c.domain != nil {
		return domain
	}
	return single
}

// Describe sends every descriptor the collector may use.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.descs().metrics {
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

// each hands every series of the outcome to emit, the samples of one
// metric one after the other. Collect and WriteText both read it.
func (c *Collector) each(emit func(d *prometheus.Desc, v float64, labels ...string)) {
	switch {
	case c.domain != nil:
		c.eachDomain(emit)
	case c.target != nil:
		c.eachTarget(emit)
	}
}

// eachTarget is each for a single target (or one pair of a domain).
func (c *Collector) eachTarget(emit func(d *prometheus.Desc, v float64, labels ...string)) {
	r := c.target
	g := &emitter{emit: emit}

	g.gauge(successDesc, boolValue(r.Success))
	g.gauge(durationDesc, r.Duration.Seconds())
	if ph := r.Phase(prober.PhaseResolve); ph != nil {
		g.gauge(dnsLookupDesc, ph.Duration.Seconds())
	}
	g.gauge(ipProtocolDesc, float64(r.IPProtocol))

	for _, reason := range c.reasons {
		g.gauge(failureDesc, boolValue(r.Failure == reason), string(reason))
	}
	for _, reason := range reasonsByName {
		g.gauge(warningDesc, boolValue(r.HasWarning(reason)), string(reason))
	}
	for _, ph := range phasesByName {
		pr := r.Phase(ph)
		var d float64
		if pr != nil {
			d = pr.Duration.Seconds()
		}
		g.gauge(phaseDurationDesc, d, string(ph))
	}
	for _, ph := range replyPhasesByName {
		var code float64
		if pr := r.Phase(ph); pr != nil {
			code = float64(pr.ReplyCode)
		}
		g.gauge(replyCodeDesc, code, string(ph))
	}

	g.gauge(startTLSAdvertisedDesc, boolValue(r.StartTLSAdvertised))
	g.gauge(tlsDesc, boolValue(r.Encrypted))
	g.gauge(authBeforeTLSDesc, boolValue(r.AuthBeforeTLS))
	if r.AuthConfigured {
		g.gauge(authSuccessDesc, boolValue(r.AuthSuccess))
	}

	var size float64
	if ehlo := r.LastEHLO(); ehlo != nil {
		for _, ext := range ehlo.Extensions {
			g.gauge(extensionDesc, 1, ext.Keyword)
		}
		for _, mech := range ehlo.AuthMechanisms {
			g.gauge(authMechanismDesc, 1, mech)
		}
		size = float64(ehlo.SizeLimit)
	}
	g.gauge(sizeLimitDesc, size)
	if r.Egress != nil {
		g.gauge(egressOpenDesc, boolValue(r.Egress.Open()))
	}
	if ic := r.Injection; ic != nil {
		for _, res := range prober.InjectionResults {
			g.gauge(starttlsInjectionDesc, boolValue(ic.Result == res), res)
		}
	}

	daneSeries(r.DANE, g.gauge)

	if t := r.TLS; t != nil {
		g.gauge(tlsVersionDesc, 1, t.Version.String())
		g.gauge(tlsCipherDesc, 1, t.Cipher)
		g.gauge(certVerifiedDesc, boolValue(t.Verified))
		if len(t.Certificates) > 0 {
			g.gauge(earliestExpiryDesc, float64(t.EarliestExpiry.Unix()))
			g.gauge(lastChainExpiryDesc, float64(t.LastChainExpiry.Unix()))
			leaf := t.Certificates[0]
			g.gauge(lastChainInfoDesc, 1, leaf.FingerprintSHA256, leaf.Subject, leaf.Issuer,
				strings.Join(leaf.SANs, ","), leaf.SerialNumber)
			g.gauge(leafNotBeforeDesc, float64(leaf.NotBefore.Unix()))
			g.gauge(leafKeyBitsDesc, float64(leaf.KeyBits), leaf.KeyType)
			g.gauge(leafSignatureDesc, 1, leaf.SignatureAlgorithm)
		}
		g.gauge(chainCertificatesDesc, float64(t.ChainCertificates))
		g.gauge(ocspStapledDesc, boolValue(t.OCSP != nil))
		if o := t.OCSP; o != nil {
			g.gauge(ocspValidDesc, boolValue(o.Valid))
			for _, st := range prober.OCSPStatuses {
				g.gauge(ocspStatusDesc, boolValue(o.Status == st), st)
			}
			if !o.NextUpdate.IsZero() {
				g.gauge(ocspNextUpdateDesc, float64(o.NextUpdate.Unix()))
			}
		}
	}
	if rd := r.ReverseDNS; rd != nil {
		if r.BannerHostname != "" {
			g.gauge(bannerHostnameDesc, 1, r.BannerHostname)
		}
		if rd.Conclusive {
			for _, n := range rd.PTR {
				g.gauge(ptrInfoDesc, 1, n)
			}
			g.gauge(fcrdnsDesc, boolValue(rd.FCrDNS))
			if r.BannerHostname != "" {
				g.gauge(bannerMatchesPTRDesc, boolValue(rd.BannerMatchesPTR))
			}
		}
	}
	for _, c := range r.Posture {
		if !c.Conclusive {
			continue
		}
		if c.Check == prober.CheckWeakCiphers {
			g.gauge(weakCipherAcceptedDesc, boolValue(c.Accepted))
			if c.Accepted {
				g.gauge(weakCipherInfoDesc, 1, c.Cipher)
			}
		} else {
			g.gauge(legacyVersionDesc, boolValue(c.Accepted), c.Check)
		}
	}
}

// The lists whose members become one label of a metric, in label order:
// the text exposition then finds each metric's samples sorted already,
// as it writes them, instead of sorting them on every probe.
var (
	reasonsByName     = byName(prober.Reasons)
	pairReasonsByName = byName(maildomain.PairReasons)
	phasesByName      = byName(prober.Phases)
	replyPhasesByName = byName(prober.ReplyPhases)
)

func byName[S ~[]E, E ~string](s S) S {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// emitter hands series on to emit with their label values made safe: the
// prober sanitizes what servers send, and this is the last guard, because
// one invalid label value fails the whole scrape; a label of server text (a
// certificate's SANs, joined) is capped, so that a hostile server cannot
// make series kilobytes long. gauge copies the values into a buffer of its
// own, so that each call's labels stay on the caller's stack: a probe has
// some 150 series, and they would otherwise cost an allocation each.
type emitter struct {
	emit   func(d *prometheus.Desc, v float64, labels ...string)
	labels []string
}

func (e *emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.labels = e.labels[:0]
	for _, l := range labels {
		e.labels = append(e.labels, prober.CleanLabel(l))
	}
	e.emit(d, v, e.labels...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
