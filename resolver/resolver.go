// Package resolver asks one DNS server the questions a mail-domain probe
// needs (MX, A and AAAA, TXT, PTR, and any other type through Query) and
// says what came back: the records, whether the server vouched for them
// with DNSSEC (the AD bit), and when there was no answer, why, as a
// classified error. Every query carries EDNS0 with the DO bit so that a
// validating resolver reports the DNSSEC state; a truncated UDP answer is
// asked again over TCP. Answers are bounded (records, name length, CNAME
// chain), so a hostile or huge answer ends as an error, never as unbounded
// work. The package knows nothing of SMTP or Prometheus.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Bounds on what one answer may hold. Real mail domains are far below them;
// anything beyond is a misconfiguration or an attack and ends as an error.
const (
	// MaxRecords is the most records of the asked type one answer may hold.
	MaxRecords = 64
	// MaxNameLength is the longest name (in presentation form, without the
	// trailing dot) accepted in a question or an answer's data.
	MaxNameLength = 253
	// MaxCNAMEChain is the most CNAME links followed from the asked name.
	MaxCNAMEChain = 8
	// udpSize is the EDNS0 buffer size announced; a larger answer comes
	// back truncated and is asked again over TCP, whose 64 KiB message
	// limit is the wire format's own.
	udpSize = 1232
	// DefaultTimeout bounds one exchange when the context has no earlier
	// deadline.
	DefaultTimeout = 5 * time.Second
	// firstTryTimeout is how long the first UDP datagram of a question is
	// waited for before it is sent once more: a datagram lost on a busy
	// path (a resolver's full receive buffer) would otherwise fail the
	// question after the whole DefaultTimeout, as stub resolvers retry.
	firstTryTimeout = 2 * time.Second
)

// ResolvConf is where the default server is read from.
const ResolvConf = "/etc/resolv.conf"

// Resolver asks one server. Its zero value is not usable; use New.
type Resolver struct {
	server  string
	timeout time.Duration
	// idle holds UDP sockets to the server that finished a question
	// cleanly, for the next ones: a socket per question cost a mail
	// domain's probe (some 20 questions) more CPU than its DNS answers. A
	// late answer to an earlier question on a reused socket is skipped by
	// its ID.
	idle chan *dns.Conn
	// knownGood is the name Health asks (see diagnose.go).
	knownGood string
}

// maxIdleUDP is how many idle UDP sockets a Resolver keeps.
const maxIdleUDP = 16

// New returns a resolver that asks server (host:port, or a host for port
// 53). An empty server means the first nameserver of /etc/resolv.conf, or
// 127.0.0.1:53 when it names none, as the C and Go resolvers do.
func New(server string) (*Resolver, error) {
	if server == "" {
		server = "127.0.0.1:53"
		if s, err := SystemServer(ResolvConf); err == nil {
			server = s
		}
	}
	norm, err := NormalizeServer(server)
	if err != nil {
		return nil, err
	}
	return &Resolver{server: norm, timeout: DefaultTimeout, knownGood: DefaultKnownGoodName, idle: make(chan *dns.Conn, maxIdleUDP)}, nil
}

// Server is the host:port the resolver asks.
func (r *Resolver) Server() string { return r.server }

// NormalizeServer checks a server address and adds port 53 when it has none.
func NormalizeServer(server string) (string, error) {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		// No port: a bare host or IPv6 literal.
		host, port = strings.Trim(server, "[]"), "53"
	}
	if host == "" {
		return "", fmt.Errorf("DNS server %q has no host", server)
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("DNS server %q is not an IP address (a name would need a resolver itself)", server)
	}
	return net.JoinHostPort(host, port), nil
}

// SystemServer returns the first nameserver of a resolv.conf file.
func SystemServer(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the DNS server from %s: %w", path, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			// A link-local IPv6 server carries its zone: fe80::1%eth0.
			return net.JoinHostPort(f[1], "53"), nil
		}
	}
	return "", fmt.Errorf("%s names no nameserver", path)
}

// Kind classifies why a query gave no usable answer.
type Kind string

