package egress

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/netnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// These tests run the canaries from a network namespace each makes for
// itself, whose own nftables output rules drop, reject or randomly drop
// the canaries' port, as a cloud's egress filter does; the canaries listen
// on port 25 of the host end of the veth. They need root.

// canaryPort25 is the port every canary of these tests listens on, the
// port cloud providers block.
const canaryPort25 = 25

// nsCanaries starts n well-behaved canaries of family on the host end of
// ns's veth, each on an address of its own, and returns their targets.
func nsCanaries(t *testing.T, ns *netnstest.NS, family string, n int) []string {
	t.Helper()
	var targets []string
	for range n {
		srv := smtptest.Serve(t, ns.Listen(t, family, canaryPort25), func(c net.Conn, s *smtptest.Server) {
			s.Converse(c, smtptest.Config{Greeting: "220 canary.test ESMTP\r\n"})
		})
		targets = append(targets, srv.Addr)
	}
	return targets
}

// nsRunner runs canaries from inside ns, at the shortest interval that
// holds the timeout. A timeout under a second, Linux's first SYN
// retransmission, makes one lost SYN one failed attempt.
func nsRunner(t *testing.T, ns *netnstest.NS, timeout time.Duration, quorum int, targets ...string) *Runner {
	t.Helper()
	e := &config.Egress{Interval: max(time.Second, timeout.Round(time.Second)), Timeout: timeout, Quorum: quorum}
	for _, target := range targets {
		e.Canaries = append(e.Canaries, config.Canary{Target: target, ExpectBanner: `^220 canary\.test `})
	}
	r := NewRunner(Options{Dial: ns.Dial})
	t.Cleanup(r.Stop)
	r.Apply(parseEgress(t, e))
	return r
}

// rounds is the number of attempts the canaries of key have made so far
// (the most of any canary: they run in step).
func rounds(r *Runner, key Key) uint64 {
	var n uint64
	for _, c := range r.Snapshot().Canaries {
		if c.Key == key {
			n = max(n, c.Attempts)
		}
	}
	return n
}

// untilRounds waits until the canaries of key have made n attempts, and
// returns the state after each attempt seen on the way.
func untilRounds(t *testing.T, r *Runner, key Key, n uint64) []State {
	t.Helper()
	var states []State
	seen := rounds(r, key)
	for end := time.Now().Add(time.Duration(n+5) * 2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		now := rounds(r, key)
		if now == seen {
			continue
		}
		// A round's canaries record one by one: read the state once all have.
		time.Sleep(100 * time.Millisecond)
		seen = now
		v, _ := r.Verdict(key.Port, key.Family)
		states = append(states, v.State)
		if now >= n {
			return states
		}
	}
	t.Fatalf("%s: %d attempts, want %d", key, rounds(r, key), n)
	return nil
}

func dropRules(rule string) string {
	return fmt.Sprintf("table inet egress_test {\n  chain output {\n    type filter hook output priority 0; policy accept;\n    %s\n  }\n}\n", rule)
}

var key4 = Key{Port: canaryPort25, Family: "ip4"}

// TestNetnsBlocked: whether the path drops the SYNs, resets them or answers
// with an ICMP prohibition, the state is blocked within 3 intervals of the
// rule, and the detail says how.
func TestNetnsBlocked(t *testing.T) {
	cases := []struct {
		name, rule, detail string
	}{
		{"drop", "tcp dport 25 drop", "3/3 IPv4 canaries time out"},
		{"reject with a reset", "tcp dport 25 reject with tcp reset", "3/3 IPv4 canaries are refused"},
		{"reject administratively", "tcp dport 25 reject with icmpx type admin-prohibited", "3/3 IPv4 canaries are unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := netnstest.New(t)
			r := nsRunner(t, ns, 900*time.Millisecond, 2, nsCanaries(t, ns, "ip4", 3)...)
			waitState(t, r, key4, StateOpen, 5*time.Second)
			ns.Nft(t, dropRules(tc.rule))
			start := rounds(r, key4)
			// Blocked by the third round after the rule: three intervals.
			states := untilRounds(t, r, key4, start+3)
			v, _ := r.Verdict(key4.Port, key4.Family)
			if v.State != StateBlocked {
				t.Fatalf("states after the rule %v: %s (%s), want blocked within 3 intervals", states, v.State, v.Detail())
			}
			if v.Detail() != tc.detail {
				t.Errorf("detail %q, want %q", v.Detail(), tc.detail)
			}
			// Lifting it opens the path again.
			ns.FlushNft(t)
			waitState(t, r, key4, StateOpen, 5*time.Second)
		})
	}
}

