// Package egress answers on-call's first question about a blocked port:
// is it us or them? Canaries, SMTP listeners the operator knows to be good,
// are tried from this host at a fixed interval; their outcomes become a
// state for each port and address family they cover: open, blocked,
// throttled, intercepted or unknown. The state machine (state.go) is pure;
// the runner (runner.go) does the I/O around it. Nothing here knows
// Prometheus: the collector turns a Snapshot into metrics.
package egress

import (
	"fmt"
	"strings"
)

// State is what the canaries say about egress to one port over one family.
// The values are a public interface: smtp_exporter_egress_state's state
// label, and alerts match on them.
type State string

// States of a (port, family).
const (
	// StateOpen: canaries answer; a failed probe is the target's.
	StateOpen State = "open"
	// StateBlocked: a quorum of canaries cannot be reached (SYNs dropped,
	// connections refused or unreachable): probes to this port from this
	// host say nothing about their targets.
	StateBlocked State = "blocked"
	// StateThrottled: a quorum of canaries lose connections now and then
	// (a provider's rate limit, a lossy path): failures come and go.
	StateThrottled State = "throttled"
	// StateIntercepted: a quorum of canaries answer with a greeting or a
	// certificate that is not theirs: a middlebox speaks for them.
	StateIntercepted State = "intercepted"
	// StateUnknown: the canaries cannot tell (none has answered yet, or
	// they fail for reasons of their own).
	StateUnknown State = "unknown"
)

// States lists every state in a fixed order (stable series).
var States = []State{StateOpen, StateBlocked, StateThrottled, StateIntercepted, StateUnknown}

// Families are the address families a canary may cover, as the family
// label says them.
var Families = []string{"ip4", "ip6"}

// Outcome is how one attempt at one canary ended. The values label
// smtp_exporter_egress_canary_failures_total; the connect and greeting ones
// are the prober's failure reasons of the same name.
type Outcome string

// Outcomes of an attempt.
const (
	OutcomeOK Outcome = "ok"
	// The path's: nothing came back, or something on the way said no.
	OutcomeConnectTimeout     Outcome = "connect_timeout"
	OutcomeConnectRefused     Outcome = "connect_refused"
	OutcomeConnectUnreachable Outcome = "connect_unreachable"
	// A middlebox's: the greeting or certificate is not the canary's.
	OutcomeIntercepted Outcome = "intercepted"
	// The canary's own: it is reachable but unwell, or its name does not
	// resolve. Neither open nor blocked.
	OutcomeBannerTimeout    Outcome = "banner_timeout"
	OutcomeBannerRejected   Outcome = "banner_rejected"
	OutcomeConnectionClosed Outcome = "connection_closed"
	OutcomeResolve          Outcome = "resolve"
)

// FailureOutcomes lists every outcome but ok in a fixed order (stable series).
var FailureOutcomes = []Outcome{
	OutcomeConnectTimeout, OutcomeConnectRefused, OutcomeConnectUnreachable, OutcomeIntercepted,
	OutcomeBannerTimeout, OutcomeBannerRejected, OutcomeConnectionClosed, OutcomeResolve,
}

// blocks reports whether the outcome is evidence that the path drops or
// refuses the connection.
func (o Outcome) blocks() bool {
	switch o {
	case OutcomeConnectTimeout, OutcomeConnectRefused, OutcomeConnectUnreachable:
		return true
	}
	return false
}

// Attempt is one attempt at one canary over one family.
type Attempt struct {
	Outcome Outcome
	// Lossy says the connection got through only after retransmissions
	// (a SYN or an ACK was lost on the way): a throttle's mark on the
	// attempts that succeed.
	Lossy bool
	// Detail says in words what happened, for the log and the transcript.
	Detail string
}

// loss reports whether the attempt is evidence of loss on the path.
func (a Attempt) loss() bool { return a.Outcome.blocks() || a.Lossy && a.Outcome == OutcomeOK }

// Key is a port and an address family ("ip4" or "ip6").
type Key struct {
	Port   int
	Family string
}

func (k Key) String() string { return fmt.Sprintf("%d/%s", k.Port, k.Family) }

// Verdict is the state of one (port, family) with what it rests on.
type Verdict struct {
	Key
	State State
	// Canaries cover the key; Counted are those whose assessment made the
	// state (the failing ones for blocked, throttled and intercepted, the
	// answering ones for open).
	Canaries, Counted int
	// Cause says what the counted canaries do, in words: "time out",
	// "answer", "lose connections".
	Cause string
}

// Detail is the verdict's grounds in a few words, such as "3/3 IPv4
// canaries time out".
func (v Verdict) Detail() string {
	if v.State == StateUnknown && v.Counted == 0 && v.Cause == "" {
		return "no " + familyWord(v.Family) + " canary has been tried yet"
	}
	noun := "canaries"
	if v.Canaries == 1 {
		noun = "canary"
	}
	return fmt.Sprintf("%d/%d %s %s %s", v.Counted, v.Canaries, familyWord(v.Family), noun, v.Cause)
}

func familyWord(family string) string {
	if family == "ip6" {
		return "IPv6"
	}
	return "IPv4"
}

// causeWords says what canaries with these outcomes do, for a verdict:
// "time out", "are refused or time out".
func causeWords(outcomes []Outcome) string {
	seen := map[string]bool{}
	var words []string
	for _, o := range outcomes {
		w := outcomeWords(o)
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return strings.Join(words, " or ")
}

func outcomeWords(o Outcome) string {
	switch o {
	case OutcomeOK:
		return "answer"
	case OutcomeConnectTimeout:
		return "time out"
	case OutcomeConnectRefused:
		return "are refused"
	case OutcomeConnectUnreachable:
		return "are unreachable"
	case OutcomeIntercepted:
		return "answer with a greeting or certificate not theirs"
	case OutcomeBannerTimeout:
		return "send no greeting"
	case OutcomeBannerRejected:
		return "refuse this client"
	case OutcomeConnectionClosed:
		return "close the connection"
	case OutcomeResolve:
		return "do not resolve"
	}
	return string(o)
}
