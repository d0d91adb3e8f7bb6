package collector

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/smtp-exporter/smtp_exporter/internal/promlint"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/mtasts"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// domainCases are domain results built from the single golden cases: every
// pair is an ordinary Result.
func domainCases(t *testing.T) map[string]*maildomain.Result {
	t.Helper()
	good := caseNamed(t, "starttls_success").result
	refused := caseNamed(t, "plain_connect_refused").result
	pair := func(mx string, pref uint16, addr string, r *prober.Result) *maildomain.Pair {
		c := *r
		c.IP, c.IPProtocol = netip.MustParseAddr(addr), 4
		if c.IP.Is6() {
			c.IPProtocol = 6
		}
		return &maildomain.Pair{MX: mx, Preference: pref, Address: c.IP, Result: &c}
	}
	notAllowed := *refused
	notAllowed.Failure, notAllowed.Error = maildomain.ReasonTargetNotAllowed, "refused"
	noAddr := *refused
	noAddr.Failure, noAddr.IP, noAddr.IPProtocol = prober.ReasonResolve, netip.Addr{}, 0
	base := func() *maildomain.Result {
		return &maildomain.Result{
			Domain: "example.com", Module: "mx", Rule: "all", Port: 25,
			Start: time.Unix(1767225600, 0), Duration: 850 * time.Millisecond, MXLookup: 3 * time.Millisecond,
			DNSServer: "127.0.0.1:53", Hosts: []maildomain.MXHost{}, Pairs: []*maildomain.Pair{},
		}
	}

	ok := base()
	ok.Success = true
	ok.Hosts = []maildomain.MXHost{
		{Name: "mx1.example.com", Preference: 10, Probed: true, Addresses: addrs("192.0.2.1", "2001:db8::1")},
		{Name: "mx2.example.com", Preference: 20, Probed: true, Addresses: addrs("192.0.2.2")},
	}
	ok.Pairs = []*maildomain.Pair{
		pair("mx1.example.com", 10, "192.0.2.1", good), pair("mx1.example.com", 10, "2001:db8::1", good),
		pair("mx2.example.com", 20, "192.0.2.2", good),
	}

	failed := base()
	failed.Failure, failed.Error = maildomain.ReasonAddressFailed, "2 of 4 addresses failed"
	failed.Hosts = []maildomain.MXHost{
		{Name: "mx1.example.com", Preference: 10, Probed: true, Addresses: addrs("192.0.2.1")},
		{Name: "mx2.example.com", Preference: 20, Probed: true, Addresses: addrs("192.0.2.9", "10.0.0.1")},
		{Name: "mx3.example.com", Preference: 30, Probed: true, Error: "no address"},
	}
	failed.Pairs = []*maildomain.Pair{
		pair("mx1.example.com", 10, "192.0.2.1", good), pair("mx2.example.com", 20, "192.0.2.9", refused),
		{MX: "mx2.example.com", Preference: 20, Address: netip.MustParseAddr("10.0.0.1"), Result: &notAllowed},
		{MX: "mx3.example.com", Preference: 30, Result: &noAddr},
	}

	null := base()
	null.Null, null.Failure, null.Error = true, maildomain.ReasonNullMX, "null MX"

	implicit := base()
	implicit.Implicit, implicit.Success = true, true
	implicit.Hosts = []maildomain.MXHost{{Name: "example.com", Probed: true, Addresses: addrs("192.0.2.1")}}
	implicit.Pairs = []*maildomain.Pair{pair("example.com", 0, "192.0.2.1", good)}

	nx := base()
	nx.Failure, nx.Error = maildomain.ReasonResolve, "NXDOMAIN"

	// MTA-STS in enforce mode, whose patterns leave out mx2.
	sts := base()
	*sts = *ok
	sts.Success, sts.Failure, sts.Error = false, maildomain.ReasonMTASTSViolation, "MTA-STS policy in enforce mode: senders do not deliver to mx2.example.com"
	sts.MTASTS = &maildomain.MTASTSResult{
		Record: "v=STSv1; id=20260101", RecordID: "20260101", RecordFound: true, RecordValid: true, RecordSecure: true,
		Fetch:  &mtasts.Fetch{URL: mtasts.PolicyURL("example.com"), StatusCode: 200, ContentType: "text/plain", CertNotAfter: time.Unix(1775001600, 0)},
		Policy: &mtasts.Policy{Version: "STSv1", Mode: mtasts.ModeEnforce, MX: []string{"mx1.example.com"}, MaxAge: 604800},
		MX:     []maildomain.MTASTSHost{{Host: "mx1.example.com", Pattern: "mx1.example.com", Match: true}, {Host: "mx2.example.com"}},
		Pairs: []*maildomain.MTASTSPair{
			{MX: "mx1.example.com", Address: netip.MustParseAddr("192.0.2.1"), Compliant: true},
			{MX: "mx1.example.com", Address: netip.MustParseAddr("2001:db8::1"), Compliant: true},
			{MX: "mx2.example.com", Address: netip.MustParseAddr("192.0.2.2"), Why: "the MX host matches no mx pattern"},
		},
		TLSRPT: "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", TLSRPTValid: true, TLSRPTRUA: []string{"mailto:tlsrpt@example.com"},
	}
	// Each pair carries its compliance, as the fan-out leaves it.
	sts.Pairs = nil
	for i, p := range ok.Pairs {
		c := *p
		c.MTASTS = sts.MTASTS.Pairs[i]
		sts.Pairs = append(sts.Pairs, &c)
	}

	// Expired signatures on the whole zone; the resolver validates.
	bogus := base()
	bogus.Failure, bogus.Error = maildomain.ReasonDNSSECBogus, "MX lookup: SERVFAIL (EDE 7 Signature Expired)"
	bogus.KnownGood = &resolver.Health{Name: ".", Asked: true, Secure: true}

	// Ready for REQUIRETLS, asked through a resolver that validates.
	ready := base()
	*ready = *ok
	ready.RequireTLSReady = true
	ready.KnownGood = &resolver.Health{Name: ".", Asked: true, Secure: true}

	return map[string]*maildomain.Result{
		"domain_success": ok, "domain_address_failed": failed, "domain_null_mx": null,
		"domain_implicit": implicit, "domain_resolve": nx, "domain_mta_sts_violation": sts,
		"domain_dnssec_bogus": bogus, "domain_requiretls_ready": ready,
	}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func renderDomain(t *testing.T, r *maildomain.Result) ([]*dto.MetricFamily, []byte) {
	t.Helper()
	return renderCollector(t, New(r))
}

func TestDomainGolden(t *testing.T) {
	for name, r := range domainCases(t) {
		t.Run(name, func(t *testing.T) {
			_, got := renderDomain(t, r)
			compareGolden(t, name, got)
			var text bytes.Buffer
			if err := WriteText(&text, r); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(text.Bytes(), got) {
				t.Errorf("WriteText differs from the registry's text:\n%s", lineDiff(string(got), text.String()))
			}
		})
	}
}

func TestDomainSeries(t *testing.T) {
	cases := domainCases(t)
	mfs, _ := renderDomain(t, cases["domain_address_failed"])
	value := func(name string, labels ...string) float64 {
		t.Helper()
		mf := family(mfs, name)
		if mf == nil {
			t.Fatalf("no %s", name)
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m.GetGauge().GetValue()
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"probe_success", nil, 0},
		{"probe_smtp_domain_failure", []string{"reason", "address_failed"}, 1},
		{"probe_smtp_domain_failure", []string{"reason", "resolve"}, 0},
		{"probe_smtp_mx_hosts", nil, 3},
		{"probe_smtp_mx_addresses", nil, 3},
		{"probe_smtp_mx_addresses_success", nil, 1},
		{"probe_smtp_mx_info", []string{"mx", "mx3.example.com", "preference", "30"}, 1},
		{"probe_smtp_address_success", []string{"mx", "mx1.example.com", "address", "192.0.2.1"}, 1},
		{"probe_smtp_address_success", []string{"mx", "mx2.example.com", "address", "192.0.2.9"}, 0},
		{"probe_smtp_address_success", []string{"mx", "mx3.example.com", "address", ""}, 0},
		{"probe_smtp_failure", []string{"mx", "mx2.example.com", "address", "192.0.2.9", "reason", "connect_refused"}, 1},
		{"probe_smtp_failure", []string{"mx", "mx2.example.com", "address", "10.0.0.1", "reason", "target_not_allowed"}, 1},
		{"probe_smtp_failure", []string{"mx", "mx3.example.com", "address", "", "reason", "resolve"}, 1},
		{"probe_smtp_tls", []string{"mx", "mx1.example.com", "address", "192.0.2.1"}, 1},
		{"probe_tls_certificate_verified", []string{"mx", "mx1.example.com", "address", "192.0.2.1"}, 1},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A pair reports its failure reason only, and none when it succeeded.
	if n := len(family(mfs, "probe_smtp_failure").GetMetric()); n != 3 {
		t.Errorf("%d probe_smtp_failure series, want the 3 failing pairs'", n)
	}
	for _, m := range family(mfs, "probe_smtp_failure").GetMetric() {
		if m.GetGauge().GetValue() != 1 {
			t.Errorf("a pair's failure series of value %v", m.GetGauge().GetValue())
		}
	}
	// A pair never dialed says its verdict and reason, nothing else.
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "address" && l.GetValue() == "10.0.0.1" && !slices.Contains([]string{"probe_smtp_address_success", "probe_smtp_failure"}, mf.GetName()) {
					t.Errorf("the refused pair has %s", mf.GetName())
				}
			}
		}
	}
}

