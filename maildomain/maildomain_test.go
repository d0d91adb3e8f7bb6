package maildomain

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// mailNet is a set of fake SMTP servers on several loopback addresses,
// all on one port (a domain module has one port for every address).
type mailNet struct {
	port    int
	servers map[string]*smtptest.Server // by address
	ca      *smtptest.CA
}

// newMailNet starts a server on each address; handles (by address) replace
// the friendly STARTTLS server where given.
func newMailNet(t *testing.T, addrs []string, handles map[string]func(net.Conn, *smtptest.Server)) *mailNet {
	t.Helper()
	ca := smtptest.NewCA(t)
	cert := ca.Issue(t, smtptest.Leaf{DNSNames: []string{"mx1.ok.test", "mx2.ok.test", "implicit.test"}})
	cfg := smtptest.Config{StartTLS: smtptest.ServerTLS(cert)}
	for range 20 {
		first := map[string]*smtptest.Server{}
		ln, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		_, portStr, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		port, _ := strconv.Atoi(portStr)
		ok := true
		for _, a := range addrs {
			var s *smtptest.Server
			hostport := net.JoinHostPort(a, portStr)
			if h := handles[a]; h != nil {
				s, err = smtptest.NewRawServerOn(t, hostport, h)
			} else {
				s, err = smtptest.NewServerOn(t, hostport, cfg)
			}
			if err != nil {
				ok = false
				break
			}
			first[a] = s
		}
		if ok {
			return &mailNet{port: port, servers: first, ca: ca}
		}
		for _, s := range first {
			s.Close()
		}
	}
	t.Fatal("no port free on every address")
	return nil
}

func ipv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

// domainZone is the zone of the domain tests.
func domainZone(t *testing.T) *dnstest.Server {
	t.Helper()
	s := dnstest.Start(t,
		// The resolver's known-good name (the default, the root) answers:
		// a failed lookup is the domain's, not the resolver's.
		". 300 IN SOA a.root.test. hostmaster.test. 1 3600 600 86400 300",
		"ok.test. 300 IN MX 10 mx1.ok.test.",
		"ok.test. 300 IN MX 20 mx2.ok.test.",
		"mx1.ok.test. 300 IN A 127.0.0.2",
		"mx1.ok.test. 300 IN AAAA ::1",
		"mx2.ok.test. 300 IN A 127.0.0.3",
		"dead.test. 300 IN A 127.0.0.9",
		"mixed.test. 300 IN MX 10 mx1.ok.test.",
		"mixed.test. 300 IN MX 20 dead.test.",
		"backupok.test. 300 IN MX 10 dead.test.",
		"backupok.test. 300 IN MX 20 mx2.ok.test.",
		"null.test. 300 IN MX 0 .",
		"nullplus.test. 300 IN MX 0 .",
		"nullplus.test. 300 IN MX 10 mx2.ok.test.",
		"implicit.test. 300 IN A 127.0.0.2",
		"noaddr.test. 300 IN MX 10 ghost.test.",
		"ghost.test. 300 IN TXT \"no address here\"",
		"halfaddr.test. 300 IN MX 10 ghost.test.",
		"halfaddr.test. 300 IN MX 20 mx2.ok.test.",
		"servfail.test. 300 IN MX 10 mx2.ok.test.",
		"loop.test. 300 IN CNAME loop2.test.",
		"loop2.test. 300 IN CNAME loop.test.",
		// Broken DNSSEC: a bogus MX answer (SERVFAIL that CD=1 answers),
		// expired signatures (SERVFAIL with EDE 7), an MX host whose
		// address records are bogus, and one that does not exist.
		"bogus.test. 300 IN MX 10 mx2.ok.test.",
		"expired.test. 300 IN MX 10 mx2.ok.test.",
		"bogusmx.test. 300 IN MX 10 badaddr.test.",
		"badaddr.test. 300 IN A 127.0.0.3",
		"ghostmx.test. 300 IN MX 10 nothere.test.",
	)
	s.Set(s.Bogus, "bogus.test")
	s.Set(s.ServFail, "expired.test")
	s.SetEDE("expired.test", mdns.ExtendedErrorCodeSignatureExpired)
	s.Set(s.Bogus, "badaddr.test")
	for i := range 12 {
		s.Add(t, fmt.Sprintf("many.test. 300 IN MX %d m%02d.many.test.", 10+i, i))
		s.Add(t, fmt.Sprintf("m%02d.many.test. 300 IN A 127.0.0.9", i))
	}
	for i := range 100 {
		s.Add(t, fmt.Sprintf("huge.test. 300 IN MX 10 h%d.huge.test.", i))
	}
	s.Set(s.ServFail, "servfail.test")
	return s
}