// Kinds of failure. NXDOMAIN and NODATA are the server's answer, not a
// fault: a caller may act on them (an implicit MX, no AAAA).
const (
	KindNXDomain  Kind = "nxdomain"  // the name does not exist
	KindNoData    Kind = "nodata"    // the name exists, without records of the type
	KindServFail  Kind = "servfail"  // the server could not answer (also: DNSSEC bogus)
	KindRefused   Kind = "refused"   // the server refused, or another error rcode
	KindTimeout   Kind = "timeout"   // no answer in time
	KindTruncated Kind = "truncated" // truncated over UDP, and TCP failed too
	KindNetwork   Kind = "network"   // the server could not be reached
	KindBadAnswer Kind = "bad_answer"
	// KindBudget: not asked, the probe's question budget is spent (Budget).
	KindBudget Kind = "budget"
)

// Error is a query that gave no usable answer.
type Error struct {
	Kind   Kind
	Name   string // the name asked for
	Type   string // the record type, such as "MX"
	Server string
	// EDE are the Extended DNS Errors (RFC 8914) the server gave with its
	// answer: why a validating resolver answered SERVFAIL, for one.
	EDE []ExtendedError
	Err error // detail, may be nil
}

func (e *Error) Error() string {
	var s string
	switch e.Kind {
	case KindNXDomain:
		s = fmt.Sprintf("%s does not exist (NXDOMAIN)", e.Name)
	case KindNoData:
		s = fmt.Sprintf("%s has no %s records", e.Name, e.Type)
	case KindServFail:
		s = fmt.Sprintf("%s %s: the DNS server %s answered SERVFAIL", e.Name, e.Type, e.Server)
	case KindTimeout:
		s = fmt.Sprintf("%s %s: no answer from the DNS server %s in time", e.Name, e.Type, e.Server)
	case KindBudget:
		s = fmt.Sprintf("%s %s", e.Name, e.Type)
	default:
		s = fmt.Sprintf("%s %s: %s from the DNS server %s", e.Name, e.Type, e.Kind, e.Server)
	}
	for _, x := range e.EDE {
		s += " (" + x.String() + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a resolver error ("" when err is not one).
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return ""
}

// IsNotFound says the server answered that there are no such records
// (NXDOMAIN or NODATA), as opposed to failing to answer.
func IsNotFound(err error) bool {
	k := KindOf(err)
	return k == KindNXDomain || k == KindNoData
}

// Answer is what one question brought back.
type Answer struct {
	// Name is the name asked for, Canonical the end of its CNAME chain
	// (both lower case, without the trailing dot).
	Name      string
	Canonical string
	// CNAMEs are the names the chain went through, in order, after Name.
	CNAMEs []string
	// Records are the records of the asked type at Canonical.
	Records []dns.RR
	// Secure is the AD bit of every message of the answer: the server
	// validated it with DNSSEC. Meaningful only from a validating resolver
	// on a trusted path; an NXDOMAIN or NODATA can be secure too.
	Secure bool
	// Rcode is the response code of the last message.
	Rcode int
	// TCP says an answer came over TCP after a truncated UDP one.
	TCP bool
	// Duration is the time the question took, retries included.
	Duration time.Duration
}

// Query asks for records of qtype at name, following CNAMEs (within the
// answer, and by asking again when the server stopped at a CNAME). On
// NXDOMAIN and NODATA it returns the answer too (its Secure says whether
// the denial was validated) with an *Error of that kind.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	start := time.Now()
	ans, err := r.query(ctx, name, qtype)
	if ans != nil {
		ans.Duration = time.Since(start)
	}
	return ans, err
}

