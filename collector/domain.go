package collector

import (
	"net/netip"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
)

// The series of a domain probe. probe_success, probe_duration_seconds and
// probe_dns_lookup_time_seconds are the domain's; every other series of a
// single probe comes once per (MX host, address) pair with the labels mx
// and address added.
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

	// pairDescs maps each single-probe descriptor to its per-pair twin.
	pairDescs = map[*prometheus.Desc]*prometheus.Desc{}
)

// addPairDescs makes the per-pair twin of every single-probe series but
// the three the domain reports for itself.
func addPairDescs() {
	for _, m := range single.metrics {
		switch m.desc {
		case successDesc, durationDesc, dnsLookupDesc:
			continue
		}
		labels := append(append([]string(nil), m.labels...), "mx", "address")
		pairDescs[m.desc] = domain.add(m.name, m.help, labels)
	}
}

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
	g.gauge(requireTLSReadyDesc, boolValue(r.RequireTLSReady))
	if v := r.ResolverValidates(); v != nil {
		g.gauge(resolverValidatingDesc, boolValue(*v))
	}

	mtaSTSSeries(r, g.gauge)
	for _, p := range r.Pairs {
		addr := addrLabel(p.Address)
		g.gauge(addressSuccessDesc, boolValue(p.Result.Success), p.MX, addr)
		pc := &Collector{target: p.Result, reasons: pairReasonsByName}
		pc.eachTarget(func(d *prometheus.Desc, v float64, labels ...string) {
			twin, ok := pairDescs[d]
			if !ok {
				return
			}
			g.gauge(twin, v, append(labels, p.MX, addr)...)
		})
	}
}

// addrLabel is an address as the address label says it: "" for none.
func addrLabel(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
