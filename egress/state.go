package egress

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Window is how many recent attempts of each canary the state rests on.
const Window = 20

// rules are the thresholds of the state machine.
type rules struct {
	// blockStreak failed connects in a row make a canary count as blocked,
	// when its history was clean before them: with one attempt per
	// interval, a block is named at the second failed attempt, within
	// three intervals of its start.
	blockStreak int
	// throttledBlockStreak is the streak needed instead once the path is
	// throttled, or the canary lost connections before the streak: a
	// throttle that drops half the SYNs fails two attempts in a row one
	// time in four, and must not read as a block each time it does.
	throttledBlockStreak int
	// lossEpisodes separate runs of lost attempts in the window make a
	// canary lossy: one run is a block that ended (or an outage of the
	// canary), several are a throttle. So do as many attempts that got
	// through only after a retransmission.
	lossEpisodes int
}

// continuous are the rules of the runner, one attempt per interval.
var continuous = rules{blockStreak: 2, throttledBlockStreak: 15, lossEpisodes: 3}

// oneShot are the rules of a single round (the probe command): one failed
// connect is all there is to go on, and a throttle cannot be told from
// one attempt.
var oneShot = rules{blockStreak: 1, throttledBlockStreak: 1, lossEpisodes: math.MaxInt}

// assessment is what the recent attempts of one canary say.
type assessment int

const (
	notTried    assessment = iota
	answers                // its last attempt got the greeting it should
	suspect                // one failed connect after a clean history: not yet a block
	blocked                // failed connects in a row (see rules)
	lossy                  // runs of failed or retried connects come and go
	intercepted            // its last greeting or certificate was not its own
	unwell                 // reachable but failing on its own (no greeting, 4xx/5xx, DNS)
)

func (r rules) assess(h []Attempt, prev State) assessment {
	if len(h) == 0 {
		return notTried
	}
	last := h[len(h)-1]
	if last.Outcome == OutcomeIntercepted {
		return intercepted
	}
	streak := 0
	for i := len(h) - 1; i >= 0 && h[i].Outcome.blocks(); i-- {
		streak++
	}
	// The failed connects going on now may be the start of a block: they
	// count as an episode of loss only once an attempt gets through.
	before := episodes(h[:len(h)-streak])
	need := r.blockStreak
	if prev == StateThrottled || before >= r.lossEpisodes {
		need = r.throttledBlockStreak
	}
	if streak >= need {
		return blocked
	}
	// Connects that got through only after a retransmission are loss a
	// block never shows: each counts, even in one long run. Hysteresis:
	// once throttled, a canary stays lossy until its window holds no loss,
	// so that the state does not flap back to open between two bursts.
	if before >= r.lossEpisodes || retried(h) >= r.lossEpisodes || prev == StateThrottled && (before > 0 || streak > 0) {
		return lossy
	}
	switch {
	case last.Outcome == OutcomeOK:
		return answers
	case last.Outcome.blocks():
		return suspect
	}
	return unwell
}

// retried counts the attempts of h that got through after a retransmission.
func retried(h []Attempt) int {
	n := 0
	for _, a := range h {
		if a.Outcome == OutcomeOK && a.Lossy {
			n++
		}
	}
	return n
}

// episodes counts the runs of lost attempts in h.
func episodes(h []Attempt) int {
	n := 0
	for i, a := range h {
		if a.loss() && (i == 0 || !h[i-1].loss()) {
			n++
		}
	}
	return n
}

// decide is the state of key from the histories of the canaries covering
// it, given the state before; quorum is how many canaries must agree before
// the state leaves open (at most all of them).
func (r rules) decide(key Key, prev State, histories [][]Attempt, quorum int) Verdict {
	q := max(1, min(quorum, len(histories)))
	var byKind [unwell + 1][]Outcome
	lost, attempts := 0, 0
	for _, h := range histories {
		a := r.assess(h, prev)
		if len(h) > 0 {
			byKind[a] = append(byKind[a], h[len(h)-1].Outcome)
		}
		if a == lossy || a == blocked {
			for _, at := range h {
				attempts++
				if at.loss() {
					lost++
				}
			}
		}
	}
	v := Verdict{Key: key, Canaries: len(histories)}
	set := func(s State, kinds ...assessment) Verdict {
		v.State = s
		var outcomes []Outcome
		for _, k := range kinds {
			outcomes = append(outcomes, byKind[k]...)
		}
		v.Counted, v.Cause = len(outcomes), causeWords(outcomes)
		return v
	}
	nLossy, nBlocked := len(byKind[lossy]), len(byKind[blocked])
	switch {
	case len(byKind[intercepted]) >= q:
		return set(StateIntercepted, intercepted)
	case nBlocked >= q:
		return set(StateBlocked, blocked)
	case nLossy > 0 && nLossy+nBlocked >= q:
		v = set(StateThrottled, lossy, blocked)
		v.Cause = fmt.Sprintf("lose connections (%d of their last %d attempts lost or retried)", lost, attempts)
		return v
	case len(byKind[answers]) > 0:
		return set(StateOpen, answers)
	case len(byKind[suspect]) > 0 && prev == StateOpen:
		// The first failed connect of what may become a block: open holds
		// until the next attempt decides.
		v = set(StateOpen, suspect)
		v.Cause += " once (not yet a block)"
		return v
	}
	return set(StateUnknown, suspect, blocked, unwell, lossy, intercepted)
}

