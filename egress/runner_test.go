package egress

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// canaryPort is a port free on 127.0.0.1 to 127.0.0.9, so that canaries
// on several loopback addresses share it, as canaries of one port do.
func canaryPort(t *testing.T) int { return smtptest.SharedPort(t, 9) }

// fake is one canary of a test: its loopback address and how it behaves
// (nil: nothing listens, the connect is refused).
type fake struct {
	ip     string
	handle func(net.Conn, *smtptest.Server)
	canary config.Canary // Target is filled in
}

func good() func(net.Conn, *smtptest.Server) {
	return func(c net.Conn, s *smtptest.Server) { s.Converse(c, smtptest.Config{}) }
}

func greeting(g string) func(net.Conn, *smtptest.Server) {
	return func(c net.Conn, s *smtptest.Server) { s.Converse(c, smtptest.Config{Greeting: g}) }
}

// startFakes listens for each fake on port and returns the egress section
// naming them.
func startFakes(t *testing.T, port int, quorum int, fakes []fake) *config.Egress {
	t.Helper()
	e := &config.Egress{Interval: time.Second, Timeout: 500 * time.Millisecond, Quorum: quorum}
	for _, f := range fakes {
		addr := net.JoinHostPort(f.ip, strconv.Itoa(port))
		if f.handle != nil {
			if _, err := smtptest.NewRawServerOn(t, addr, f.handle); err != nil {
				t.Fatal(err)
			}
		}
		c := f.canary
		c.Target = addr
		e.Canaries = append(e.Canaries, c)
	}
	return parseEgress(t, e)
}

// parseEgress puts e through the config's validation, which prepares it.
func parseEgress(t *testing.T, e *config.Egress) *config.Egress {
	t.Helper()
	var doc strings.Builder
	fmt.Fprintf(&doc, "modules: {m: {}}\negress:\n  interval: %s\n  timeout: %s\n  quorum: %d\n  canaries:\n", e.Interval, e.Timeout, e.Quorum)
	for _, c := range e.Canaries {
		fmt.Fprintf(&doc, "    - {target: '%s', expect_banner: '%s', ip_protocol: '%s', expect_certificate_name: '%s'}\n",
			c.Target, c.ExpectBanner, c.IPProtocol, c.ExpectCertificateName)
	}
	cfg, err := config.Parse([]byte(doc.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc.String())
	}
	return cfg.Egress
}

// waitState waits until key's state is want, or fails after deadline.
func waitState(t *testing.T, r *Runner, key Key, want State, deadline time.Duration) Verdict {
	t.Helper()
	var v Verdict
	for end := time.Now().Add(deadline); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if v, _ = r.Verdict(key.Port, key.Family); v.State == want {
			return v
		}
	}
	t.Fatalf("%s: state %s (%s) after %s, want %s", key, v.State, v.Detail(), deadline, want)
	return v
}

// maxAttempts is the most attempts any canary of the snapshot made.
func maxAttempts(s Snapshot) uint64 {
	var n uint64
	for _, c := range s.Canaries {
		n = max(n, c.Attempts)
	}
	return n
}