func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	typ := dns.TypeToString[qtype]
	qname, err := checkName(name)
	if err != nil {
		return nil, &Error{Kind: KindBadAnswer, Name: name, Type: typ, Server: r.server, Err: err}
	}
	ans := &Answer{Name: display(qname), Secure: true}
	seen := map[string]bool{qname: true}
	cur := qname
	for range MaxCNAMEChain + 1 {
		msg, tcp, err := r.exchange(ctx, cur, qtype, false)
		fail := func(kind Kind, detail error) (*Answer, error) {
			return ans, &Error{Kind: kind, Name: display(qname), Type: typ, Server: r.server, EDE: extendedErrors(msg), Err: detail}
		}
		if err != nil {
			return nil, &Error{Kind: classifyNetErr(err), Name: display(qname), Type: typ, Server: r.server, Err: err}
		}
		ans.TCP = ans.TCP || tcp
		ans.Secure = ans.Secure && msg.AuthenticatedData
		ans.Rcode = msg.Rcode
		if err := checkQuestion(msg, cur, qtype); err != nil {
			return fail(KindBadAnswer, err)
		}
		switch msg.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			ans.Canonical = display(cur)
			return fail(KindNXDomain, nil)
		case dns.RcodeServerFailure:
			return fail(KindServFail, nil)
		default:
			return fail(KindRefused, fmt.Errorf("rcode %s", dns.RcodeToString[msg.Rcode]))
		}
		// Follow the CNAME chain inside this message, then take the
		// records of the asked type at its end; records for other names
		// are ignored, as a stub resolver must.
		for {
			next := ""
			for _, rr := range msg.Answer {
				if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME && strings.EqualFold(rr.Header().Name, cur) {
					next = c.Target
					break
				}
			}
			if next == "" {
				break
			}
			n, err := checkName(next)
			if err != nil {
				return fail(KindBadAnswer, fmt.Errorf("CNAME of %s: %w", display(cur), err))
			}
			if seen[n] {
				return fail(KindBadAnswer, fmt.Errorf("CNAME loop at %s", display(n)))
			}
			if len(ans.CNAMEs) >= MaxCNAMEChain {
				return fail(KindBadAnswer, fmt.Errorf("CNAME chain longer than %d", MaxCNAMEChain))
			}
			seen[n] = true
			ans.CNAMEs = append(ans.CNAMEs, display(n))
			cur = n
		}
		ans.Canonical = display(cur)
		for _, rr := range msg.Answer {
			h := rr.Header()
			if h.Rrtype != qtype || h.Class != dns.ClassINET || !strings.EqualFold(h.Name, cur) {
				continue
			}
			if len(ans.Records) == MaxRecords {
				return fail(KindBadAnswer, fmt.Errorf("more than %d %s records", MaxRecords, typ))
			}
			if err := checkData(rr); err != nil {
				return fail(KindBadAnswer, err)
			}
			ans.Records = append(ans.Records, rr)
		}
		if len(ans.Records) > 0 {
			return ans, nil
		}
		if len(ans.CNAMEs) == 0 {
			return fail(KindNoData, nil)
		}
		// The server answered with a CNAME only (an authoritative server
		// for a target outside its zones does): ask for the target, unless
		// the message says the target has nothing (a resolver's NODATA
		// after a chain carries an SOA in the authority section).
		if hasSOA(msg) {
			return fail(KindNoData, nil)
		}
	}
	return ans, &Error{Kind: KindBadAnswer, Name: display(qname), Type: typ, Server: r.server, Err: fmt.Errorf("CNAME chain longer than %d", MaxCNAMEChain)}
}

// exchange sends one question, over UDP and again over TCP when the UDP
// answer is truncated; cd sets the checking-disabled bit, which asks a
// validating resolver for the data even when it fails validation.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16, cd bool) (*dns.Msg, bool, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.CheckingDisabled = cd
	// AD in a query asks for the AD bit in the answer (RFC 6840 §5.7); DO
	// asks for DNSSEC records, as a validating resolver needs.
	m.AuthenticatedData = true
	m.SetEdns0(udpSize, true)
	resp, err := r.exchangeOn(ctx, "udp", m, min(r.timeout, firstTryTimeout))
	if err != nil && r.timeout > firstTryTimeout && isTimeoutErr(err) && ctx.Err() == nil {
		// A lost datagram, or a slow answer: asked once more, on another
		// socket (the first one was closed), with the rest of the time.
		resp, err = r.exchangeOn(ctx, "udp", m, r.timeout-firstTryTimeout)
	}
	if err != nil {
		return nil, false, err
	}
	if !resp.Truncated {
		return resp, false, nil
	}
	resp, err = r.exchangeOn(ctx, "tcp", m, r.timeout)
	if err != nil {
		return nil, true, &truncatedError{err}
	}
	if resp.Truncated {
		return nil, true, &truncatedError{errors.New("the answer over TCP is truncated too")}
	}
	return resp, true, nil
}