func domainModule(t *testing.T, dns *dnstest.Server, mn *mailNet, fields string) *config.Module {
	t.Helper()
	caFile := mn.ca.File
	if !strings.Contains(fields, "tls: ") {
		fields = "tls: opportunistic\n" + fields
	}
	return testModule(t, fmt.Sprintf("timeout: 5s\nport: %d\ntls_config: {ca_file: %s}\ndns: {server: %q}\n%s",
		mn.port, caFile, dns.Addr, fields))
}

type pairWant struct {
	mx, address string
	failure     prober.Reason
}

func TestProbe(t *testing.T) {
	ipv6Loopback(t)
	dns := domainZone(t)
	mn := newMailNet(t, []string{"127.0.0.2", "127.0.0.3", "::1"}, nil)
	ok := []pairWant{{"mx1.ok.test", "127.0.0.2", ""}, {"mx1.ok.test", "::1", ""}, {"mx2.ok.test", "127.0.0.3", ""}}
	cases := []struct {
		name, domain, mx string
		failure          Reason
		errText          string
		pairs            []pairWant
		hosts            int
		null, implicit   bool
		warning          string
	}{
		{name: "every pair succeeds", domain: "ok.test", mx: "mx: {}", pairs: ok, hosts: 2},
		{name: "trailing dot and upper case", domain: "OK.test.", mx: "mx: {}", pairs: ok, hosts: 2},
		{
			name: "a dead MX fails the domain under all", domain: "mixed.test", mx: "mx: {}", hosts: 2,
			failure: ReasonAddressFailed, errText: "1 of 3 addresses failed (success: all): dead.test 127.0.0.9: connect_refused",
			pairs: []pairWant{{"mx1.ok.test", "127.0.0.2", ""}, {"mx1.ok.test", "::1", ""}, {"dead.test", "127.0.0.9", prober.ReasonConnectRefused}},
		},
		{
			name: "any: one good address is enough", domain: "mixed.test", mx: "mx: {success: any}", hosts: 2,
			pairs: []pairWant{{"mx1.ok.test", "127.0.0.2", ""}, {"mx1.ok.test", "::1", ""}, {"dead.test", "127.0.0.9", prober.ReasonConnectRefused}},
		},
		{
			name: "primary: a dead backup MX does not count", domain: "mixed.test", mx: "mx: {success: primary}", hosts: 2,
			pairs: []pairWant{{"mx1.ok.test", "127.0.0.2", ""}, {"mx1.ok.test", "::1", ""}, {"dead.test", "127.0.0.9", prober.ReasonConnectRefused}},
		},
		{
			name: "primary: a dead primary MX does", domain: "backupok.test", mx: "mx: {success: primary}", hosts: 2,
			failure: ReasonAddressFailed, errText: "1 of 1 addresses failed (success: primary)",
			pairs: []pairWant{{"dead.test", "127.0.0.9", prober.ReasonConnectRefused}, {"mx2.ok.test", "127.0.0.3", ""}},
		},
		{
			name: "first: one address per host, of ip_protocol's family", domain: "ok.test", mx: "ip_protocol: ip6\nmx: {addresses: first}", hosts: 2,
			pairs: []pairWant{{"mx1.ok.test", "::1", ""}, {"mx2.ok.test", "127.0.0.3", ""}},
		},
		{
			name: "first without fallback leaves a host without an address", domain: "ok.test", mx: "ip_protocol: ip6\nip_protocol_fallback: false\nmx: {addresses: first}", hosts: 2,
			failure: ReasonAddressFailed,
			pairs:   []pairWant{{"mx1.ok.test", "::1", ""}, {"mx2.ok.test", "", prober.ReasonResolve}},
		},
		{name: "null MX", domain: "null.test", mx: "mx: {}", failure: ReasonNullMX, errText: "null MX (RFC 7505): it accepts no mail", null: true},
		{
			name: "null MX next to another", domain: "nullplus.test", mx: "mx: {}", failure: ReasonNullMX, hosts: 1, null: true,
			errText: "yet also 1 other MX record(s), a misconfiguration",
		},
		{
			name: "no MX: the domain is its own mail host", domain: "implicit.test", mx: "mx: {}", hosts: 1, implicit: true,
			pairs: []pairWant{{"implicit.test", "127.0.0.2", ""}},
		},
		{
			name: "MX host without an address", domain: "noaddr.test", mx: "mx: {}", hosts: 1,
			failure: ReasonNoAddress, errText: "no MX host has an address: ghost.test has no A or AAAA records",
			pairs: []pairWant{{"ghost.test", "", prober.ReasonResolve}},
		},
		{
			name: "one MX host without an address", domain: "halfaddr.test", mx: "mx: {}", hosts: 2,
			failure: ReasonAddressFailed, errText: "ghost.test: resolve",
			pairs: []pairWant{{"ghost.test", "", prober.ReasonResolve}, {"mx2.ok.test", "127.0.0.3", ""}},
		},
		{name: "NXDOMAIN", domain: "nowhere.test", mx: "mx: {}", failure: ReasonNXDomain, errText: "MX lookup: nowhere.test does not exist (NXDOMAIN)"},
		{name: "SERVFAIL", domain: "servfail.test", mx: "mx: {}", failure: ReasonResolve, errText: "answered SERVFAIL: the DNS server answers the known-good name ., so the name's own servers fail"},
		{name: "a bogus MX answer", domain: "bogus.test", mx: "mx: {}", failure: ReasonDNSSECBogus, errText: "fails DNSSEC validation; asked again with CD=1 (no validation) it is answered"},
		{name: "expired signatures", domain: "expired.test", mx: "mx: {}", failure: ReasonDNSSECBogus, errText: "EDE 7 Signature Expired"},
		{
			name: "an MX host whose addresses are bogus", domain: "bogusmx.test", mx: "mx: {}", hosts: 1,
			failure: ReasonDNSSECBogus, errText: "no MX host has an address: badaddr.test",
			pairs: []pairWant{{"badaddr.test", "", ReasonPairDNSSECBogus}},
		},
		{
			name: "an MX host that does not exist", domain: "ghostmx.test", mx: "mx: {}", hosts: 1,
			failure: ReasonNoAddress, errText: "nothere.test does not exist",
			pairs: []pairWant{{"nothere.test", "", ReasonPairNXDomain}},
		},
		// A domain that sends mail only (mx.expect_null_mx).
		{name: "a null MX, as expected", domain: "null.test", mx: "mx: {expect_null_mx: true}", null: true},
		{
			name: "MX records where a null MX is expected", domain: "ok.test", mx: "mx: {expect_null_mx: true}", hosts: 2,
			failure: ReasonNullMXMissing, errText: "publishes MX records for mx1.ok.test, mx2.ok.test: it receives mail",
		},
		{
			name: "no MX at all where a null MX is expected", domain: "implicit.test", mx: "mx: {expect_null_mx: true}", hosts: 1, implicit: true,
			failure: ReasonNullMXMissing, errText: "implicit MX",
		},
		{
			name: "a null MX beside others where one is expected", domain: "nullplus.test", mx: "mx: {expect_null_mx: true}", hosts: 1, null: true,
			failure: ReasonNullMXMissing, errText: "beside it MX records for mx2.ok.test",
		},
		{name: "NXDOMAIN where a null MX is expected", domain: "nowhere.test", mx: "mx: {expect_null_mx: true}", failure: ReasonNXDomain},
		{name: "a huge MX answer", domain: "huge.test", mx: "mx: {}", failure: ReasonResolve, errText: "more than 64 MX records"},
		{name: "a CNAME loop", domain: "loop.test", mx: "mx: {}", failure: ReasonResolve, errText: "CNAME loop"},
		{
			name: "more MX hosts than max_hosts", domain: "many.test", mx: "mx: {max_hosts: 2}", hosts: 12,
			failure: ReasonAddressFailed, warning: "10 MX host(s) beyond max_hosts (2) not probed: m02.many.test, m03.many.test",
			pairs: []pairWant{{"m00.many.test", "127.0.0.9", prober.ReasonConnectRefused}, {"m01.many.test", "127.0.0.9", prober.ReasonConnectRefused}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			module := domainModule(t, dns, mn, tc.mx)
			r := Probe(context.Background(), mustName(t, tc.domain), "mx", module, nil, prober.Options{})
			expect(t, "failure", r.Failure, tc.failure)
			expect(t, "success", r.Success, tc.failure == "")
			if tc.errText != "" && !strings.Contains(r.Error, tc.errText) {
				t.Errorf("error %q does not say %q", r.Error, tc.errText)
			}
			expect(t, "hosts", len(r.Hosts), tc.hosts)
			expect(t, "null", r.Null, tc.null)
			expect(t, "implicit", r.Implicit, tc.implicit)
			expect(t, "dns server", r.DNSServer, dns.Addr)
			if tc.warning != "" && !strings.Contains(warningTexts(r.Warnings), tc.warning) {
				t.Errorf("warnings %q do not say %q", r.Warnings, tc.warning)
			}
			if len(r.Pairs) != len(tc.pairs) {
				t.Fatalf("%d pairs, want %d: %+v", len(r.Pairs), len(tc.pairs), r.Pairs)
			}
			for i, w := range tc.pairs {
				p := r.Pairs[i]
				got := pairWant{p.MX, addrText(p.Address), p.Result.Failure}
				if got != w {
					t.Errorf("pair %d: %+v (%s), want %+v\n%s", i, got, p.Result.Error, w, transcriptText(p.Result))
					continue
				}
				expect(t, "pair ip", p.Result.IP, p.Address)
				if w.failure == "" {
					// The MX host is the TLS server name, and the certificate
					// was verified against it.
					if p.Result.TLS == nil || p.Result.TLS.ServerName != p.MX || !p.Result.TLS.Verified {
						t.Errorf("pair %d: TLS %+v, want verified for %s", i, p.Result.TLS, p.MX)
					}
					expect(t, "pair target", p.Result.Target, net.JoinHostPort(p.MX, strconv.Itoa(mn.port)))
				}
			}
			addrs, good := r.Counts()
			wantAddrs, wantGood := 0, 0
			for _, w := range tc.pairs {
				if w.address != "" {
					wantAddrs++
					if w.failure == "" {
						wantGood++
					}
				}
			}
			expect(t, "addresses", addrs, wantAddrs)
			expect(t, "addresses succeeded", good, wantGood)
		})
	}
}

