package maildomain

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/slots"
)

// loopbackOnly is an allow-list that lets a test dial loopback only: the
// hostile zones below give documentation addresses too, which must be
// judged, never dialed.
type loopbackOnly struct{}

func (loopbackOnly) AllowName(string) error { return nil }

func (loopbackOnly) AllowAddr(host string, addr netip.Addr) error {
	if addr.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s (%s) is not allowed: not loopback", host, addr)
}

// hostileZone adds dnstest.HostileMX to dns.
func hostileZone(t *testing.T, dns *dnstest.Server, domain string, hosts, perFamily int) {
	t.Helper()
	for _, r := range dnstest.HostileMX(domain, hosts, perFamily) {
		dns.Add(t, r)
	}
}

// TestProbeBoundsBeforeWork drives hostile zones at domain probes: the
// work each costs (pairs, conversations, DNS questions) is bounded by the
// module's mx section, whatever the zone says, and what is left out is
// counted and said.
func TestProbeBoundsBeforeWork(t *testing.T) {
	cases := []struct {
		name      string
		hosts     int // MX hosts of 64 + 64 addresses
		mx        string
		pairs     int // pairs kept
		dialed    int // pairs allowed and dialed (loopback)
		skipAddrs int
		skipPairs int
		questions int // 64 AAAA records come truncated over UDP, then over TCP: 3 per host
		warning   string
	}{
		{
			name: "one host of 64 + 64 addresses", hosts: 1, mx: "mx: {}",
			pairs: 4, dialed: 2, skipAddrs: 124, questions: 1 + 3,
			warning: "124 (MX host, address) pair(s) not probed: 124 address(es) beyond max_addresses (2 per MX host and family)",
		},
		{
			// The attack of issue 23: 12 MX hosts of 64 A and 64 AAAA.
			name: "12 hosts of 64 + 64 addresses", hosts: 12, mx: "mx: {}",
			pairs: 16, dialed: 8, skipAddrs: 10 * 124, skipPairs: 24, questions: 1 + 3*10,
			warning: "24 pair(s) beyond max_pairs (16), the highest preferences",
		},
		{
			name: "max_hosts 50 does not lift max_pairs", hosts: 12, mx: "mx: {max_hosts: 50, max_addresses: 16, max_pairs: 64}",
			pairs: 64, dialed: 32, skipAddrs: 12 * 96, skipPairs: 12*32 - 64, questions: 1 + 3*12,
			warning: "1472 (MX host, address) pair(s) not probed: 1152 address(es) beyond max_addresses (16 per MX host and family); 320 pair(s) beyond max_pairs (64)",
		},
		{
			name: "max_pairs below the hosts: the rest are not looked up", hosts: 12, mx: "mx: {max_pairs: 3, max_addresses: 1}",
			pairs: 3, dialed: 2, skipAddrs: 3 * 126, skipPairs: 3, questions: 1 + 3*3,
			warning: "7 MX host(s) beyond max_pairs (3) not looked up: h03.bounds.test, h04.bounds.test",
		},
		{
			name: "addresses: first", hosts: 12, mx: "mx: {addresses: first}",
			pairs: 10, dialed: 10, questions: 1 + 3*10,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dns := dnstest.Start(t)
			hostileZone(t, dns, "bounds.test", tc.hosts, 64)
			module := testModule(t, fmt.Sprintf("timeout: 5s\nport: 9\ntls: none\ndns: {server: %q}\n%s", dns.Addr, tc.mx))
			r := Probe(context.Background(), "bounds.test", "mx", module, nil, prober.Options{AllowList: loopbackOnly{}})
			dialed := 0
			for _, p := range r.Pairs {
				if p.Probed() {
					dialed++
					// Nothing listens on port 9 of these addresses.
					expect(t, "dialed pair's failure", p.Result.Failure, prober.ReasonConnectRefused)
				} else {
					expect(t, "refused pair's failure", p.Result.Failure, ReasonTargetNotAllowed)
					if len(p.Result.Phases) != 0 || len(p.Result.Transcript) != 0 {
						t.Errorf("a refused pair keeps a full result: %d phases, %d transcript lines", len(p.Result.Phases), len(p.Result.Transcript))
					}
				}
			}
			expect(t, "pairs", len(r.Pairs), tc.pairs)
			expect(t, "dialed", dialed, tc.dialed)
			expect(t, "skipped beyond max_addresses", r.Skipped[SkipMaxAddresses], tc.skipAddrs)
			expect(t, "skipped beyond max_pairs", r.Skipped[SkipMaxPairs], tc.skipPairs)
			expect(t, "DNS questions counted", r.DNSQueries, tc.questions)
			expect(t, "DNS questions received", len(dns.Queries()), tc.questions)
			if w := warningOf(r.Warnings, WarningPairsLimited); !strings.Contains(w, tc.warning) || (tc.warning != "") != (w != "") {
				t.Errorf("pairs_limited warnings %q, want one that says %q", w, tc.warning)
			}
			// Lowest preference first: the pairs are of the first hosts.
			for i, p := range r.Pairs {
				if i > 0 && p.Preference < r.Pairs[i-1].Preference {
					t.Errorf("pair %d (%s) comes after a higher preference", i, p.MX)
				}
			}
		})
	}
}