type truncatedError struct{ err error }

func (e *truncatedError) Error() string { return "truncated over UDP, and over TCP: " + e.err.Error() }
func (e *truncatedError) Unwrap() error { return e.err }

func (r *Resolver) exchangeOn(ctx context.Context, network string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	if err := spend(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: network, UDPSize: udpSize}
	conn := r.idleConn(network)
	if conn == nil {
		var err error
		if conn, err = c.DialContext(ctx, r.server); err != nil {
			return nil, err
		}
	}
	// The library honours the context's deadline only; a cancelled
	// scrape must end the read at once too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	// Kept only when nothing can touch it any more: the exchange ended
	// with its answer, and the cancellation will not set its deadline.
	if stopped := stop(); err != nil || !stopped || network != "udp" || !r.keep(conn) {
		conn.Close()
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// idleConn returns an idle UDP socket to the server, nil when there is
// none (or for TCP, which is dialed for each question).
func (r *Resolver) idleConn(network string) *dns.Conn {
	if network != "udp" || r.idle == nil {
		return nil
	}
	select {
	case c := <-r.idle:
		return c
	default:
		return nil
	}
}

// keep puts a socket back among the idle ones, if there is room.
func (r *Resolver) keep(c *dns.Conn) bool {
	if r.idle == nil {
		return false
	}
	select {
	case r.idle <- c:
		return true
	default:
		return false
	}
}

// isTimeoutErr says an exchange ended for want of an answer in time.
func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func classifyNetErr(err error) Kind {
	if _, ok := errors.AsType[*errBudget](err); ok {
		return KindBudget
	}
	if _, ok := errors.AsType[*truncatedError](err); ok {
		return KindTruncated
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return KindNetwork
	}
	// Anything else is a message that did not parse.
	return KindBadAnswer
}

// checkQuestion makes sure the answer is to the question asked: a reply
// with the right ID but another question is not an answer.
func checkQuestion(msg *dns.Msg, name string, qtype uint16) error {
	if !msg.Response {
		return errors.New("the message is not a response")
	}
	if len(msg.Question) != 1 {
		return fmt.Errorf("the response has %d questions", len(msg.Question))
	}
	q := msg.Question[0]
	if q.Qtype != qtype || !strings.EqualFold(q.Name, name) {
		return fmt.Errorf("the response answers another question (%s %s)", q.Name, dns.TypeToString[q.Qtype])
	}
	return nil
}

func hasSOA(msg *dns.Msg) bool {
	for _, rr := range msg.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			return true
		}
	}
	return false
}

// checkData bounds the names inside a record's data.
func checkData(rr dns.RR) error {
	var n string
	switch v := rr.(type) {
	case *dns.MX:
		n = v.Mx
	case *dns.PTR:
		n = v.Ptr
	case *dns.CNAME:
		n = v.Target
	default:
		return nil
	}
	if _, err := checkName(n); err != nil {
		return fmt.Errorf("%s record: %w", dns.TypeToString[rr.Header().Rrtype], err)
	}
	return nil
}

// checkName returns the name in canonical form (lower case, fully
// qualified) or says why it is not acceptable.
func checkName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	fq := dns.Fqdn(strings.ToLower(name))
	if len(fq)-1 > MaxNameLength {
		return "", fmt.Errorf("name longer than %d characters", MaxNameLength)
	}
	if _, ok := dns.IsDomainName(fq); !ok {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return fq, nil
}

// display is a name as people and labels show it: lower case, without the
// trailing dot; the root stays ".".
func display(fq string) string {
	if fq == "." {
		return fq
	}
	return strings.TrimSuffix(strings.ToLower(fq), ".")
}