type refuse127_0_0_3 struct{}

func (refuse127_0_0_3) AllowName(string) error { return nil }

func (refuse127_0_0_3) AllowAddr(host string, addr netip.Addr) error {
	if addr == netip.MustParseAddr("127.0.0.3") {
		return fmt.Errorf("%s (%s) is not allowed", host, addr)
	}
	return nil
}

func TestProbeAllowList(t *testing.T) {
	dns := domainZone(t)
	mn := newMailNet(t, []string{"127.0.0.2", "127.0.0.3"}, nil)
	module := domainModule(t, dns, mn, "mx: {}\nip_protocol_fallback: true")
	r := Probe(context.Background(), "backupok.test", "mx", module, nil, prober.Options{AllowList: refuse127_0_0_3{}})
	expect(t, "failure", r.Failure, ReasonAddressFailed)
	p := r.Pairs[1]
	expect(t, "pair", p.MX+" "+p.Address.String(), "mx2.ok.test 127.0.0.3")
	expect(t, "pair failure", p.Result.Failure, ReasonTargetNotAllowed)
	expect(t, "pair error", p.Result.Error, "mx2.ok.test (127.0.0.3) is not allowed")
	if n := mn.servers["127.0.0.3"].Accepted(); n != 0 {
		t.Errorf("the refused address was dialed %d times", n)
	}
}

