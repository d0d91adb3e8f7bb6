package prober

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/netip"
	"time"
)

// Outcomes of the STARTTLS injection check, as the result label of
// probe_smtp_starttls_injection says them.
const (
	// InjectionVulnerable: the server answered, inside TLS, a command sent
	// in clear text in the same segment as STARTTLS (CVE-2011-0411 class):
	// whoever sits on the path can put commands into the encrypted session.
	InjectionVulnerable = "vulnerable"
	// InjectionNotVulnerable: the server dropped the clear-text command and
	// answered only the command sent inside TLS.
	InjectionNotVulnerable = "not_vulnerable"
	// InjectionInconclusive: the check could not tell (no STARTTLS, a
	// refused STARTTLS, a failed handshake, replies it cannot place).
	InjectionInconclusive = "inconclusive"
)

// InjectionResults lists every outcome in a fixed order (stable series).
var InjectionResults = []string{InjectionVulnerable, InjectionNotVulnerable, InjectionInconclusive}

// InjectionCheck is the STARTTLS injection check (module setting
// starttls_injection_check): its own connection after the conversation.
type InjectionCheck struct {
	// Result is vulnerable, not_vulnerable or inconclusive.
	Result string `json:"result"`
	// Detail says what the server answered, or why the check could not tell.
	Detail   string        `json:"detail"`
	Duration time.Duration `json:"duration_ns"`
}

// injectionCheck names the check's lines in the transcript.
const injectionCheck = "starttls injection"

// injection runs the STARTTLS injection check on a connection of its own,
// never the conversation's: greeting, EHLO, then STARTTLS and NOOP written
// in one segment, the handshake, and QUIT inside TLS. A vulnerable server
// kept the NOOP across the handshake and answers it before QUIT; a safe one
// dropped it and answers QUIT first. One round trip inside TLS, no waiting
// for replies that may never come; never DATA.
func (p *conversation) injection(target Target) {
	if !p.module.StartTLSInjectionCheck {
		return
	}
	ic := &InjectionCheck{Result: InjectionInconclusive}
	p.result.Injection = ic
	start := p.opts.Now()
	defer func() { ic.Duration = p.opts.Now().Sub(start) }()
	note := func(format string, args ...any) { p.transcriptFor(injectionCheck, "*", fmt.Sprintf(format, args...)) }
	conclude := func(result, format string, args ...any) {
		ic.Result, ic.Detail = result, p.clean(fmt.Sprintf(format, args...), MaxErrorBytes)
		note("%s: %s", result, ic.Detail)
	}

	addr := p.result.IP
	switch {
	case !addr.IsValid() || p.tcp == nil:
		conclude(InjectionInconclusive, "not run: the conversation did not connect")
		return
	case p.ctx.Err() != nil:
		conclude(InjectionInconclusive, "no time left for the check: %v", p.ctx.Err())
		return
	}
	dest := netip.AddrPortFrom(addr, uint16(target.Port)) //nolint:gosec // checked by run
	note("STARTTLS injection check: connecting to %s", dest)
	conn, release, err := p.dialCheck(dest)
	if err != nil {
		conclude(InjectionInconclusive, "connecting: %v", unwrapOpError(err))
		return
	}
	defer release()

	// session is the connection commands go over: TCP, then TLS.
	session := conn
	r := bufio.NewReaderSize(conn, MaxReplyLineBytes)
	read := func() (Reply, error) { return p.readReplyOf(injectionCheck, r) }
	send := func(line string) (Reply, error) {
		p.transcriptFor(injectionCheck, "C", line)
		if _, err := session.Write([]byte(line + "\r\n")); err != nil {
			return Reply{}, err
		}
		return read()
	}
	if reply, err := read(); err != nil || reply.Code != 220 {
		conclude(InjectionInconclusive, "no greeting: %s", replyOrError(reply, err))
		return
	}
	reply, err := send("EHLO " + p.ehloName())
	if err != nil || reply.Code != 250 {
		conclude(InjectionInconclusive, "EHLO: %s", replyOrError(reply, err))
		return
	}
	if !ParseEHLO(reply).Has("STARTTLS") {
		conclude(InjectionInconclusive, "the server does not offer STARTTLS on this connection")
		return
	}
	// One write, one segment: the server finds NOOP in its input buffer
	// when it starts TLS.
	p.transcriptFor(injectionCheck, "C", "STARTTLS")
	p.transcriptFor(injectionCheck, "C", "NOOP (in clear text, in the same segment)")
	if _, err := conn.Write([]byte("STARTTLS\r\nNOOP\r\n")); err != nil {
		conclude(InjectionInconclusive, "writing STARTTLS: %v", unwrapOpError(err))
		return
	}
	if reply, err = read(); err != nil || reply.Code != 220 {
		conclude(InjectionInconclusive, "STARTTLS with a command behind it: %s", replyOrError(reply, err))
		return
	}
	if n := r.Buffered(); n > 0 {
		conclude(InjectionInconclusive, "the server answered the command after STARTTLS in clear text (%d bytes) instead of starting TLS", n)
		return
	}
	cfg, _ := p.clientTLS(target)
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(p.ctx); err != nil {
		conclude(InjectionInconclusive, "TLS handshake: %v", unwrapOpError(err))
		return
	}
	session = tc
	r.Reset(tc)
	first, err := send("QUIT")
	switch {
	case err != nil:
		conclude(InjectionInconclusive, "no reply inside TLS: %v", unwrapOpError(err))
	case first.Code == 221:
		conclude(InjectionNotVulnerable, "the server answered QUIT first: it dropped the command sent in clear text before TLS")
	default:
		second, err := read()
		if err != nil || second.Code != 221 {
			conclude(InjectionInconclusive, "inside TLS the server answered %d to QUIT, then %s", first.Code, replyOrError(second, err))
			return
		}
		conclude(InjectionVulnerable, "inside TLS the server answered the NOOP sent in clear text before the handshake (%d), then QUIT (221): "+
			"it keeps commands across STARTTLS, so a man in the middle can inject them into the encrypted session (CVE-2011-0411)", first.Code)
	}
}

// replyOrError says what came back: a reply's code, or the read's error.
func replyOrError(r Reply, err error) string {
	if err != nil {
		return unwrapOpError(err).Error()
	}
	return fmt.Sprintf("answered %d", r.Code)
}