// Tracker keeps the recent attempts of every canary on every (port, family)
// it covers, and the state of each. It is not safe for concurrent use: the
// runner guards it.
type Tracker struct {
	rules  rules
	quorum int
	keys   map[Key]*keyState
}

type keyState struct {
	canaries map[string]*canaryState
	// histories are the canaries' histories in name order, for decide.
	names     []string
	histories [][]Attempt
	verdict   Verdict
}

type canaryState struct {
	history  []Attempt // oldest first, at most Window
	attempts uint64
	failures map[Outcome]uint64
}

// NewTracker returns a tracker for the runner: the state of a key leaves
// open when quorum canaries covering it agree (all of them, if fewer
// cover it).
func NewTracker(quorum int) *Tracker {
	return &Tracker{rules: continuous, quorum: quorum, keys: map[Key]*keyState{}}
}

// NewOneShotTracker returns a tracker for a single round of attempts: one
// failed connect per canary is a block, and no throttle can be seen.
func NewOneShotTracker(quorum int) *Tracker {
	t := NewTracker(quorum)
	t.rules = oneShot
	return t
}

// SetQuorum changes the quorum (a reload); states are decided again at
// the next attempt.
func (t *Tracker) SetQuorum(q int) { t.quorum = q }

// Cover says that canary covers key: the key has a state (unknown until
// an attempt is recorded) from now on.
func (t *Tracker) Cover(canary string, key Key) {
	ks := t.keys[key]
	if ks == nil {
		ks = &keyState{canaries: map[string]*canaryState{}, verdict: Verdict{Key: key, State: StateUnknown}}
		t.keys[key] = ks
	}
	if ks.canaries[canary] == nil {
		ks.canaries[canary] = &canaryState{failures: map[Outcome]uint64{}}
		ks.verdict.Canaries = len(ks.canaries)
		ks.names = append(ks.names, canary)
		slices.Sort(ks.names)
		ks.histories = make([][]Attempt, len(ks.names))
	}
}

// Record adds an attempt of canary on key and returns the key's verdict.
func (t *Tracker) Record(canary string, key Key, a Attempt) Verdict {
	t.Cover(canary, key)
	ks := t.keys[key]
	cs := ks.canaries[canary]
	cs.attempts++
	if a.Outcome != OutcomeOK {
		cs.failures[a.Outcome]++
	}
	if len(cs.history) == Window {
		copy(cs.history, cs.history[1:])
		cs.history = cs.history[:Window-1]
	}
	cs.history = append(cs.history, a)
	for i, name := range ks.names {
		ks.histories[i] = ks.canaries[name].history
	}
	ks.verdict = t.rules.decide(key, ks.verdict.State, ks.histories, t.quorum)
	return ks.verdict
}

// Forget drops a canary (removed by a reload) from every key; a key no
// canary covers any more has no state.
func (t *Tracker) Forget(canary string) {
	for key, ks := range t.keys {
		if _, ok := ks.canaries[canary]; !ok {
			continue
		}
		delete(ks.canaries, canary)
		ks.names = slices.DeleteFunc(ks.names, func(n string) bool { return n == canary })
		ks.histories = ks.histories[:len(ks.names)]
		if len(ks.canaries) == 0 {
			delete(t.keys, key)
			continue
		}
		ks.verdict.Canaries = len(ks.canaries)
	}
}

// Verdict returns the state of key; false when no canary covers it.
func (t *Tracker) Verdict(key Key) (Verdict, bool) {
	ks, ok := t.keys[key]
	if !ok {
		return Verdict{}, false
	}
	return ks.verdict, true
}

// CanaryStatus is what the metrics say of one canary on one key.
type CanaryStatus struct {
	Canary string
	Key
	// Tried says an attempt was made; Up that the last one answered as
	// it should.
	Tried, Up bool
	Last      Attempt
	Attempts  uint64
	Failures  map[Outcome]uint64
}

// Snapshot is every verdict and every canary's status, in a fixed order.
type Snapshot struct {
	Verdicts []Verdict
	Canaries []CanaryStatus
}

// Snapshot copies out the tracker's state.
func (t *Tracker) Snapshot() Snapshot {
	var s Snapshot
	for key, ks := range t.keys {
		s.Verdicts = append(s.Verdicts, ks.verdict)
		for name, cs := range ks.canaries {
			st := CanaryStatus{Canary: name, Key: key, Attempts: cs.attempts, Failures: maps.Clone(cs.failures)}
			if n := len(cs.history); n > 0 {
				st.Tried, st.Last = true, cs.history[n-1]
				st.Up = st.Last.Outcome == OutcomeOK
			}
			s.Canaries = append(s.Canaries, st)
		}
	}
	slices.SortFunc(s.Verdicts, func(a, b Verdict) int { return compareKeys(a.Key, b.Key) })
	slices.SortFunc(s.Canaries, func(a, b CanaryStatus) int {
		return cmp.Or(cmp.Compare(a.Canary, b.Canary), compareKeys(a.Key, b.Key))
	})
	return s
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Family, b.Family))
}