func TestRunnerStates(t *testing.T) {
	ca := smtptest.NewCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	starttls := smtptest.ServerTLS(ca.Issue(t, smtptest.Leaf{DNSNames: []string{"canary.test"}}))
	withTLS := func(c net.Conn, s *smtptest.Server) { s.Converse(c, smtptest.Config{StartTLS: starttls}) }
	cert := func(name string) config.Canary { return config.Canary{ExpectCertificateName: name} }
	cases := []struct {
		name   string
		quorum int
		fakes  []fake
		want   State
		detail string
		// rounds is the most attempts a canary may have made when the
		// state is reached.
		rounds uint64
	}{
		{
			"three answer", 2,
			[]fake{{"127.0.0.1", good(), config.Canary{}}, {"127.0.0.2", good(), config.Canary{}}, {"127.0.0.3", good(), config.Canary{}}},
			StateOpen, "3/3 IPv4 canaries answer", 1,
		},
		{
			"all refused", 2,
			[]fake{{"127.0.0.1", nil, config.Canary{}}, {"127.0.0.2", nil, config.Canary{}}, {"127.0.0.3", nil, config.Canary{}}},
			StateBlocked, "3/3 IPv4 canaries are refused", 2,
		},
		{
			"one dead canary of three", 2,
			[]fake{{"127.0.0.1", good(), config.Canary{}}, {"127.0.0.2", nil, config.Canary{}}, {"127.0.0.3", good(), config.Canary{}}},
			StateOpen, "2/3 IPv4 canaries answer", 3,
		},
		{"another greeting", 2, []fake{
			{"127.0.0.1", good(), config.Canary{ExpectBanner: `^220 canary\.test `}},
			{"127.0.0.2", good(), config.Canary{ExpectBanner: `^220 canary\.test `}},
		}, StateIntercepted, "2/2 IPv4 canaries answer with a greeting or certificate not theirs", 1},
		{
			"masked greeting", 2,
			[]fake{{"127.0.0.1", smtptest.ASA(smtptest.Config{}), config.Canary{}}, {"127.0.0.2", smtptest.ASA(smtptest.Config{}), config.Canary{}}},
			StateIntercepted, "2/2 IPv4 canaries answer with a greeting or certificate not theirs", 1,
		},
		{"their certificate", 1, []fake{{"127.0.0.1", withTLS, cert("canary.test")}}, StateOpen, "1/1 IPv4 canary answer", 1},
		{
			"another certificate", 1,
			[]fake{{"127.0.0.1", withTLS, cert("other.test")}},
			StateIntercepted, "1/1 IPv4 canary answer with a greeting or certificate not theirs", 1,
		},
		{
			"STARTTLS stripped", 1,
			[]fake{{"127.0.0.1", smtptest.ASA(smtptest.Config{StartTLS: starttls}), cert("canary.test")}},
			StateIntercepted, "1/1 IPv4 canary answer with a greeting or certificate not theirs", 1,
		},
		{
			"unwell canaries", 2,
			[]fake{{"127.0.0.1", greeting("421 4.3.2 busy\r\n"), config.Canary{}}, {"127.0.0.2", greeting("554 5.7.1 go away\r\n"), config.Canary{}}},
			StateUnknown, "2/2 IPv4 canaries refuse this client", 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port := canaryPort(t)
			r := NewRunner(Options{Roots: roots})
			t.Cleanup(r.Stop)
			r.Apply(startFakes(t, port, tc.quorum, tc.fakes))
			key := Key{Port: port, Family: "ip4"}
			// Wait for every canary's first attempt: the first state may
			// be open before the last canary has spoken.
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				s := r.Snapshot()
				done := len(s.Canaries) == len(tc.fakes)
				for _, c := range s.Canaries {
					done = done && c.Tried
				}
				if done {
					break
				}
			}
			v := waitState(t, r, key, tc.want, 5*time.Second)
			if v.Detail() != tc.detail {
				t.Errorf("detail %q, want %q", v.Detail(), tc.detail)
			}
			reached := maxAttempts(r.Snapshot())
			if reached > tc.rounds {
				t.Errorf("%s reached after %d attempts of a canary, want at most %d", tc.want, reached, tc.rounds)
			}
			// And it holds at the next round (when the dead canary of "one
			// dead canary of three" has failed twice in a row).
			for end := time.Now().Add(5 * time.Second); maxAttempts(r.Snapshot()) <= max(reached, 1) && time.Now().Before(end); {
				time.Sleep(50 * time.Millisecond)
			}
			if v, _ := r.Verdict(key.Port, key.Family); v.State != tc.want {
				t.Errorf("a round later: %s (%s), want %s still", v.State, v.Detail(), tc.want)
			}
		})
	}
}

// TestRunnerOncePerInterval: canaries are tried once per interval, however
// often the state is read (scrapes and probes read it).
func TestRunnerOncePerInterval(t *testing.T) {
	port := canaryPort(t)
	srv, err := smtptest.NewServerOn(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), smtptest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Options{})
	defer r.Stop()
	r.Apply(parseEgress(t, &config.Egress{
		Interval: time.Second, Timeout: 500 * time.Millisecond, Quorum: 1,
		Canaries: []config.Canary{{Target: srv.Addr}},
	}))
	end := time.Now().Add(2500 * time.Millisecond)
	reads := 0
	for time.Now().Before(end) {
		r.Verdict(port, "ip4")
		r.Snapshot()
		reads++
	}
	// An attempt at the start, then one a second: 3 in 2.5s.
	if n := srv.Accepted(); n < 2 || n > 3 {
		t.Errorf("%d connections to the canary in 2.5s with an interval of 1s (and %d reads of the state), want 3", n, reads)
	}
}

// TestRunnerReload: a reload keeps the canaries it keeps, with their
// history and counters, forgets the removed ones and starts the new ones.
func TestRunnerReload(t *testing.T) {
	port := canaryPort(t)
	var addrs []string
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		srv, err := smtptest.NewServerOn(t, net.JoinHostPort(ip, strconv.Itoa(port)), smtptest.Config{})
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, srv.Addr)
	}
	section := func(interval time.Duration, targets ...string) *config.Egress {
		e := &config.Egress{Interval: interval, Timeout: 500 * time.Millisecond, Quorum: 1}
		for _, a := range targets {
			e.Canaries = append(e.Canaries, config.Canary{Target: a})
		}
		return parseEgress(t, e)
	}
	run := NewRunner(Options{})
	defer run.Stop()
	snapshot := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, c := range run.Snapshot().Canaries {
			out[c.Canary] = c.Attempts
		}
		return out
	}
	waitAttempts := func(target string, n uint64) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if snapshot()[target] >= n {
				return
			}
		}
		t.Fatalf("%s: %d attempts, want %d", target, snapshot()[target], n)
	}

	run.Apply(section(time.Second, addrs[0], addrs[1]))
	waitAttempts(addrs[1], 2)
	run.Apply(section(time.Second, addrs[1], addrs[2]))
	waitAttempts(addrs[2], 1)
	got := snapshot()
	if _, ok := got[addrs[0]]; ok {
		t.Errorf("canary %s removed by the reload is still reported", addrs[0])
	}
	if got[addrs[1]] < 2 {
		t.Errorf("canary %s kept by the reload has %d attempts: its counters were reset", addrs[1], got[addrs[1]])
	}
	// A new interval restarts the attempts, and keeps the history.
	before := got[addrs[1]]
	run.Apply(section(2*time.Second, addrs[1], addrs[2]))
	waitAttempts(addrs[1], before+1)
	if v, _ := run.Verdict(port, "ip4"); v.State != StateOpen || v.Canaries != 2 {
		t.Errorf("after the reloads: %+v, want open by 2 canaries", v)
	}
	run.Apply(nil)
	if s := run.Snapshot(); len(s.Verdicts) != 0 || len(s.Canaries) != 0 {
		t.Errorf("without an egress section: %+v, want nothing", s)
	}
}

