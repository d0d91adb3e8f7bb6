package collector

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// The series of a domain probe: the domain's own (probe_success,
// probe_duration_seconds, probe_dns_lookup_time_seconds, probe_smtp_mx_*,
// ...), then a few per (MX host, address) pair, under the names of a
// single probe's series with the labels mx and address added (see
// pairSeries): at most 100 + 20 per pair in all.
var (
	domainSuccessDesc = domain.add("probe_success",
		"Whether the probe succeeded (1) or failed (0); for a mail domain, by the module's mx.success rule.", nil)
	domainDurationDesc = domain.add("probe_duration_seconds",
		"How long the whole probe took, in seconds.", nil)
	domainDNSLookupDesc = domain.add("probe_dns_lookup_time_seconds",
		"How long the domain's MX lookup took, in seconds.", nil)
	mxInfoDesc = domain.add("probe_smtp_mx_info",
		"An MX record of the domain (mx \".\" for a null MX; the domain itself, preference 0, for an implicit MX).",
		[]string{"mx", "preference"})
	mxHostsDesc = domain.add("probe_smtp_mx_hosts",
		"How many MX hosts the domain has, those beyond mx.max_hosts included.", nil)
	mxAddressesDesc = domain.add("probe_smtp_mx_addresses",
		"How many (MX host, address) pairs were probed.", nil)
	mxAddressesSuccessDesc = domain.add("probe_smtp_mx_addresses_success",
		"How many of the probed (MX host, address) pairs succeeded.", nil)
	mxNullDesc = domain.add("probe_smtp_mx_null",
		"Whether the domain publishes a null MX (RFC 7505): it accepts no mail.", nil)
	mxImplicitDesc = domain.add("probe_smtp_mx_implicit",
		"Whether the domain has no MX records, so that it is its own mail host (RFC 5321 section 5.1).", nil)
	domainFailureDesc = domain.add("probe_smtp_domain_failure",
		"Why the domain probe failed: 1 for its failure reason, 0 for every other reason.", []string{"reason"})
	requireTLSReadyDesc = domain.add("probe_smtp_requiretls_ready",
		"Whether the domain can receive mail sent with REQUIRETLS (RFC 8689): every probed address advertises REQUIRETLS and is authenticated by DANE (validated) or by an MTA-STS policy in enforce mode it complies with.", nil)
	resolverValidatingDesc = domain.add("probe_smtp_dns_resolver_validating",
		"Whether the DNS server the domain probe asks validates DNSSEC: the AD bit on its known-good name (modules with DANE or MTA-STS; absent when that name got no answer).", nil)
	addressSuccessDesc = domain.add("probe_smtp_address_success",
		"Whether the probe of one address of one MX host succeeded (an MX host without an address has address \"\").",
		[]string{"mx", "address"})
	dnsQueriesDesc = domain.add("probe_dns_queries",
		"How many DNS messages the probe sent, every lookup counted (MX, addresses, PTR and TLSA names, MTA-STS); a probe sends at most 128.", nil)
	pairsSkippedDesc = domain.add("probe_smtp_domain_pairs_skipped",
		"Pairs of MX host and address that DNS gave and the probe left out, by why: max_addresses (beyond mx.max_addresses per host and family), max_pairs (beyond mx.max_pairs), deadline (not started in time).",
		[]string{"reason"})

	// pairDescs maps each single-probe descriptor a pair reports to its
	// twin with the labels mx and address.
	pairDescs = map[*prometheus.Desc]*prometheus.Desc{}
)

// pairSeries are the series of a pair's conversation that a domain probe
// reports, with how: a domain is judged by its pairs' verdicts and TLS,
// and a pair that carried every series of a single probe made a domain of
// 2 MX hosts x 2 addresses 400 series. The full record of each pair is in
// the debug output and the history. A failure or warning reason, a DANE
// or OCSP status is a series only where it is 1; the phases are those of
// a delivery's latency.
var pairSeries = []struct {
	desc *prometheus.Desc
	// onlySet keeps the series whose value is 1 (a reason, a status).
	onlySet bool
	// phases, for the phase durations, are the phases kept.
	phases []prober.Phase
}{
	{desc: failureDesc, onlySet: true},
	{desc: warningDesc, onlySet: true},
	{desc: tlsDesc},
	{desc: phaseDurationDesc, phases: []prober.Phase{prober.PhaseConnect, prober.PhaseBanner, prober.PhaseTLSHandshake}},
	{desc: tlsVersionDesc},
	{desc: tlsCipherDesc},
	{desc: certVerifiedDesc},
	{desc: earliestExpiryDesc},
	{desc: leafKeyBitsDesc},
	{desc: leafSignatureDesc},
	{desc: ocspStatusDesc, onlySet: true},
	{desc: daneStatusDesc, onlySet: true},
	{desc: fcrdnsDesc},
}