// TestProbePairsAtOnce proves the pairs are probed concurrently, not
// one after the other: every server holds its greeting until all of them
// have a connection, so probing one at a time would time every pair out.
func TestProbePairsAtOnce(t *testing.T) {
	dns := domainZone(t)
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	hold := func(c net.Conn, _ *smtptest.Server) {
		mu.Lock()
		arrived++
		if arrived == len(addrs) {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			fmt.Fprint(c, "554 5.7.1 held until every pair arrived\r\n")
		case <-time.After(10 * time.Second):
		}
	}
	handles := map[string]func(net.Conn, *smtptest.Server){}
	for i, a := range addrs {
		dns.Add(t, fmt.Sprintf("wide.test. 300 IN MX %d w%d.wide.test.", 10*(i+1), i))
		dns.Add(t, fmt.Sprintf("w%d.wide.test. 300 IN A %s", i, a))
		handles[a] = hold
	}
	mn := newMailNet(t, addrs, handles)
	module := domainModule(t, dns, mn, "mx: {}\ntls: none")
	r := Probe(context.Background(), "wide.test", "mx", module, nil, prober.Options{})
	for _, p := range r.Pairs {
		// A rejected greeting means the server let go: every pair was connected at once.
		expect(t, p.Address.String()+" failure", p.Result.Failure, prober.ReasonBannerRejected)
	}
	expect(t, "pairs", len(r.Pairs), len(addrs))
}