// TestRunnerHostNames: a canary named by a host name covers the families
// it resolves to, each tried on its own.
func TestRunnerHostNames(t *testing.T) {
	port := canaryPort(t)
	for _, addr := range []string{"127.0.0.1", "::1"} {
		if _, err := smtptest.NewServerOn(t, net.JoinHostPort(addr, strconv.Itoa(port)), smtptest.Config{}); err != nil {
			t.Skipf("no listener on %s: %v", addr, err)
		}
	}
	res := smtptest.NewResolver(t, map[string][]netip.Addr{
		"both.canary.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		"v4.canary.test":   {netip.MustParseAddr("127.0.0.1")},
	})
	run := NewRunner(Options{Resolver: res})
	defer run.Stop()
	run.Apply(parseEgress(t, &config.Egress{Interval: time.Second, Timeout: 500 * time.Millisecond, Quorum: 1, Canaries: []config.Canary{
		{Target: net.JoinHostPort("both.canary.test", strconv.Itoa(port))},
		{Target: net.JoinHostPort("v4.canary.test", strconv.Itoa(port))},
		{Target: net.JoinHostPort("gone.canary.test", strconv.Itoa(port)), IPProtocol: "ip6"},
	}}))
	waitState(t, run, Key{Port: port, Family: "ip4"}, StateOpen, 5*time.Second)
	v6 := waitState(t, run, Key{Port: port, Family: "ip6"}, StateOpen, 5*time.Second)
	// The name that does not resolve covers ip6 (its ip_protocol) and
	// fails there on its own; v4.canary.test has no ip6 to cover.
	if v6.Canaries != 2 {
		t.Errorf("ip6 covered by %d canaries, want 2 (both, and gone with ip_protocol ip6)", v6.Canaries)
	}
	for _, c := range run.Snapshot().Canaries {
		if strings.HasPrefix(c.Canary, "gone.") && c.Tried && c.Last.Outcome != OutcomeResolve {
			t.Errorf("gone.canary.test: %s, want resolve", c.Last.Outcome)
		}
		if strings.HasPrefix(c.Canary, "v4.") && c.Family != "ip4" {
			t.Errorf("v4.canary.test covers %s", c.Family)
		}
	}
}

func TestOnce(t *testing.T) {
	port := canaryPort(t)
	cases := []struct {
		name  string
		fakes []fake
		want  State
	}{
		{"blocked", []fake{{"127.0.0.4", nil, config.Canary{}}, {"127.0.0.5", nil, config.Canary{}}, {"127.0.0.6", nil, config.Canary{}}}, StateBlocked},
		{"one dead", []fake{{"127.0.0.1", good(), config.Canary{}}, {"127.0.0.2", good(), config.Canary{}}, {"127.0.0.3", nil, config.Canary{}}}, StateOpen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Once(context.Background(), startFakes(t, port, 2, tc.fakes), Options{})
			if len(s.Verdicts) != 1 || s.Verdicts[0].State != tc.want {
				t.Errorf("verdicts %+v, want one, %s", s.Verdicts, tc.want)
			}
		})
	}
}

// The prober names the states for the views that read a result; the names
// must be the same.
func TestInfoStates(t *testing.T) {
	want := map[State]string{
		StateOpen: prober.EgressOpen, StateBlocked: prober.EgressBlocked, StateThrottled: prober.EgressThrottled,
		StateIntercepted: prober.EgressIntercepted, StateUnknown: prober.EgressUnknown,
	}
	for _, s := range States {
		v := Verdict{Key: Key{Port: 25, Family: "ip6"}, State: s, Canaries: 2, Counted: 2, Cause: "answer"}
		info := v.Info()
		if info.State != want[s] || info.Port != 25 || info.Family != "ip6" || info.Detail != "2/2 IPv6 canaries answer" {
			t.Errorf("%s: %+v", s, info)
		}
		if info.Open() != (s == StateOpen) {
			t.Errorf("%s: Open() %v", s, info.Open())
		}
	}
}