// maxPairWarnings bounds the warning reasons a pair reports, in the order
// of their names (a pair rarely has more than one).
const maxPairWarnings = 3

// addPairDescs makes the per-pair twin of every series of pairSeries.
func addPairDescs() {
	for _, ps := range pairSeries {
		m := single.byDesc[ps.desc]
		labels := append(append([]string(nil), m.labels...), "mx", "address")
		pairDescs[m.desc] = domain.add(m.name, m.help, labels)
	}
}

// pairRules is pairSeries by descriptor.
var pairRules = func() map[*prometheus.Desc]int {
	rules := map[*prometheus.Desc]int{}
	for i, ps := range pairSeries {
		rules[ps.desc] = i
	}
	return rules
}()

// eachDomain is each for a mail domain: its own series, then every pair's.
func (c *Collector) eachDomain(emit func(d *prometheus.Desc, v float64, labels ...string)) {
	r := c.domain
	g := &emitter{emit: emit}
	g.gauge(domainSuccessDesc, boolValue(r.Success))
	g.gauge(domainDurationDesc, r.Duration.Seconds())
	g.gauge(domainDNSLookupDesc, r.MXLookup.Seconds())
	for _, reason := range maildomain.Reasons {
		g.gauge(domainFailureDesc, boolValue(r.Failure == reason), string(reason))
	}
	for _, h := range r.Hosts {
		g.gauge(mxInfoDesc, 1, h.Name, strconv.Itoa(int(h.Preference)))
	}
	if r.Null {
		g.gauge(mxInfoDesc, 1, ".", "0")
	}
	addresses, succeeded := r.Counts()
	g.gauge(mxHostsDesc, float64(len(r.Hosts)))
	g.gauge(mxAddressesDesc, float64(addresses))
	g.gauge(mxAddressesSuccessDesc, float64(succeeded))
	g.gauge(mxNullDesc, boolValue(r.Null))
	g.gauge(mxImplicitDesc, boolValue(r.Implicit))
	g.gauge(dnsQueriesDesc, float64(r.DNSQueries))
	for _, why := range maildomain.SkipReasons {
		g.gauge(pairsSkippedDesc, float64(r.Skipped[why]), string(why))
	}
	g.gauge(requireTLSReadyDesc, boolValue(r.RequireTLSReady))
	if v := r.ResolverValidates(); v != nil {
		g.gauge(resolverValidatingDesc, boolValue(*v))
	}

	mtaSTSSeries(r, g.gauge)
	for _, p := range r.Pairs {
		pairSeriesOf(p, g)
	}
}

// pairSeriesOf emits one pair's series (pairSeries): for a pair never
// dialed, its verdict and failure reason only.
func pairSeriesOf(p *maildomain.Pair, g *emitter) {
	addr := addrLabel(p.Address)
	g.gauge(addressSuccessDesc, boolValue(p.Result.Success), p.MX, addr)
	if !p.Probed() {
		g.gauge(pairDescs[failureDesc], 1, string(p.Result.Failure), p.MX, addr)
		return
	}
	warnings := 0
	pc := &Collector{target: p.Result, reasons: pairReasonsByName}
	pc.eachTarget(func(d *prometheus.Desc, v float64, labels ...string) {
		i, ok := pairRules[d]
		if !ok {
			return
		}
		rule := pairSeries[i]
		switch {
		case rule.onlySet && v != 1:
			return
		case rule.phases != nil && !slices.Contains(rule.phases, prober.Phase(labels[0])):
			return
		case d == warningDesc:
			if warnings == maxPairWarnings {
				return
			}
			warnings++
		}
		g.gauge(pairDescs[d], v, append(labels, p.MX, addr)...)
	})
}

// addrLabel is an address as the address label says it: "" for none.
func addrLabel(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