// TestProbeDeadline shows a domain probe ends at its deadline even
// when the DNS server never answers and a server never speaks.
func TestProbeDeadline(t *testing.T) {
	dns := domainZone(t)
	dns.Add(t, "slow.test. 300 IN MX 10 tarpit.test.")
	dns.Add(t, "tarpit.test. 300 IN A 127.0.0.2")
	dns.Add(t, "silent.test. 300 IN MX 10 tarpit.test.")
	dns.Set(dns.Silent, "silent.test")
	tarpit := func(c net.Conn, _ *smtptest.Server) { _, _ = io.Copy(io.Discard, c) }
	mn := newMailNet(t, []string{"127.0.0.2"}, map[string]func(net.Conn, *smtptest.Server){"127.0.0.2": tarpit})
	module := domainModule(t, dns, mn, "mx: {}")
	for domain, want := range map[string]Reason{"slow.test": ReasonAddressFailed, "silent.test": ReasonResolve} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		r := Probe(ctx, domain, "mx", module, nil, prober.Options{})
		cancel()
		expect(t, domain+" failure", r.Failure, want)
		if r.Duration > 20*time.Second {
			t.Errorf("%s: the probe outlived its deadline: %s", domain, r.Duration)
		}
	}
}

// TestProbeDANEUsesTheFanOutsAddresses: a pair's DANE check takes
// the MX host's address security from the domain's own A/AAAA questions
// (RFC 7672 §2.2.2): insecure here, so the status is insecure, no TLSA
// question goes out, and the host's addresses are asked for once, not
// once more per pair. A host whose AAAA question failed is asked again.
func TestProbeDANEUsesTheFanOutsAddresses(t *testing.T) {
	dns := domainZone(t)
	addrs := []string{"127.0.0.2", "127.0.0.3"}
	dns.Add(t, "danetwo.test. 300 IN MX 10 d.danetwo.test.")
	dns.Add(t, "danetwo.test. 300 IN MX 20 half.danetwo.test.")
	dns.Add(t, "d.danetwo.test. 300 IN A 127.0.0.2")
	dns.Add(t, "half.danetwo.test. 300 IN A 127.0.0.3")
	mn := newMailNet(t, addrs, nil)
	module := domainModule(t, dns, mn, "mx: {}\ndane: check")
	// AAAA of half.danetwo.test fails: its pair asks again (and fails again).
	dns.Set(dns.ServFailAAAA, "half.danetwo.test")
	r := Probe(context.Background(), "danetwo.test", "mx", module, nil, prober.Options{})
	want := map[string]dane.Status{"d.danetwo.test": dane.StatusInsecure, "half.danetwo.test": dane.StatusBogus}
	for _, p := range r.Pairs {
		if p.Result.DANE == nil || p.Result.DANE.Status != want[p.MX] {
			t.Errorf("%s: DANE %+v, want status %s", p.MX, p.Result.DANE, want[p.MX])
		}
	}
	asked := map[string]int{}
	for _, q := range dns.Queries() {
		if q.Type == mdns.TypeA {
			asked[strings.TrimSuffix(q.Name, ".")]++
		}
		if q.Type == mdns.TypeTLSA {
			t.Errorf("TLSA asked for %s: the address records were not secure", q.Name)
		}
	}
	expect(t, "A questions for d.danetwo.test", asked["d.danetwo.test"], 1)
	if asked["half.danetwo.test"] < 2 {
		t.Errorf("A questions for half.danetwo.test: %d, want the pair's own too", asked["half.danetwo.test"])
	}
}