// TestProbeEscapedMXName: an MX target with an escaped byte is no host
// name: it is not looked up, not dialed, and its pair says why.
func TestProbeEscapedMXName(t *testing.T) {
	dns := dnstest.Start(t,
		`esc.test. 300 IN MX 10 x\.allowed.test.`,
		`esc.test. 300 IN MX 20 mx\000.allowed.test.`,
		`x\.allowed.test. 300 IN A 127.0.0.1`,
	)
	module := testModule(t, fmt.Sprintf("timeout: 5s\nport: 9\ntls: none\ndns: {server: %q}\nmx: {}", dns.Addr))
	r := Probe(context.Background(), "esc.test", "mx", module, nil, prober.Options{})
	expect(t, "failure", r.Failure, ReasonNoAddress)
	expect(t, "pairs", len(r.Pairs), 2)
	for _, p := range r.Pairs {
		expect(t, p.MX+" failure", p.Result.Failure, ReasonTargetNotAllowed)
		if !strings.Contains(p.Result.Error, "is not a host name") {
			t.Errorf("%s: error %q", p.MX, p.Result.Error)
		}
	}
	for _, q := range dns.Queries() {
		if q.Type != mdns.TypeMX {
			t.Errorf("%s %s asked: an escaped name was looked up", mdns.TypeToString[q.Type], q.Name)
		}
	}
}

// TestProbeDNSBudget: a zone that makes a probe ask for more than
// MaxDNSQueries names (64 pairs, each with PTR names to look up) gets the
// rest unasked, and says so.
func TestProbeDNSBudget(t *testing.T) {
	dns := dnstest.Start(t)
	hostileZone(t, dns, "budget.test", 16, 2)
	for h := range 16 {
		for i := range 2 {
			for n := range 10 {
				dns.Add(t, fmt.Sprintf("%d.%d.0.127.in-addr.arpa. 300 IN PTR p%d.h%02d.budget.test.", i+1, 10+h, n, h))
			}
		}
	}
	module := testModule(t, fmt.Sprintf("timeout: 10s\nport: 9\ntls: none\nreverse_dns: true\ndns: {server: %q}\nmx: {max_hosts: 16, max_pairs: 64}", dns.Addr))
	r := Probe(context.Background(), "budget.test", "mx", module, nil, prober.Options{AllowList: loopbackOnly{}})
	expect(t, "pairs", len(r.Pairs), 64)
	expect(t, "DNS questions counted", r.DNSQueries, MaxDNSQueries)
	if n := len(dns.Queries()); n != MaxDNSQueries {
		t.Errorf("the DNS server received %d questions, want the budget's %d", n, MaxDNSQueries)
	}
	if w := warningOf(r.Warnings, WarningDNSBudget); !strings.Contains(w, "the probe's budget of 128 is spent") {
		t.Errorf("warnings %q do not say the budget is spent", w)
	}
}

// concurrencyNet is servers that count the conversations held at once:
// each is counted while it holds its greeting, before it speaks, so that
// a conversation the client has ended is never counted with the next.
type concurrencyNet struct {
	*mailNet
	now, most atomic.Int64
}

func newConcurrencyNet(t *testing.T, addrs []string, hold time.Duration) *concurrencyNet {
	c := &concurrencyNet{}
	handle := func(conn net.Conn, s *smtptest.Server) {
		n := c.now.Add(1)
		for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
		}
		time.Sleep(hold)
		c.now.Add(-1)
		s.Converse(conn, smtptest.Config{})
	}
	handles := map[string]func(net.Conn, *smtptest.Server){}
	for _, a := range addrs {
		handles[a] = handle
	}
	c.mailNet = newMailNet(t, addrs, handles)
	return c
}

func wideZone(t *testing.T, dns *dnstest.Server, domain string, addrs []string) {
	for i, a := range addrs {
		dns.Add(t, fmt.Sprintf("%s. 300 IN MX %d w%d.%s.", domain, 10+i, i, domain))
		dns.Add(t, fmt.Sprintf("w%d.%s. 300 IN A %s", i, domain, a))
	}
}

