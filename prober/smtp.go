package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
)

// Bounds on the transcript kept in a result: lines, and bytes of text in
// all (each line is capped at maxTranscriptLineBytes too).
const (
	maxTranscriptLines = 400
	maxTranscriptBytes = 32 << 10
	// quitGrace bounds the wait for the reply to QUIT: the verdict is known
	// by then and must not wait for a server that never answers.
	quitGrace = 2 * time.Second
)

// Options are the parts of a probe that tests replace.
type Options struct {
	// Resolver resolves host names (nil: net.DefaultResolver).
	Resolver *net.Resolver
	// Now is the clock that times the probe and that certificates are
	// checked against (nil: time.Now). Deadlines always use the real clock.
	Now func() time.Time
	// Policy, when set, may refuse the target before any connection.
	Policy TargetPolicy
	// ReverseResolver looks up PTR names for reverse_dns (nil: the
	// module's dns server when it sets one, else Resolver).
	ReverseResolver ReverseResolver
}

// Probe runs one SMTP conversation with target under module and returns
// what happened. It never sends MAIL, RCPT or DATA. The target's port is
// the one to dial: config.ChooseModule decides it. The conversation ends
// at ctx's deadline (or the module's timeout when ctx has none); every read
// is bounded in time and size, so it always returns.
func Probe(ctx context.Context, target Target, moduleName string, module *config.Module, logger *slog.Logger, opts Options) *Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, module.Timeout)
		defer cancel()
	}
	p := &probe{
		ctx:    ctx,
		module: module,
		logger: logger,
		opts:   opts,
		start:  opts.Now(),
		res: &Result{
			Target:         target.String(),
			Module:         moduleName,
			Host:           target.Host,
			Port:           target.Port,
			AuthConfigured: module.Auth != nil,
			Transcript:     []TranscriptLine{},
		},
	}
	p.res.Start = p.start
	if module.Auth != nil {
		p.secrets = secretForms(module.Auth.Username, module.Auth.Password().Reveal())
	}
	for _, ph := range Phases {
		p.res.Phases = append(p.res.Phases, PhaseResult{Phase: ph})
	}
	p.run(target)
	p.finish()
	return p.res
}

type probe struct {
	ctx    context.Context
	module *config.Module
	logger *slog.Logger
	opts   Options
	start  time.Time
	res    *Result

	conn net.Conn // the current connection, plain or TLS
	tcp  net.Conn // the TCP connection under it
	r    *bufio.Reader

	secrets []string // the password's forms, for redact

	reverse    func() *ReverseDNSInfo // waits for the reverse DNS lookups, when started
	tlsVersion uint16                 // the negotiated TLS version (0: no TLS)
	// credsSent is set once the credentials went out: from then on only
	// reply codes of what the server says are kept (see codeOnly).
	credsSent bool
	// transcriptBytes is the text the transcript holds.
	transcriptBytes int

	broken bool      // a read or write failed: the connection is unusable
	hard   *problem  // the failure that ended the conversation
	soft   []problem // policy failures found along the way
}

type problem struct {
	reason Reason
	err    error
}

// fail records the failure that ends the conversation.
func (p *probe) fail(reason Reason, err error) {
	if p.hard == nil {
		err = p.dropServerText(err)
		p.hard = &problem{reason, err}
		p.note("failed: %s: %v", reason, err)
	}
}

// ioFail records a failed read or write, after which the connection is
// not used again.
func (p *probe) ioFail(err error, timeoutReason Reason, doing string) {
	p.broken = true
	p.fail(classifyIOError(err, timeoutReason), fmt.Errorf("%s: %w", doing, err))
}

// flag records a policy failure; the conversation goes on to learn more.
func (p *probe) flag(reason Reason, err error) {
	err = p.dropServerText(err)
	p.soft = append(p.soft, problem{reason, err})
	p.note("problem: %s: %v", reason, err)
}

// dropServerText keeps an error that quotes the server out of the result
// once credentials have been sent.
func (p *probe) dropServerText(err error) error {
	var pe *ProtocolError
	if p.credsSent && errors.As(err, &pe) {
		return errors.New(pe.Bare + " (the server's text is dropped after credentials were sent)")
	}
	return err
}