// TestDomainSeriesBound: a domain probe is at most 100 series and 20 per
// pair, whatever its pairs found: each pair here is the worst a single
// golden case gives (every TLS fact, a failure, warnings, DANE, OCSP,
// reverse DNS, MTA-STS), on the most MX records DNS may give. A healthy
// domain of 2 MX hosts x 2 addresses is far below: 180 at most.
func TestDomainSeriesBound(t *testing.T) {
	var worst []*prober.Result
	for _, c := range goldenCases() {
		worst = append(worst, c.result)
	}
	cases := domainCases(t)
	for _, pairs := range []int{1, 4, 16, 64} {
		d := *cases["domain_mta_sts_violation"]
		d.Hosts, d.Pairs = nil, nil
		m := *d.MTASTS
		m.MX, m.Pairs = nil, nil
		d.MTASTS = &m
		for i := range 64 { // the most MX records an answer may hold
			d.Hosts = append(d.Hosts, maildomain.MXHost{Name: fmt.Sprintf("mx%02d.example.com", i), Preference: uint16(i), Probed: i < pairs})
		}
		for i := range pairs {
			r := *worst[i%len(worst)]
			r.Warnings = append(slices.Clone(r.Warnings), prober.Warning{Reason: prober.ReasonAuthBeforeTLS}, prober.Warning{Reason: prober.ReasonCertExpired},
				prober.Warning{Reason: prober.ReasonStartTLSRejected}, prober.Warning{Reason: prober.ReasonLegacyTLSAccepted})
			r.ReverseDNS = &prober.ReverseDNSInfo{Conclusive: true, PTR: []string{"a", "b"}, FCrDNS: true}
			addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
			r.IP, r.Success = addr, false
			c := &maildomain.MTASTSPair{MX: d.Hosts[i].Name, Address: addr}
			m.Pairs = append(m.Pairs, c)
			m.MX = append(m.MX, maildomain.MTASTSHost{Host: d.Hosts[i].Name})
			d.Pairs = append(d.Pairs, &maildomain.Pair{MX: d.Hosts[i].Name, Preference: uint16(i), Address: addr, Result: &r, MTASTS: c})
		}
		mfs, _ := renderDomain(t, &d)
		n := 0
		for _, mf := range mfs {
			n += len(mf.GetMetric())
		}
		t.Logf("%d pairs: %d series", pairs, n)
		if limit := 100 + 20*pairs; n > limit {
			t.Errorf("%d pairs: %d series, bound %d", pairs, n, limit)
		}
	}
	mfs, _ := renderDomain(t, cases["domain_success"])
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	if n > 100+20*3 {
		t.Errorf("a healthy domain of 3 pairs: %d series", n)
	}
}

