package egress

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Rounds are written one string each, a letter per canary: O answers,
// L answers after a retransmission, T times out, R is refused, U is
// unreachable, I is intercepted, G sends no greeting, X greets with an
// error, '-' is not tried this round.
var letters = map[byte]Attempt{
	'O': {Outcome: OutcomeOK},
	'L': {Outcome: OutcomeOK, Lossy: true},
	'T': {Outcome: OutcomeConnectTimeout},
	'R': {Outcome: OutcomeConnectRefused},
	'U': {Outcome: OutcomeConnectUnreachable},
	'I': {Outcome: OutcomeIntercepted},
	'G': {Outcome: OutcomeBannerTimeout},
	'X': {Outcome: OutcomeBannerRejected},
}

var key25 = Key{Port: 25, Family: "ip4"}

// play records the rounds on t and returns the verdict after each.
func play(t *testing.T, tr *Tracker, rounds []string) []Verdict {
	t.Helper()
	var out []Verdict
	for _, round := range rounds {
		for i := range len(round) {
			name := fmt.Sprintf("canary%d", i)
			tr.Cover(name, key25)
			if round[i] == '-' {
				continue
			}
			a, ok := letters[round[i]]
			if !ok {
				t.Fatalf("round %q: unknown letter %q", round, round[i])
			}
			tr.Record(name, key25, a)
		}
		v, _ := tr.Verdict(key25)
		out = append(out, v)
	}
	return out
}

func repeat(round string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = round
	}
	return out
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestStates(t *testing.T) {
	cases := []struct {
		name    string
		quorum  int
		oneShot bool
		rounds  []string
		// want is the state after each round, one letter each: o open,
		// b blocked, t throttled, i intercepted, u unknown.
		want string
		// detail is the final verdict's Detail.
		detail string
	}{
		{"all answer", 2, false, repeat("OOO", 3), "ooo", "3/3 IPv4 canaries answer"},
		{"not tried yet", 2, false, []string{"---"}, "u", "no IPv4 canary has been tried yet"},
		// A block starts after round 2: named at its second failed round,
		// within three intervals of its start.
		{"block from open", 2, false, join(repeat("OOO", 2), repeat("TTT", 3)), "ooobb", "3/3 IPv4 canaries time out"},
		{"one dead canary of three stays open", 2, false, repeat("OOT", 30), strings.Repeat("o", 30), "2/3 IPv4 canaries answer"},
		{"one refused canary of three stays open", 2, false, repeat("ROO", 5), "ooooo", "2/3 IPv4 canaries answer"},
		{"two dead of three reach quorum 2", 2, false, repeat("OTT", 3), "obb", "2/3 IPv4 canaries time out"},
		{"two dead of three are below quorum 3", 3, false, repeat("OTT", 3), "ooo", "1/3 IPv4 canaries answer"},
		{"quorum larger than the canaries needs all of them", 5, false, repeat("TT", 2), "ub", "2/2 IPv4 canaries time out"},
		{"one canary, quorum 1", 1, false, join([]string{"O"}, repeat("T", 2)), "oob", "1/1 IPv4 canary time out"},
		{"refused", 2, false, join([]string{"OOO"}, repeat("RRR", 2)), "oob", "3/3 IPv4 canaries are refused"},
		{"refused and timed out", 2, false, join([]string{"OOO"}, repeat("RTU", 2)), "oob", "3/3 IPv4 canaries are refused or time out or are unreachable"},
		{"a block from the start", 2, false, repeat("TTT", 2), "ub", "3/3 IPv4 canaries time out"},
		{"a block that ends", 2, false, join(repeat("TTT", 4), repeat("OOO", 2)), "ubbboo", "3/3 IPv4 canaries answer"},
		{"the first failed round holds the state", 2, false, []string{"OOO", "TTO", "OOO"}, "ooo", "3/3 IPv4 canaries answer"},
		{"intercepted at once", 2, false, []string{"OOO", "III"}, "oi", "3/3 IPv4 canaries answer with a greeting or certificate not theirs"},
		{"one canary intercepted of three", 2, false, repeat("OOI", 3), "ooo", "2/3 IPv4 canaries answer"},
		{"intercepted and blocked: the middlebox speaks", 2, false, repeat("IIT", 3), "iii", "2/3 IPv4 canaries answer with a greeting or certificate not theirs"},
		{"canaries unwell on their own", 2, false, repeat("GXG", 2), "uu", "3/3 IPv4 canaries send no greeting or refuse this client"},
		// Losses that come and go: each canary loses every other attempt.
		{"throttled", 2, false, repeat("TOT|OTO", 6), "ootttt", "3/3 IPv4 canaries lose connections (18 of their last 36 attempts lost or retried)"},
		// Connections that get through only after a retransmission are
		// loss too: a throttle with a long timeout fails few attempts.
		{"throttled without a failed attempt", 2, false, repeat("LOL|OLO", 6), "ootttt", "3/3 IPv4 canaries lose connections (18 of their last 36 attempts lost or retried)"},
		// Every connect retried once: one long run of loss, a throttle.
		{"every connect retried", 2, false, repeat("LLL", 4), "oott", "3/3 IPv4 canaries lose connections (12 of their last 12 attempts lost or retried)"},
		{"one lossy canary of three is below quorum", 2, false, repeat("LOO|OOO", 8), strings.Repeat("o", 8), "2/3 IPv4 canaries answer"},
		{"one lossy canary and one dead reach quorum", 2, false, repeat("LOT|OOT", 8), "ootttttt", "2/3 IPv4 canaries lose connections (24 of their last 32 attempts lost or retried)"},
		// One shot (the probe command): one failed connect is a block; a
		// throttle cannot be seen.
		{"one shot blocked", 2, true, []string{"TTT"}, "b", "3/3 IPv4 canaries time out"},
		{"one shot with one dead canary", 2, true, []string{"OOT"}, "o", "2/3 IPv4 canaries answer"},
		{"one shot retransmitted", 2, true, []string{"LLL"}, "o", "3/3 IPv4 canaries answer"},
		{"one shot intercepted", 2, true, []string{"IIO"}, "i", "2/3 IPv4 canaries answer with a greeting or certificate not theirs"},
	}
	stateLetter := map[State]byte{StateOpen: 'o', StateBlocked: 'b', StateThrottled: 't', StateIntercepted: 'i', StateUnknown: 'u'}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(tc.quorum)
			if tc.oneShot {
				tr = NewOneShotTracker(tc.quorum)
			}
			verdicts := play(t, tr, expand(tc.rounds))
			var got []byte
			for i, v := range verdicts {
				// A round written "A|B" is two rounds; report the second.
				if i%stride(tc.rounds) == stride(tc.rounds)-1 {
					got = append(got, stateLetter[v.State])
				}
			}
			if string(got) != tc.want {
				t.Errorf("states %s, want %s", got, tc.want)
			}
			if last := verdicts[len(verdicts)-1]; last.Detail() != tc.detail {
				t.Errorf("detail %q, want %q", last.Detail(), tc.detail)
			}
		})
	}
}