func (p *probe) finish() {
	r := p.res
	r.Duration = p.opts.Now().Sub(p.start)
	if r.Refused != nil {
		p.logger.Debug("Probe refused", "err", r.Refused)
		return
	}
	var all []problem
	if p.hard != nil {
		all = append(all, *p.hard)
	}
	all = append(all, p.soft...)
	if len(all) == 0 {
		r.Success = true
	} else {
		r.Failure, r.Error = all[0].reason, p.clean(all[0].err.Error(), MaxErrorBytes)
		for _, w := range all[1:] {
			r.Warnings = append(r.Warnings, p.clean(string(w.reason)+": "+w.err.Error(), MaxErrorBytes))
		}
	}
	if r.Success {
		p.logger.Debug("Probe succeeded", "duration_seconds", r.Duration.Seconds())
	} else {
		p.logger.Debug("Probe failed", "reason", r.Failure, "err", r.Error, "duration_seconds", r.Duration.Seconds())
	}
}

func (p *probe) run(target Target) {
	if target.Port < 1 || target.Port > 65535 {
		// A caller's mistake (config.ChooseModule gives every probe a
		// port), reported rather than dialed.
		p.fail(ReasonResolve, fmt.Errorf("target %q has no port to dial", p.res.Target))
		return
	}
	p.converse(target)
	if p.reverse != nil {
		p.finishReverseDNS(p.reverse())
	}
	p.posture(target)
}