// TestParseName: what a mail domain's target may be, and the one form of
// its name that every later step (MX question, labels, JSON) uses.
func TestParseName(t *testing.T) {
	for _, tc := range []struct{ target, want, err string }{
		{"example.com", "example.com", ""},
		{"Example.COM.", "example.com", ""},
		{"example.com:25", "", "give the domain without a port"},
		{"192.0.2.1", "", `"192.0.2.1" is an IP address`},
		{"[2001:db8::1]", "", `"2001:db8::1" is an IP address`},
		{"bad_name.example", "", "no _ in a mail domain"},
	} {
		target, err := prober.ParseTarget(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseName(target)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseName(%q) = %q, %v; want %q, %q", tc.target, got, err, tc.want, tc.err)
		}
	}
}

// TestProbeResolverFailing: when the exporter's own resolver fails the
// known-good name too, the domain's failure is the monitor's, not a DNS
// outage of the domain.
func TestProbeResolverFailing(t *testing.T) {
	dns := dnstest.Start(t, "ok.test. 300 IN MX 10 mx.ok.test.", "mx.ok.test. 300 IN A 127.0.0.2")
	for _, n := range []string{".", "ok.test", "mx.ok.test", "half.test"} {
		dns.Set(dns.ServFail, n)
	}
	mn := newMailNet(t, []string{"127.0.0.2"}, nil)
	module := domainModule(t, dns, mn, "mx: {}")
	r := Probe(t.Context(), "ok.test", "mx", module, nil, prober.Options{})
	expect(t, "failure", r.Failure, ReasonResolverFailed)
	if !strings.Contains(r.Error, "fails the known-good name . too") {
		t.Errorf("error %q does not blame the resolver", r.Error)
	}
	if r.MXDiagnosis == nil || r.MXDiagnosis.Cause != "resolver_failed" || r.KnownGood == nil || r.KnownGood.OK() {
		t.Errorf("diagnosis %+v, known-good %+v", r.MXDiagnosis, r.KnownGood)
	}
}

// TestProbeResolverValidation: a module that checks DANE or MTA-STS asks
// whether its resolver validates DNSSEC, and warns when it does not.
func TestProbeResolverValidation(t *testing.T) {
	cases := []struct {
		name, fields string
		secure       bool
		asked        bool
		warns        bool
	}{
		{"validating", "dane: check", true, true, false},
		{"not validating", "dane: check", false, true, true},
		{"not validating with MTA-STS", "mta_sts: true", false, true, true},
		{"neither DANE nor MTA-STS is not asked", "", false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dns := domainZone(t)
			if tc.secure {
				dns.Set(dns.Secure, ".")
			}
			mn := newMailNet(t, []string{"127.0.0.2", "127.0.0.3", "::1"}, nil)
			module := domainModule(t, dns, mn, "mx: {}\n"+tc.fields)
			r := Probe(t.Context(), "ok.test", "mx", module, nil, prober.Options{})
			v := r.ResolverValidates()
			expect(t, "asked", v != nil, tc.asked)
			if v != nil {
				expect(t, "validates", *v, tc.secure)
			}
			warned := strings.Contains(warningTexts(r.Warnings), "does not validate DNSSEC (no AD bit on the known-good name .)")
			expect(t, "warned", warned, tc.warns)
		})
	}
}