// expand turns "A|B" rounds into two rounds each.
func expand(rounds []string) []string {
	var out []string
	for _, r := range rounds {
		out = append(out, strings.Split(r, "|")...)
	}
	return out
}

func stride(rounds []string) int { return strings.Count(rounds[0], "|") + 1 }

// TestThrottleAfterwards: a real block that follows a throttle is named
// too, later (throttledBlockStreak failed attempts in a row), and a
// throttle whose loss ends is open again once fewer than quorum canaries
// hold a loss in their window.
func TestThrottleAfterwards(t *testing.T) {
	throttle := expand(repeat("TOT|OTO", 6))
	t.Run("block", func(t *testing.T) {
		v := play(t, NewTracker(2), join(throttle, repeat("TTT", continuous.throttledBlockStreak)))
		for i, x := range v[len(throttle) : len(v)-1] {
			if x.State != StateThrottled {
				t.Fatalf("round %d of the block: %s, want throttled until the long streak", i+1, x.State)
			}
		}
		if last := v[len(v)-1]; last.State != StateBlocked {
			t.Errorf("after %d failed rounds: %s, want blocked", continuous.throttledBlockStreak, last.State)
		}
	})
	t.Run("recovery", func(t *testing.T) {
		// The throttle's last round is OTO: canaries 0 and 2 lost their
		// last attempt one round earlier than canary 1, so their windows
		// are clean after Window-1 clean rounds, and two of three is
		// below the quorum of loss.
		v := play(t, NewTracker(2), join(throttle, repeat("OOO", Window-1)))
		for i, x := range v[len(throttle) : len(v)-1] {
			if x.State != StateThrottled {
				t.Fatalf("clean round %d: %s, want throttled while two canaries hold a loss", i+1, x.State)
			}
		}
		if last := v[len(v)-1]; last.State != StateOpen {
			t.Errorf("after %d clean rounds: %s, want open", Window-1, last.State)
		}
	})
}