// converse holds the main SMTP conversation.
func (p *probe) converse(target Target) {
	if !p.connect(target) {
		return
	}
	defer p.conn.Close()
	// Cancelling the context (the scrape went away) must end blocked reads
	// at once. This may run on another goroutine while p.conn becomes the
	// TLS connection, so it uses p.tcp, which does not change, and a
	// deadline on the TCP connection ends TLS reads too.
	stop := context.AfterFunc(p.ctx, func() { p.tcp.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	implicit := p.module.TLS == config.TLSImplicit
	if implicit && !p.handshake(target.Host) {
		return
	}
	if !p.banner() {
		return
	}
	ehlo, ok := p.ehlo(PhaseEHLO)
	if !ok {
		return
	}
	p.res.EHLO = ehlo
	if !p.res.Encrypted {
		p.res.StartTLSAdvertised = ehlo.Has("STARTTLS")
		p.res.AuthBeforeTLS = ehlo.Has("AUTH")
		if p.res.AuthBeforeTLS && p.module.FailIfAuthBeforeTLS {
			p.flag(ReasonAuthBeforeTLS, errors.New("AUTH is advertised before TLS, so clients may send passwords in clear text"))
		}
	}

	switch p.module.TLS {
	case config.TLSStartTLS, config.TLSOpportunistic:
		if !p.res.StartTLSAdvertised {
			if p.module.TLS == config.TLSStartTLS {
				p.fail(ReasonStartTLSNotAdvertised, errors.New("server does not advertise STARTTLS and the module requires it"))
				p.quit()
				return
			}
			break
		}
		if !p.startTLS(target.Host) {
			return
		}
		ehlo, ok := p.ehlo(PhaseEHLOTLS)
		if !ok {
			return
		}
		p.res.EHLOTLS = ehlo
	}

	final := p.res.LastEHLO()
	hasAuth := final.Has("AUTH")
	if !hasAuth && (p.module.FailIfNoAuth || p.module.Auth != nil) {
		p.flag(ReasonAuthNotAdvertised, errors.New("the server does not advertise AUTH on this session"))
	}
	if p.module.Auth != nil && hasAuth && p.hard == nil {
		p.authenticate(final)
	}
	p.quit()
}

// connect resolves the host and opens the TCP connection.
func (p *probe) connect(target Target) bool {
	if !p.allowName(target.Host) {
		return false
	}
	done := p.begin(PhaseResolve)
	addr, err := resolve(p.ctx, p.opts.Resolver, target.Host, p.module.IPProtocol, p.module.IPFallback())
	done()
	if err != nil {
		p.fail(ReasonResolve, err)
		return false
	}
	p.res.IP = addr.String()
	p.res.IPProtocol = 4
	if !addr.Is4() {
		p.res.IPProtocol = 6
	}
	if !p.allowAddr(target.Host, addr) {
		return false
	}
	if p.module.ReverseDNS {
		p.reverse = p.startReverseDNS(addr)
	}

	done = p.begin(PhaseConnect)
	dest := netip.AddrPortFrom(addr, uint16(target.Port)).String()
	p.note("connecting to %s", dest)
	var d net.Dialer
	conn, err := d.DialContext(p.ctx, "tcp", dest)
	done()
	if err != nil {
		p.fail(classifyDialError(err), fmt.Errorf("connecting to %s: %w", dest, unwrapOpError(err)))
		return false
	}
	if deadline, ok := p.ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	p.conn = conn
	p.tcp = conn
	p.r = bufio.NewReaderSize(conn, MaxReplyLineBytes)
	p.note("connected to %s", dest)
	return true
}

// banner reads the greeting, which may be multi-line ("220-").
func (p *probe) banner() bool {
	done := p.begin(PhaseBanner)
	reply, err := p.readReply(PhaseBanner)
	done()
	if err != nil {
		p.ioFail(err, ReasonBannerTimeout, "reading the greeting")
		return false
	}
	switch {
	case reply.Code == 220:
		p.res.BannerHostname = p.bannerHostname(reply)
		return true
	case reply.Code >= 400:
		p.fail(ReasonBannerRejected, fmt.Errorf("server greeted with %d %s", reply.Code, reply.Text()))
		p.quit()
	default:
		p.fail(ReasonProtocolError, fmt.Errorf("unexpected greeting code %d", reply.Code))
	}
	return false
}

// ehlo sends EHLO and parses the extensions.
func (p *probe) ehlo(phase Phase) (*EHLOInfo, bool) {
	done := p.begin(phase)
	reply, err := p.command(phase, "EHLO "+p.module.EHLOHostname, "")
	done()
	if err != nil {
		p.ioFail(err, ReasonTimeout, "EHLO")
		return nil, false
	}
	if reply.Code != 250 {
		p.fail(ReasonEHLORejected, fmt.Errorf("EHLO answered with %d %s", reply.Code, reply.Text()))
		p.quit()
		return nil, false
	}
	return parseEHLO(reply, p.clean), true
}

// startTLS upgrades the clear-text session.
func (p *probe) startTLS(host string) bool {
	done := p.begin(PhaseStartTLS)
	reply, err := p.command(PhaseStartTLS, "STARTTLS", "")
	done()
	if err != nil {
		p.ioFail(err, ReasonTimeout, "STARTTLS")
		return false
	}
	if reply.Code != 220 {
		p.fail(ReasonStartTLSRejected, fmt.Errorf("STARTTLS answered with %d %s", reply.Code, reply.Text()))
		p.quit()
		return false
	}
	if n := p.r.Buffered(); n > 0 {
		// Plain text after the 220 would be read as if it came over TLS
		// (the STARTTLS command injection of CVE-2011-0411); refuse it.
		p.fail(ReasonTLSHandshakeFailed, fmt.Errorf("server sent %d bytes of clear text after its STARTTLS reply", n))
		return false
	}
	return p.handshake(host)
}

// handshake runs the TLS handshake, then verifies the certificate chain
// itself so that a bad certificate is still captured with its dates.
func (p *probe) handshake(host string) bool {
	cfg, serverName := p.clientTLS(host)
	done := p.begin(PhaseTLSHandshake)
	tlsConn := tls.Client(p.conn, cfg)
	err := tlsConn.HandshakeContext(p.ctx)
	done()
	if err != nil {
		reason := ReasonTLSHandshakeFailed
		if r := classifyIOError(err, ReasonTLSHandshakeFailed); r == ReasonConnectionReset {
			reason = r
		} else if isTimeout(err) && p.module.TLS != config.TLSImplicit {
			reason = ReasonTimeout
		}
		p.broken = true
		p.fail(reason, fmt.Errorf("TLS handshake: %w", unwrapOpError(err)))
		return false
	}
	p.conn = tlsConn
	p.r.Reset(tlsConn)
	p.res.Encrypted = true

	state := tlsConn.ConnectionState()
	p.tlsVersion = state.Version
	info := describeTLS(state, p.clean)
	info.ServerName = serverName
	p.res.TLS = info
	p.note("TLS handshake done: %s, %s", info.Version, info.Cipher)

	chain, reason, err := verifyChain(state.PeerCertificates, p.module.Roots(), serverName, p.opts.Now())
	if len(state.OCSPResponse) > 0 && len(state.PeerCertificates) > 0 {
		leaf := state.PeerCertificates[0]
		info.OCSP = checkOCSP(state.OCSPResponse, leaf, findIssuer(leaf, chain, state.PeerCertificates))
		info.OCSP.Error = p.clean(info.OCSP.Error, MaxErrorBytes)
		if info.OCSP.Valid {
			p.note("stapled OCSP response: %s, next update %s", info.OCSP.Status, ocspTimeString(info.OCSP.NextUpdate))
		} else {
			p.note("stapled OCSP response not valid: %s", info.OCSP.Error)
		}
	}
	if err != nil {
		info.VerifyError = p.clean(err.Error(), MaxErrorBytes)
		if p.module.TLSConfig.InsecureSkipVerify {
			p.note("certificate does not verify (ignored, insecure_skip_verify): %v", err)
		} else {
			p.flag(reason, fmt.Errorf("certificate: %w", err))
		}
		return true
	}
	info.Verified = true
	info.VerifiedChain = describeChain(chain, state.PeerCertificates, info.Certificates, p.clean)
	info.LastChainExpiry = earliestExpiry(chain)
	p.note("certificate verified for %s", serverName)
	return true
}

// clientTLS returns the module's TLS client config for host and the name
// the certificate is checked against.
func (p *probe) clientTLS(host string) (*tls.Config, string) {
	serverName := p.module.TLSConfig.ServerName
	if serverName == "" {
		serverName = host
	}
	cfg := p.module.ClientTLS(serverName)
	if _, err := netip.ParseAddr(serverName); err == nil {
		cfg.ServerName = "" // IP addresses are not sent as SNI
	}
	return cfg, serverName
}

// authenticate tries the configured credentials with PLAIN or LOGIN.
func (p *probe) authenticate(ehlo *EHLOInfo) {
	if !p.res.Encrypted {
		p.flag(ReasonStartTLSNotAdvertised, errors.New("not sending credentials: the session is not encrypted"))
		return
	}
	// The credentials belong to the server named by tls_config.server_name
	// (config requires it), whatever target the caller chose: they go only
	// where the certificate verified for that name, over a recent TLS.
	pinned := p.module.TLSConfig.ServerName
	switch info := p.res.TLS; {
	case pinned == "":
		p.flag(ReasonAuthFailed, errors.New("not sending credentials: the module pins no tls_config.server_name"))
		return
	case info == nil || !info.Verified || info.ServerName != pinned:
		// The certificate failure is flagged already.
		p.note("not sending credentials: the certificate did not verify for %s", pinned)
		return
	case p.tlsVersion < p.module.MinAuthTLSVersion():
		p.flag(ReasonAuthFailed, fmt.Errorf("not sending credentials over %s: TLS 1.2 or later is required unless tls_config.min_version allows older",
			tlsVersionName(p.tlsVersion)))
		return
	}
	auth := p.module.Auth
	user, pass := auth.Username, auth.Password().Reveal()
	done := p.begin(PhaseAuth)
	defer done()
	// From here on the server may quote what it received, in any encoding
	// or split across lines: only reply codes are kept.
	p.credsSent = true
	var (
		reply Reply
		err   error
	)
	switch {
	case slices.Contains(ehlo.AuthMechanisms, "PLAIN"):
		p.res.AuthMechanism = "PLAIN"
		payload := plainPayload(user, pass)
		reply, err = p.command(PhaseAuth, "AUTH PLAIN "+payload, "AUTH PLAIN <redacted>")
		if err == nil && reply.Code == 334 {
			reply, err = p.command(PhaseAuth, payload, "<redacted>")
		}
	case slices.Contains(ehlo.AuthMechanisms, "LOGIN"):
		p.res.AuthMechanism = "LOGIN"
		reply, err = p.command(PhaseAuth, "AUTH LOGIN", "")
		if err == nil && reply.Code == 334 {
			reply, err = p.command(PhaseAuth, base64.StdEncoding.EncodeToString([]byte(user)), "<redacted>")
		}
		if err == nil && reply.Code == 334 {
			reply, err = p.command(PhaseAuth, base64.StdEncoding.EncodeToString([]byte(pass)), "<redacted>")
		}
	default:
		p.fail(ReasonAuthFailed, fmt.Errorf("no supported AUTH mechanism (the prober speaks PLAIN and LOGIN; the server offers %s)",
			strings.Join(ehlo.AuthMechanisms, " ")))
		return
	}
	if err != nil {
		p.ioFail(err, ReasonTimeout, "AUTH")
		return
	}
	if reply.Code != 235 {
		p.fail(ReasonAuthFailed, fmt.Errorf("AUTH %s answered with %s", p.res.AuthMechanism, replyStatus(reply)))
		return
	}
	p.res.AuthSuccess = true
}

// quit ends the session politely. Its outcome never changes the verdict.
func (p *probe) quit() {
	if p.conn == nil || p.broken {
		return
	}
	done := p.begin(PhaseQuit)
	defer done()
	if deadline, ok := p.ctx.Deadline(); !ok || time.Until(deadline) > quitGrace {
		p.conn.SetDeadline(time.Now().Add(quitGrace))
	}
	if _, err := p.command(PhaseQuit, "QUIT", ""); err != nil {
		p.note("no reply to QUIT: %v", err)
	}
}

// command sends one line and reads the reply, recording its code for the
// phase. shown replaces the line in the transcript when it holds a secret.
func (p *probe) command(phase Phase, line, shown string) (Reply, error) {
	if shown == "" {
		shown = line
	}
	p.transcript("C", shown)
	if _, err := p.conn.Write([]byte(line + "\r\n")); err != nil {
		return Reply{}, err
	}
	_ = quickAck(p.tcp) // failing, it costs latency only
	return p.readReply(phase)
}

func (p *probe) readReply(phase Phase) (Reply, error) {
	reply, err := ReadReply(p.r, func(l string) {
		if p.credsSent {
			l = codeOnly(l)
		}
		p.transcript("S", l)
	})
	if err == nil {
		if ph := p.res.Phase(phase); ph != nil {
			ph.ReplyCode = reply.Code
		}
	}
	return reply, err
}

// begin marks a phase as reached and returns the function that ends its timing.
func (p *probe) begin(phase Phase) func() {
	ph := p.res.Phase(phase)
	ph.Reached = true
	t := p.opts.Now()
	return func() { ph.Duration += p.opts.Now().Sub(t) }
}

func (p *probe) note(format string, args ...any) {
	p.transcript("*", fmt.Sprintf(format, args...))
}

func (p *probe) transcript(from, text string) { p.transcriptFor("", from, text) }

// transcriptFor adds a line of the connection of check ("": the main one).
func (p *probe) transcriptFor(check, from, text string) {
	text = p.clean(text, maxTranscriptLineBytes)
	if p.logger.Enabled(p.ctx, slog.LevelDebug) { // spares the arguments' allocations
		if check != "" {
			p.logger.Debug("SMTP", "check", check, "from", from, "line", text)
		} else {
			p.logger.Debug("SMTP", "from", from, "line", text)
		}
	}
	switch n := len(p.res.Transcript); {
	case n > maxTranscriptLines || p.transcriptBytes > maxTranscriptBytes:
		return // cut, and said so
	case n == maxTranscriptLines || p.transcriptBytes+len(text) > maxTranscriptBytes:
		from, text = "*", fmt.Sprintf("transcript cut at %d lines or %d bytes", maxTranscriptLines, maxTranscriptBytes)
		p.transcriptBytes = maxTranscriptBytes + 1
		p.res.Transcript = append(p.res.Transcript, TranscriptLine{At: p.opts.Now().Sub(p.start), From: from, Text: text})
		return
	}
	p.transcriptBytes += len(text)
	p.res.Transcript = append(p.res.Transcript, TranscriptLine{At: p.opts.Now().Sub(p.start), From: from, Text: text, Check: check})
}

// unwrapOpError drops the "dial tcp 1.2.3.4:25:" prefix that the error
// message would otherwise repeat.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