// TestDomainStableSeries: the domain-level series are the same on every
// domain probe, so an alert on == 0 never meets an absent series.
func TestDomainStableSeries(t *testing.T) {
	domainLevel := []string{
		"probe_success", "probe_duration_seconds", "probe_dns_lookup_time_seconds",
		"probe_smtp_mx_hosts", "probe_smtp_mx_addresses", "probe_smtp_mx_addresses_success",
		"probe_smtp_mx_null", "probe_smtp_mx_implicit", "probe_smtp_domain_failure",
	}
	for name, r := range domainCases(t) {
		mfs, _ := renderDomain(t, r)
		for _, n := range domainLevel {
			mf := family(mfs, n)
			if mf == nil {
				t.Errorf("%s: no %s", name, n)
				continue
			}
			want := 1
			if n == "probe_smtp_domain_failure" {
				want = len(maildomain.Reasons)
			}
			if len(mf.GetMetric()) != want {
				t.Errorf("%s: %d series of %s, want %d", name, len(mf.GetMetric()), n, want)
			}
		}
	}
}

func TestDomainPromtool(t *testing.T) {
	promtool := testtool.Need(t, "promtool", "promtool")
	for name, r := range domainCases(t) {
		_, text := renderDomain(t, r)
		// promlint.Check, as for single probes: it knows the lints that do
		// not apply (probe_ssl_leaf_key_bits is in bits on purpose).
		if out, err := promlint.Check(promtool, text); err != nil || out != "" {
			t.Errorf("%s: promtool check metrics: %v\n%s", name, err, out)
		}
	}
}

// TestDomainHelp: every help text of the domain is a whole sentence, and
// the pairs' series are single probes' series with the labels mx and
// address added, as pairSeries lists them.
func TestDomainHelp(t *testing.T) {
	var names []string
	for _, m := range domain.metrics {
		if why := wholeSentence(m.help); why != "" {
			t.Errorf("%s: help %s", m.name, why)
		}
		names = append(names, m.name)
	}
	if !slices.IsSorted(names) {
		t.Error("domain metrics are not sorted by name")
	}
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			t.Errorf("%s twice in the domain's metrics", names[i])
		}
	}
	for _, ps := range pairSeries {
		m, twin := single.byDesc[ps.desc], domain.byDesc[pairDescs[ps.desc]]
		if m == nil || twin == nil || twin.name != m.name || twin.help != m.help ||
			!slices.Equal(twin.labels, append(slices.Clone(m.labels), "mx", "address")) {
			t.Errorf("pair series %v: its twin is %+v", m, twin)
		}
	}
}
