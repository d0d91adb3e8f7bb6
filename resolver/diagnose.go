package resolver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Bounds on the Extended DNS Errors kept from one answer: a server may send
// many, with long texts; a few short ones say all a person needs.
const (
	maxExtendedErrors    = 4
	maxExtendedErrorText = 160
)

// ExtendedError is one Extended DNS Error (RFC 8914) of an answer.
type ExtendedError struct {
	Code uint16 `json:"code"`
	// Text is the server's extra text, sanitized and capped.
	Text string `json:"text,omitempty"`
}

// String is "7 (Signature Expired): text".
func (e ExtendedError) String() string {
	s := "EDE " + strconv.Itoa(int(e.Code))
	if name, ok := dns.ExtendedErrorCodeToString[e.Code]; ok {
		s += " " + name
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Bogus says the code reports a DNSSEC validation failure: codes 6 to 12
// (DNSSEC Bogus, Signature Expired, Signature Not Yet Valid, DNSKEY
// Missing, RRSIGs Missing, No Zone Key Bit Set, NSEC Missing). Codes 1 and
// 2 (an unsupported algorithm or DS digest) make a zone insecure, not
// bogus.
func (e ExtendedError) Bogus() bool {
	return e.Code >= dns.ExtendedErrorCodeDNSBogus && e.Code <= dns.ExtendedErrorCodeNSECMissing
}

// extendedErrors reads the Extended DNS Errors of a message, within the bounds.
func extendedErrors(msg *dns.Msg) []ExtendedError {
	if msg == nil {
		return nil
	}
	opt := msg.IsEdns0()
	if opt == nil {
		return nil
	}
	var out []ExtendedError
	for _, o := range opt.Option {
		e, ok := o.(*dns.EDNS0_EDE)
		if !ok {
			continue
		}
		if len(out) == maxExtendedErrors {
			break
		}
		out = append(out, ExtendedError{Code: e.InfoCode, Text: printable(e.ExtraText, maxExtendedErrorText)})
	}
	return out
}

// printable keeps a server's text fit for a log line or a label: printable
// ASCII, at most n bytes.
func printable(s string, n int) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= n {
			break
		}
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ExtendedErrorsOf returns the Extended DNS Errors of a resolver error.
func ExtendedErrorsOf(err error) []ExtendedError {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.EDE
	}
	return nil
}

// Cause is what a failed question means for the name asked, once the
// resolver's own health is known. The values name failure reasons, and are
// a public interface like them.
type Cause string

// Causes of a failed question.
const (
	// CauseNXDomain: the name does not exist. Senders bounce at once.
	CauseNXDomain Cause = "nxdomain"
	// CauseBogus: the data exists, but fails DNSSEC validation. Validating
	// resolvers (those of most large senders) answer SERVFAIL, and their
	// mail queues, then bounces.
	CauseBogus Cause = "dnssec_bogus"
	// CauseResolver: the resolver asked fails a name known to be good
	// too: the fault is the monitor's, not the name's.
	CauseResolver Cause = "resolver_failed"
	// CauseNameServers: the resolver is healthy, yet the name gets no
	// answer (SERVFAIL with no DNSSEC cause, a timeout, a refusal): the
	// name's authoritative servers fail everybody.
	CauseNameServers Cause = "name_servers"
	// CauseUnknown: the resolver's health could not be checked (no time
	// was left), and nothing else told the causes apart.
	CauseUnknown Cause = "unknown"
)

// Evidence is what was learned about one failed question. It is plain
// data, so that Classify's rules are tested without a network.
type Evidence struct {
	// Kind is how the question failed.
	Kind Kind `json:"kind"`
	// EDE are the Extended DNS Error codes of the failing answer.
	EDE []uint16 `json:"ede,omitempty"`
	// CDAsked says the question was asked again with the CD bit;
	// CDAnswered that the server then answered it (NOERROR or NXDOMAIN):
	// the data exists, and only validation failed.
	CDAsked    bool `json:"cd_asked,omitempty"`
	CDAnswered bool `json:"cd_answered,omitempty"`
	// KnownGoodAsked says the known-good name was asked of the same
	// server; KnownGoodFailed that it got no answer either.
	KnownGoodAsked  bool `json:"known_good_asked,omitempty"`
	KnownGoodFailed bool `json:"known_good_failed,omitempty"`
}

// Classify tells the causes of a failed question apart. A known-good name
// failing on the same server puts the fault on the server, whatever else
// was seen (a resolver whose clock is wrong finds every signature expired;
// one that has lost its network says SERVFAIL for everything); then
// NXDOMAIN is the name's; then a validation failure (an Extended DNS Error
// 6-12, or a SERVFAIL that the same question with CD=1 answers) is bogus;
// any other failure, with the server healthy, is the name servers'. It
// returns "" for an answered question and for NODATA, which is an answer.
func Classify(e Evidence) Cause {
	switch e.Kind {
	case "", KindNoData:
		return ""
	}
	if e.KnownGoodAsked && e.KnownGoodFailed {
		return CauseResolver
	}
	if e.Kind == KindNXDomain {
		return CauseNXDomain
	}
	bogus := slices.ContainsFunc(e.EDE, func(c uint16) bool { return ExtendedError{Code: c}.Bogus() })
	if bogus || e.Kind == KindServFail && e.CDAnswered {
		return CauseBogus
	}
	if !e.KnownGoodAsked {
		return CauseUnknown
	}
	return CauseNameServers
}

// DefaultKnownGoodName is the name asked to check the resolver itself: the
// root zone's SOA, which every working recursive resolver can answer and a
// validating one answers with the AD bit (the root is signed). A resolver
// that cannot reach the internet (a closed network, a test bed) needs a
// name of its own zones instead: dns.known_good_name.
const DefaultKnownGoodName = "."

// knownGoodTimeout bounds the known-good question: a healthy resolver
// answers it from its cache.
const knownGoodTimeout = 2 * time.Second

// minTimeLeft is the least time left worth asking a question in.
const minTimeLeft = 50 * time.Millisecond

// Health is what the known-good question found out about the resolver.
type Health struct {
	// Name is the known-good name asked (its SOA).
	Name string `json:"name"`
	// Asked says there was time to ask; Err why it got no answer.
	Asked bool  `json:"asked"`
	Err   error `json:"-"`
	// Secure is the answer's AD bit: the resolver validates DNSSEC (when
	// the known-good name is signed, as the root is).
	Secure bool `json:"secure"`
}

// OK says the resolver answered the known-good name.
func (h Health) OK() bool { return h.Asked && h.Err == nil }

// KnownGoodName is the name Health asks.
func (r *Resolver) KnownGoodName() string { return r.knownGood }

// SetKnownGoodName sets the name Health asks (empty:
// DefaultKnownGoodName). It is meant for set-up, before any question.
func (r *Resolver) SetKnownGoodName(name string) error {
	if name == "" {
		name = DefaultKnownGoodName
	}
	fq, err := checkName(name)
	if err != nil {
		return fmt.Errorf("known_good_name: %w", err)
	}
	r.knownGood = display(fq)
	return nil
}

// Health asks the server for the known-good name's SOA. An answer without
// one (the name is not a zone apex: NODATA) counts as an answer; NXDOMAIN
// does not, since the name is known to exist.
func (r *Resolver) Health(ctx context.Context) Health {
	h := Health{Name: r.knownGood}
	if !timeLeft(ctx) {
		return h
	}
	ctx, cancel := context.WithTimeout(ctx, knownGoodTimeout)
	defer cancel()
	h.Asked = true
	ans, err := r.Query(ctx, r.knownGood, dns.TypeSOA)
	if err != nil && KindOf(err) != KindNoData {
		h.Err = err
		return h
	}
	h.Secure = ans != nil && ans.Secure
	return h
}

// Diagnosis is why a question failed.
type Diagnosis struct {
	Cause    Cause    `json:"cause"`
	Evidence Evidence `json:"evidence"`
	// Health is the known-good check of the server, when it was asked.
	Health Health `json:"known_good"`
}

// String says in words what the diagnosis rests on.
func (d Diagnosis) String() string {
	var parts []string
	switch d.Cause {
	case CauseNXDomain:
		parts = append(parts, "the name does not exist (NXDOMAIN)")
	case CauseBogus:
		parts = append(parts, "the answer fails DNSSEC validation")
	case CauseResolver:
		parts = append(parts, fmt.Sprintf("the DNS server fails the known-good name %s too, so the fault is the monitor's resolver", d.Health.Name))
	case CauseNameServers:
		parts = append(parts, fmt.Sprintf("the DNS server answers the known-good name %s, so the name's own servers fail", d.Health.Name))
	case CauseUnknown:
		parts = append(parts, "no time was left to check the DNS server with a known-good name")
	}
	if d.Evidence.CDAsked {
		if d.Evidence.CDAnswered {
			parts = append(parts, "asked again with CD=1 (no validation) it is answered")
		} else {
			parts = append(parts, "asked again with CD=1 it fails too")
		}
	}
	return strings.Join(parts, "; ")
}

// Diagnose finds out why err, the failure of a question on this resolver
// (an *Error, which names the question), happened: it asks the question
// again with CD=1 when a SERVFAIL has no Extended DNS Error that explains
// it, and asks the known-good name, then classifies what it saw
// (Classify). An answered question, and NODATA, need no diagnosis: Cause
// is "".
func (r *Resolver) Diagnose(ctx context.Context, err error) Diagnosis {
	return r.Diagnoser().Diagnose(ctx, err)
}

// Diagnoser diagnoses the failed questions of one probe on one resolver,
// asking the known-good name at most once: a probe whose every question
// fails because the resolver is down waits for its health once, not once a
// question.
type Diagnoser struct {
	r      *Resolver
	once   sync.Once
	health Health
}

// Diagnoser returns a Diagnoser for this resolver.
func (r *Resolver) Diagnoser() *Diagnoser { return &Diagnoser{r: r} }

// Health is the resolver's Health, asked on first use.
func (g *Diagnoser) Health(ctx context.Context) Health {
	g.once.Do(func() { g.health = g.r.Health(ctx) })
	return g.health
}

// Diagnose is Resolver.Diagnose with the memoised health.
func (g *Diagnoser) Diagnose(ctx context.Context, err error) Diagnosis {
	r := g.r
	var d Diagnosis
	e, ok := errors.AsType[*Error](err)
	if !ok || e.Kind == KindNoData {
		return d
	}
	kind := e.Kind
	name, qtype := e.Name, dns.StringToType[e.Type]
	d.Evidence.Kind = kind
	for _, x := range ExtendedErrorsOf(err) {
		d.Evidence.EDE = append(d.Evidence.EDE, x.Code)
	}
	explained := slices.ContainsFunc(d.Evidence.EDE, func(c uint16) bool { return ExtendedError{Code: c}.Bogus() })
	if kind == KindServFail && !explained && qtype != 0 && timeLeft(ctx) {
		d.Evidence.CDAsked = true
		d.Evidence.CDAnswered = r.answersUnchecked(ctx, name, qtype)
	}
	d.Health = g.Health(ctx)
	d.Evidence.KnownGoodAsked, d.Evidence.KnownGoodFailed = d.Health.Asked, d.Health.Asked && d.Health.Err != nil
	d.Cause = Classify(d.Evidence)
	return d
}

// answersUnchecked says the server answers name and qtype with the CD bit
// set (NOERROR or NXDOMAIN): it has the data, and only validation failed.
func (r *Resolver) answersUnchecked(ctx context.Context, name string, qtype uint16) bool {
	qname, err := checkName(name)
	if err != nil {
		return false
	}
	msg, _, err := r.exchange(ctx, qname, qtype, true)
	if err != nil || checkQuestion(msg, qname, qtype) != nil {
		return false
	}
	return msg.Rcode == dns.RcodeSuccess || msg.Rcode == dns.RcodeNameError
}

func timeLeft(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > minTimeLeft
}
