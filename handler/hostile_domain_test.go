package handler

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// The attacks of issue 23 on domain probes, driven through /probe with the
// real prober against a hostile DNS server and SMTP fakes on loopback.
// Addresses outside loopback are in the answers too; the allow-list of
// every config here refuses them, so that they are judged, never dialed.

// seriesOf counts the series of an exposition and returns the value of
// each single-sample metric.
func seriesOf(t *testing.T, body string) (int, map[string]float64) {
	t.Helper()
	n, values := 0, map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		name, value, _ := strings.Cut(line, " ")
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			values[name] = v
		}
	}
	return n, values
}

// TestHostileDomainOneRequest: 12 MX hosts of 64 A and 64 AAAA records
// each, with reverse DNS: once 1,280 conversations, 26,913 DNS questions
// and 137,003 series for one request; now its bounds.
func TestHostileDomainOneRequest(t *testing.T) {
	for _, tc := range []struct {
		name, allowed string
		dialed        float64 // pairs dialed
	}{
		// Loopback allowed: the A pairs within the bounds are dialed
		// (nothing listens: connection refused), the AAAA ones refused.
		{"loopback allowed", "{cidrs: [127.0.0.0/8]}", 8},
		// Every address refused: the work stops at the allow-list.
		{"every address refused", "{deny_private: true}", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := dnstest.Start(t, dnstest.HostileMX("hostile.test", 12, 64)...)
			h, _ := newProbe(t, fmt.Sprintf(`
modules:
  mx: {port: 9, tls: opportunistic, timeout: 10s, dane: check, reverse_dns: true, mx: {}, dns: {server: %q}}
allowed_targets: %s
`, dns.Addr, tc.allowed), nil)
			rec := serve(h, http.MethodGet, "target=hostile.test&module=mx", nil)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			n, v := seriesOf(t, rec.Body.String())
			if limit := 100 + 20*16; n > limit {
				t.Errorf("%d series, bound %d", n, limit)
			}
			if v["probe_smtp_mx_addresses"] != 16 {
				t.Errorf("%v pairs with an address, want max_pairs 16", v["probe_smtp_mx_addresses"])
			}
			if q := v["probe_dns_queries"]; q > 128 || q != float64(len(dns.Queries())) {
				t.Errorf("probe_dns_queries %v, the DNS server received %d: want them equal, at most 128", q, len(dns.Queries()))
			}
			for reason, want := range map[string]float64{"max_addresses": 10 * 124, "max_pairs": 24, "deadline": 0} {
				if got := v[`probe_smtp_domain_pairs_skipped{reason="`+reason+`"}`]; got != want {
					t.Errorf("pairs skipped for %s: %v, want %v", reason, got, want)
				}
			}
			refused := strings.Count(rec.Body.String(), `reason="target_not_allowed"} 1`)
			if dialed := 16 - float64(refused); dialed != tc.dialed {
				t.Errorf("%v pairs dialed (%d refused), want %v", dialed, refused, tc.dialed)
			}
		})
	}
}

// holdingNet is SMTP servers on several loopback addresses of one port
// that count the conversations held at once (while each holds its
// greeting for hold), and a zone of one MX host per address.
type holdingNet struct {
	port      int
	now, most atomic.Int64
	dns       *dnstest.Server
}

func newHoldingNet(t *testing.T, domains []string, addrs []string, hold time.Duration) *holdingNet {
	t.Helper()
	hn := &holdingNet{}
	quit := make(chan struct{})
	handle := func(c net.Conn, s *smtptest.Server) {
		n := hn.now.Add(1)
		for m := hn.most.Load(); n > m && !hn.most.CompareAndSwap(m, n); m = hn.most.Load() {
		}
		select {
		case <-time.After(hold):
		case <-quit:
			return
		}
		hn.now.Add(-1)
		s.Converse(c, smtptest.Config{})
	}
	port, _, err := smtptest.NewServersOnOnePort(t, addrs, func(string) func(net.Conn, *smtptest.Server) { return handle })
	if err != nil {
		t.Fatal(err)
	}
	// After the servers', so that it runs first: their Close waits for the
	// connections held.
	t.Cleanup(func() { close(quit) })
	hn.port = port
	var records []string
	for _, d := range domains {
		for i, a := range addrs {
			records = append(records, fmt.Sprintf("%s. 300 IN MX %d w%d.%s.", d, 10+i, i, d), fmt.Sprintf("w%d.%s. 300 IN A %s", i, d, a))
		}
	}
	hn.dns = dnstest.Start(t, records...)
	return hn
}

// TestDomainProbesShareTheLimit: with --probe.max-concurrent 2, five
// domain probes at once put at most 2 conversations on the wire (they put
// 33 when the limit counted requests): the two that got a slot share the
// limit, the others are refused at once.
func TestDomainProbesShareTheLimit(t *testing.T) {
	domains := []string{"d1.test", "d2.test", "d3.test", "d4.test", "d5.test"}
	hn := newHoldingNet(t, domains, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}, 50*time.Millisecond)
	h, reg := newProbe(t, fmt.Sprintf(`
modules:
  mx: {port: %d, tls: none, timeout: 10s, mx: {concurrency: 4}, dns: {server: %q}}
allowed_targets: {cidrs: [127.0.0.0/8]}
`, hn.port, hn.dns.Addr), nil)
	h.Limit = NewLimiter(2, reg)
	codes := make([]int, len(domains))
	var wg sync.WaitGroup
	for i, d := range domains {
		wg.Go(func() { codes[i] = serve(h, http.MethodGet, "target="+d+"&module=mx", nil).Code })
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case 200:
			ok++
		case 503:
		default:
			t.Errorf("status %d", c)
		}
	}
	if ok == 0 {
		t.Fatal("no domain probe got a slot")
	}
	if most := hn.most.Load(); most > 2 {
		t.Errorf("%d conversations at once, with --probe.max-concurrent 2", most)
	}
	if n := h.Limit.Slots().InUse(); n != 0 {
		t.Errorf("%d slots held after every request ended", n)
	}
}

// TestHostileDomainsAnswerInTime: 20 domain probes at once, each of 16
// pairs whose servers never speak, answer within the scrape timeout
// Prometheus sent (they answered after 22.6 s against 20 s): each pair
// gets a share of the time, and the probe ends before the deadline to
// write its answer.
func TestHostileDomainsAnswerInTime(t *testing.T) {
	var domains []string
	for i := range 20 {
		domains = append(domains, fmt.Sprintf("tarpit%02d.test", i))
	}
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	hn := newHoldingNet(t, domains, addrs, 30*time.Second) // tarpits: they hold the greeting
	h, reg := newProbe(t, fmt.Sprintf(`
modules:
  mx: {port: %d, tls: none, timeout: 20s, mx: {}, dns: {server: %q}}
allowed_targets: {cidrs: [127.0.0.0/8]}
`, hn.port, hn.dns.Addr), nil)
	h.Limit = NewLimiter(500, reg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// As Prometheus: a 3 s scrape timeout, the header says so; the
	// exporter's offset (0.5 s) is its margin.
	client := &http.Client{Timeout: 3 * time.Second}
	var wg sync.WaitGroup
	for _, d := range domains {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/probe?module=mx&target="+d, nil)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "3")
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s: %v", d, err)
				return
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
			if resp.StatusCode != http.StatusOK || !strings.Contains(b.String(), `probe_smtp_failure{address="127.0.0.2",mx="w0.`+d+`",reason="banner_timeout"} 1`) {
				t.Errorf("%s: %d, want 200 with every pair timed out:\n%s", d, resp.StatusCode, b.String())
			}
		})
	}
	wg.Wait()
}