// synDrop is a path that drops each SYN with probability half: an attempt
// sends tries SYNs before its timeout (Linux retransmits a SYN after 1s,
// then 2s, 4s: a timeout of 0.5s allows one, 2s two, 5s three). The first
// that gets through connects; a connect after a lost SYN is lossy.
func synDrop(r *rand.Rand, tries int) Attempt {
	for i := range tries {
		if r.IntN(2) == 0 {
			return Attempt{Outcome: OutcomeOK, Lossy: i > 0}
		}
	}
	return Attempt{Outcome: OutcomeConnectTimeout}
}

// TestThrottleNoFlapping is the property of issue 25: with about half the
// SYNs dropped, the state is throttled within 20 intervals and stays so,
// never flapping to open or blocked. Seeded: every run is the same.
func TestThrottleNoFlapping(t *testing.T) {
	const (
		canaries = 3
		clean    = 5   // rounds before the throttle starts
		within   = 20  // rounds to name it
		rounds   = 200 // rounds it must then hold
	)
	for _, tries := range []int{1, 2, 3} {
		for seed := uint64(1); seed <= 100; seed++ {
			r := rand.New(rand.NewPCG(seed, uint64(tries)))
			tr := NewTracker(2)
			record := func(a func(int) Attempt) State {
				for c := range canaries {
					tr.Record(fmt.Sprintf("canary%d", c), key25, a(c))
				}
				v, _ := tr.Verdict(key25)
				return v.State
			}
			for range clean {
				record(func(int) Attempt { return Attempt{Outcome: OutcomeOK} })
			}
			named := 0
			for i := 1; i <= within+rounds; i++ {
				s := record(func(int) Attempt { return synDrop(r, tries) })
				switch {
				case named == 0 && s == StateThrottled:
					named = i
				case named > 0 && s != StateThrottled:
					t.Fatalf("seed %d, %d SYNs per attempt: throttled at round %d, then %s at round %d", seed, tries, named, s, i)
				}
			}
			if named == 0 || named > within {
				t.Errorf("seed %d, %d SYNs per attempt: throttled first at round %d, want within %d", seed, tries, named, within)
			}
		}
	}
}

// TestBlockWithinThreeIntervals: whatever loss came before (up to one
// episode short of a throttle), a block from an open state is named by
// the second failed round.
func TestBlockWithinThreeIntervals(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		tr := NewTracker(2)
		// Isolated losses: each canary loses at most two attempts of the
		// window (one fewer than a throttle), as a healthy path does now
		// and then.
		for round := range Window {
			for c := range 3 {
				a := Attempt{Outcome: OutcomeOK}
				if (round == 4+c || round == 11+2*c) && r.IntN(2) == 0 {
					a = Attempt{Outcome: OutcomeConnectTimeout}
				}
				tr.Record(fmt.Sprintf("canary%d", c), key25, a)
			}
		}
		if v, _ := tr.Verdict(key25); v.State != StateOpen {
			t.Fatalf("seed %d: %s before the block, want open", seed, v.State)
		}
		var v Verdict
		for range continuous.blockStreak {
			for c := range 3 {
				v = tr.Record(fmt.Sprintf("canary%d", c), key25, Attempt{Outcome: OutcomeConnectTimeout})
			}
		}
		if v.State != StateBlocked {
			t.Errorf("seed %d: %s after %d failed rounds, want blocked", seed, v.State, continuous.blockStreak)
		}
	}
}

