package report

import (
	"fmt"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// EgressLine says in one sentence what this host's egress canaries say of
// the probe's path, and what that means for its result: "egress to port 25
// from this host: blocked (3/3 IPv4 canaries time out): this result says
// nothing about the target".
func EgressLine(e *prober.EgressInfo) string {
	s := fmt.Sprintf("egress to port %d from this host: %s (%s)", e.Port, e.State, clean(e.Detail))
	switch e.State {
	case prober.EgressBlocked:
		s += ": this result says nothing about the target"
	case prober.EgressThrottled:
		s += ": connections from this host are lost now and then, so a failed connection may be the path's, not the target's"
	case prober.EgressIntercepted:
		s += ": a middlebox on this host's path answers for the canaries, so the greeting, STARTTLS and certificate seen may be the middlebox's"
	case prober.EgressUnknown:
		s += ": the canaries cannot tell whether this host may connect out"
	}
	return s
}

// egress writes the egress line of a result, coloured by what it means.
func (x *writer) egress(e *prober.EgressInfo) {
	if e == nil {
		return
	}
	colour := green
	switch e.State {
	case prober.EgressBlocked, prober.EgressThrottled, prober.EgressIntercepted:
		colour = red
	case prober.EgressUnknown:
		colour = yellow
	}
	x.line("Egress:  %s", x.paint(colour, EgressLine(e)))
}

// injection shows the STARTTLS injection check (starttls_injection_check).
func (x *writer) injection(r *prober.Result) {
	ic := r.Injection
	if ic == nil {
		return
	}
	x.heading("STARTTLS injection check (extra connection)")
	var s string
	switch ic.Result {
	case prober.InjectionVulnerable:
		s = x.paint(red, "VULNERABLE")
	case prober.InjectionNotVulnerable:
		s = x.paint(green, "not vulnerable")
	default:
		s = x.paint(yellow, "inconclusive")
	}
	x.line("  %s: %s", s, clean(ic.Detail))
}