// TestProbeConversationSlots: a domain probe holds at most one
// conversation per slot it has: the request's own, and those it takes
// from the pool, which other probes share; all its pairs are still probed,
// a few at a time.
func TestProbeConversationSlots(t *testing.T) {
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"}
	for _, tc := range []struct {
		name  string
		limit int // the pool; the request holds one of it
		most  int64
	}{
		{"one more slot free", 2, 2},
		{"none free: the request's own slot carries the probe", 1, 1},
		{"more free than mx.concurrency", 16, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := dnstest.Start(t)
			cn := newConcurrencyNet(t, addrs, 20*time.Millisecond)
			wideZone(t, dns, "wide.test", addrs)
			module := testModule(t, fmt.Sprintf("timeout: 10s\nport: %d\ntls: none\ndns: {server: %q}\nmx: {concurrency: 4}", cn.port, dns.Addr))
			pool := slots.New(tc.limit)
			if !pool.TryAcquire() {
				t.Fatal("no slot for the request")
			}
			r := Probe(context.Background(), "wide.test", "mx", module, nil, prober.Options{Slots: pool})
			if !r.Success || len(r.Pairs) != len(addrs) {
				t.Fatalf("%s: %s, %d pairs, skipped %v", r.Failure, r.Error, len(r.Pairs), r.Skipped)
			}
			if got := cn.most.Load(); got > tc.most {
				t.Errorf("%d conversations at once, with %d slots of the pool for it", got, tc.most)
			}
			if pool.InUse() != 1 {
				t.Errorf("%d slots in use after the probe, want the request's 1", pool.InUse())
			}
		})
	}
}

// TestProbeSlotsRunOut: when the pool has no slot for a probe's further
// pairs before its time is up, the pairs it could not start are left out
// and counted, not failed, and the warning says why.
func TestProbeSlotsRunOut(t *testing.T) {
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	dns := dnstest.Start(t)
	cn := newConcurrencyNet(t, addrs, 400*time.Millisecond)
	wideZone(t, dns, "slow.test", addrs)
	module := testModule(t, fmt.Sprintf("timeout: 10s\nport: %d\ntls: none\ndns: {server: %q}\nmx: {}", cn.port, dns.Addr))
	pool := slots.New(1)
	pool.TryAcquire() // the request's
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	r := Probe(ctx, "slow.test", "mx", module, nil, prober.Options{Slots: pool})
	if r.Skipped[SkipDeadline] == 0 || len(r.Pairs)+r.Skipped[SkipDeadline] != len(addrs) {
		t.Fatalf("%d pairs, skipped %v, want the unstarted ones skipped", len(r.Pairs), r.Skipped)
	}
	if w := warningOf(r.Warnings, WarningPairsLimited); !strings.Contains(w, "conversation slots (--probe.max-concurrent) were all in use") {
		t.Errorf("warnings %q do not say the slots ran out", w)
	}
	for _, h := range r.Hosts {
		for _, a := range h.Addresses {
			found := false
			for _, p := range r.Pairs {
				found = found || p.MX == h.Name && p.Address == a
			}
			if !found {
				t.Errorf("host %s lists %s, which has no pair", h.Name, a)
			}
		}
	}
}

// TestProbeShares: servers that never speak get a share of the time each,
// not all of it, so that the pairs after them are still probed.
func TestProbeShares(t *testing.T) {
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"}
	quit := make(chan struct{})
	tarpit := func(c net.Conn, _ *smtptest.Server) {
		select {
		case <-quit:
		case <-time.After(30 * time.Second):
		}
	}
	handles := map[string]func(net.Conn, *smtptest.Server){}
	for _, a := range addrs[:4] {
		handles[a] = tarpit
	}
	mn := newMailNet(t, addrs, handles)
	// Registered after the servers, so it runs before they wait for their
	// connections to end.
	t.Cleanup(func() { close(quit) })
	dns := dnstest.Start(t)
	wideZone(t, dns, "tarpits.test", addrs)
	module := testModule(t, fmt.Sprintf("timeout: 4s\nport: %d\ntls: none\ndns: {server: %q}\nmx: {concurrency: 2, success: any}", mn.port, dns.Addr))
	r := Probe(context.Background(), "tarpits.test", "mx", module, nil, prober.Options{})
	expect(t, "pairs", len(r.Pairs), len(addrs))
	expect(t, "skipped", r.SkippedPairs(), 0)
	for i, p := range r.Pairs {
		want := prober.Reason("")
		if i < 4 {
			want = prober.ReasonBannerTimeout
		}
		expect(t, p.Address.String()+" failure", p.Result.Failure, want)
	}
}