// TestNetnsOneDeadCanary: a path that drops one canary of three, and only
// that one, stays open.
func TestNetnsOneDeadCanary(t *testing.T) {
	ns := netnstest.New(t)
	targets := nsCanaries(t, ns, "ip4", 3)
	r := nsRunner(t, ns, 900*time.Millisecond, 2, targets...)
	waitState(t, r, key4, StateOpen, 5*time.Second)
	dead := netip.MustParseAddrPort(targets[1]).Addr()
	ns.Nft(t, dropRules(fmt.Sprintf("ip daddr %s tcp dport 25 drop", dead)))
	states := untilRounds(t, r, key4, rounds(r, key4)+5)
	for i, s := range states {
		if s != StateOpen {
			t.Errorf("round %d with one canary dead: %s, want open (states %v)", i+1, s, states)
		}
	}
	v, _ := r.Verdict(key4.Port, key4.Family)
	if v.Detail() != "2/3 IPv4 canaries answer" {
		t.Errorf("detail %q", v.Detail())
	}
}

// TestNetnsThrottled: about half the SYNs dropped at random is throttled
// within 20 intervals, and stays so: never open again, never blocked.
func TestNetnsThrottled(t *testing.T) {
	ns := netnstest.New(t)
	r := nsRunner(t, ns, 900*time.Millisecond, 2, nsCanaries(t, ns, "ip4", 3)...)
	waitState(t, r, key4, StateOpen, 5*time.Second)
	ns.Nft(t, dropRules("tcp dport 25 tcp flags & (syn | ack) == syn numgen random mod 2 == 0 drop"))
	start := rounds(r, key4)
	named := 0
	for i, s := range untilRounds(t, r, key4, start+20) {
		if s == StateThrottled {
			named = i + 1
			break
		}
	}
	if named == 0 {
		v, _ := r.Verdict(key4.Port, key4.Family)
		t.Fatalf("not throttled within 20 intervals: %s (%s)", v.State, v.Detail())
	}
	t.Logf("throttled after %d intervals", named)
	if states := untilRounds(t, r, key4, rounds(r, key4)+10); strings.Count(fmt.Sprint(states), string(StateThrottled)) != len(states) {
		t.Errorf("after throttled: %v, want throttled throughout", states)
	}
}

// TestNetnsRetransmitted: a path where every connect needs its SYN resent
// gets through on every attempt, and is throttled all the same: the kernel
// says it resent (TCP_INFO).
func TestNetnsRetransmitted(t *testing.T) {
	ns := netnstest.New(t)
	// One canary: numgen inc alternates over every SYN leaving the
	// namespace, so that each connect loses its first and sends its second.
	r := nsRunner(t, ns, 1500*time.Millisecond, 1, nsCanaries(t, ns, "ip4", 1)...)
	waitState(t, r, key4, StateOpen, 5*time.Second)
	ns.Nft(t, dropRules("tcp dport 25 tcp flags & (syn | ack) == syn numgen inc mod 2 == 0 drop"))
	states := untilRounds(t, r, key4, rounds(r, key4)+4)
	s := r.Snapshot()
	if len(s.Canaries) != 1 || s.Canaries[0].Last.Outcome != OutcomeOK || !s.Canaries[0].Last.Lossy {
		t.Fatalf("last attempt %+v, want one that got through after a resent SYN", s.Canaries[0].Last)
	}
	if last := states[len(states)-1]; last != StateThrottled {
		t.Errorf("states %v, want throttled once 3 connects needed a resent SYN", states)
	}
}

// TestNetnsFamilies: IPv4 and IPv6 are judged apart: a rule that drops
// only IPv6 blocks ip6 and leaves ip4 open.
func TestNetnsFamilies(t *testing.T) {
	ns := netnstest.New(t)
	ns.NeedIPv6(t)
	targets := append(nsCanaries(t, ns, "ip4", 2), nsCanaries(t, ns, "ip6", 2)...)
	r := nsRunner(t, ns, 900*time.Millisecond, 2, targets...)
	key6 := Key{Port: canaryPort25, Family: "ip6"}
	waitState(t, r, key4, StateOpen, 5*time.Second)
	waitState(t, r, key6, StateOpen, 5*time.Second)
	ns.Nft(t, dropRules("meta nfproto ipv6 tcp dport 25 drop"))
	v6 := waitState(t, r, key6, StateBlocked, 8*time.Second)
	if v6.Detail() != "2/2 IPv6 canaries time out" {
		t.Errorf("ip6 detail %q", v6.Detail())
	}
	if v4, _ := r.Verdict(key4.Port, key4.Family); v4.State != StateOpen {
		t.Errorf("ip4: %s (%s), want open: only IPv6 is dropped", v4.State, v4.Detail())
	}
}

// TestNetnsIntercepted: a middlebox that masks the greeting, as an ASA's
// ESMTP inspection does, answers for every canary: intercepted.
func TestNetnsIntercepted(t *testing.T) {
	ns := netnstest.New(t)
	var targets []string
	for range 2 {
		srv := smtptest.Serve(t, ns.Listen(t, "ip4", canaryPort25), smtptest.ASA(smtptest.Config{Greeting: "220 canary.test ESMTP\r\n"}))
		targets = append(targets, srv.Addr)
	}
	r := nsRunner(t, ns, 900*time.Millisecond, 2, targets...)
	waitState(t, r, key4, StateIntercepted, 5*time.Second)
	if d := r.Snapshot().Canaries[0].Last.Detail; !strings.Contains(d, "masked with asterisks") {
		t.Errorf("detail %q does not say the greeting is masked", d)
	}
}