func TestTrackerKeys(t *testing.T) {
	tr := NewTracker(2)
	k6 := Key{Port: 25, Family: "ip6"}
	k587 := Key{Port: 587, Family: "ip4"}
	tr.Cover("a", key25)
	tr.Cover("a", k6)
	tr.Cover("b", key25)
	tr.Cover("c", k587)
	tr.Record("a", key25, Attempt{Outcome: OutcomeConnectTimeout})
	tr.Record("a", key25, Attempt{Outcome: OutcomeConnectTimeout})
	tr.Record("b", key25, Attempt{Outcome: OutcomeConnectTimeout})
	tr.Record("b", key25, Attempt{Outcome: OutcomeConnectTimeout})
	tr.Record("a", k6, Attempt{Outcome: OutcomeOK})

	if v, ok := tr.Verdict(key25); !ok || v.State != StateBlocked {
		t.Errorf("25/ip4: %+v %v, want blocked: IPv4 and IPv6 are judged apart", v, ok)
	}
	if v, ok := tr.Verdict(k6); !ok || v.State != StateOpen {
		t.Errorf("25/ip6: %+v %v, want open", v, ok)
	}
	if v, ok := tr.Verdict(k587); !ok || v.State != StateUnknown {
		t.Errorf("587/ip4: %+v %v, want unknown: covered, not tried", v, ok)
	}
	if _, ok := tr.Verdict(Key{Port: 465, Family: "ip4"}); ok {
		t.Error("465/ip4 has a state, but no canary covers it")
	}

	s := tr.Snapshot()
	var got []string
	for _, c := range s.Canaries {
		got = append(got, fmt.Sprintf("%s %s tried=%v up=%v attempts=%d timeouts=%d", c.Canary, c.Key, c.Tried, c.Up, c.Attempts, c.Failures[OutcomeConnectTimeout]))
	}
	want := []string{
		"a 25/ip4 tried=true up=false attempts=2 timeouts=2",
		"a 25/ip6 tried=true up=true attempts=1 timeouts=0",
		"b 25/ip4 tried=true up=false attempts=2 timeouts=2",
		"c 587/ip4 tried=false up=false attempts=0 timeouts=0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("snapshot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(s.Verdicts) != 3 || s.Verdicts[0].Key != key25 || s.Verdicts[1].Key != k6 || s.Verdicts[2].Key != k587 {
		t.Errorf("verdicts not in port, family order: %+v", s.Verdicts)
	}

	// A reload that drops canary b leaves a alone below the quorum; one
	// that drops c leaves 587 without a state.
	tr.Forget("b")
	tr.Forget("c")
	if _, ok := tr.Verdict(k587); ok {
		t.Error("587/ip4 keeps a state after its only canary is gone")
	}
	if v := tr.Record("a", key25, Attempt{Outcome: OutcomeConnectTimeout}); v.State != StateBlocked || v.Canaries != 1 {
		t.Errorf("25/ip4 with canary a alone: %+v, want blocked by 1/1", v)
	}
}

// FuzzTransitions replays any sequence of attempts of three canaries and
// holds every verdict to the rules it must obey whatever happens.
func FuzzTransitions(f *testing.F) {
	f.Add([]byte("OOOTTTTTTOOO"), uint8(2))
	f.Add([]byte("TOTOTOTOTOTOTOTOTOTOTOTOTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"), uint8(2))
	f.Add([]byte("LOLOLOLOLOLOLOLOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOO"), uint8(1))
	f.Add([]byte("IIIGGGXXXRRRUUU"), uint8(3))
	keys := []byte("OLTRUIGX")
	f.Fuzz(func(t *testing.T, data []byte, quorum uint8) {
		if len(data) > 3000 {
			return
		}
		q := int(quorum%4) + 1
		tr := NewTracker(q)
		hist := make([][]Attempt, 3)
		prev := StateUnknown
		for i, b := range data {
			c := i % 3
			a := letters[keys[int(b)%len(keys)]]
			hist[c] = append(hist[c], a)
			if len(hist[c]) > Window {
				hist[c] = hist[c][1:]
			}
			v := tr.Record(fmt.Sprintf("canary%d", c), key25, a)
			if v.Counted > v.Canaries || v.Canaries != min(i+1, 3) {
				t.Fatalf("attempt %d: %+v counts more canaries than there are", i, v)
			}
			need := min(q, v.Canaries)
			streaks := func(n int) int {
				count := 0
				for _, h := range hist {
					s := 0
					for j := len(h) - 1; j >= 0 && h[j].Outcome.blocks(); j-- {
						s++
					}
					if s >= n {
						count++
					}
				}
				return count
			}
			switch {
			case prev == StateThrottled && v.State == StateBlocked && streaks(continuous.throttledBlockStreak) < need:
				t.Fatalf("attempt %d: throttled to blocked without %d canaries failing %d times in a row", i, need, continuous.throttledBlockStreak)
			case prev == StateThrottled && v.State == StateOpen:
				// A canary whose last answer was a middlebox's is judged by
				// that, not by its losses.
				holding := 0
				for _, h := range hist {
					if episodes(h) > 0 && h[len(h)-1].Outcome != OutcomeIntercepted {
						holding++
					}
				}
				if holding >= need {
					t.Fatalf("attempt %d: throttled to open while %d canaries' windows still hold a loss (quorum %d)", i, holding, need)
				}
			case v.State == StateBlocked && streaks(continuous.blockStreak) < need:
				t.Fatalf("attempt %d: blocked without %d canaries failing %d times in a row", i, need, continuous.blockStreak)
			}
			prev = v.State
		}
	})
}
