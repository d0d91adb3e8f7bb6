package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"github.com/smtp-exporter/smtp_exporter/resolver"
	"github.com/smtp-exporter/smtp_exporter/slots"
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

// Options are the parts of a probe that its caller chooses: the clock and
// the allow-list, and for tests a resolver. What is known of the target
// itself travels in the Target.
type Options struct {
	// Resolver and DNS replace the resolver of host names and the DNS
	// client (TLSA, PTR, a mail domain's questions) that the module and the
	// system would give: see ChooseResolvers.
	Resolver *net.Resolver
	DNS      *resolver.Resolver
	// Now is the clock that times the probe and that certificates are
	// checked against (nil: time.Now). Deadlines always use the real clock.
	Now func() time.Time
	// AllowList, when set, may refuse the target before any connection.
	AllowList AllowList
	// Slots, when set, are the conversation slots of --probe.max-concurrent,
	// of which the caller holds one for this probe already: a domain probe
	// takes one more for each conversation it holds beside its first.
	Slots *slots.Pool
}

// Probe runs one SMTP conversation with target under module and returns
// what happened. It never sends DATA (MAIL and RCPT only for a module with
// an envelope, then RSET). The target's port is
// the one to dial: config.ChooseModule decides it. The conversation ends
// at ctx's deadline (or the module's timeout when ctx has none); every read
// is bounded in time and size, so it always returns.
func Probe(ctx context.Context, target Target, moduleName string, module *config.Module, logger *slog.Logger, opts Options) *Result {
	ctx, cancel, logger, opts := Defaults(ctx, module, logger, opts)
	defer cancel()
	p := &conversation{
		ctx:       ctx,
		module:    module,
		logger:    logger,
		opts:      opts,
		resolvers: ChooseResolvers(module, opts),
		start:     opts.Now(),
		result: &Result{
			Target:         target.String(),
			Module:         moduleName,
			Host:           target.Host,
			Port:           target.Port,
			AuthConfigured: module.Auth != nil,
			Transcript:     []TranscriptLine{},
		},
	}
	p.result.Start = p.start
	if module.Auth != nil {
		// Read once: a rotation during the probe must not make the
		// redaction miss the password that is sent.
		p.password = module.Auth.Password()
		p.secrets = secretForms(module.Auth.Username, p.password.Reveal())
		p.codesOnly = true
	}
	for _, ph := range Phases {
		p.result.Phases = append(p.result.Phases, PhaseResult{Phase: ph})
	}
	p.run(target)
	p.finish()
	return p.result
}

// Defaults fills in what a probe's caller may leave out, for prober.Probe
// and maildomain.Probe alike: a logger that discards, the real clock, and
// the module's timeout when ctx has no deadline. Call cancel when the probe
// ends.
func Defaults(ctx context.Context, module *config.Module, logger *slog.Logger, opts Options) (context.Context, context.CancelFunc, *slog.Logger, Options) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, module.Timeout)
	}
	return ctx, cancel, logger, opts
}

// conversation is the state of one probe while it runs.
type conversation struct {
	ctx       context.Context
	module    *config.Module
	logger    *slog.Logger
	opts      Options
	resolvers Resolvers
	start     time.Time
	result    *Result

	conn net.Conn // the current connection, plain or TLS
	tcp  net.Conn // the TCP connection under it
	r    *bufio.Reader

	password config.Secret // the module's password, read once per probe
	secrets  []string      // the password's forms, for redact

	reverse func() *ReverseDNSInfo // waits for the reverse DNS lookups, when started
	// codesOnly: the module has credentials, so of what the server says
	// only reply codes, enhanced status codes and EHLO keywords are kept
	// (see codeOnly), in every probe, not only once the credentials went
	// out: a server that received the password once may quote it, split
	// or encoded beyond what redaction finds, in the greeting of the next.
	codesOnly bool
	// transcriptBytes is the text the transcript holds.
	transcriptBytes int

	peerCerts []*x509.Certificate // the chain the server presented, for DANE
	daneDone  chan daneLookup     // the TLSA lookup's outcome (nil: no lookup)

	maskedGreeting bool // the greeting is masked with asterisks (middlebox.go)

	broken bool      // a read or write failed: the connection is unusable
	hard   *problem  // the failure that ended the conversation
	soft   []problem // failures by the module's settings, found along the way
	// warnings are problems that do not fail the probe.
	warnings []problem
}

type problem struct {
	reason Reason
	err    error
}

// fail records the failure that ends the conversation.
func (p *conversation) fail(reason Reason, err error) {
	if p.hard == nil {
		err = p.dropServerText(err)
		p.hard = &problem{reason, err}
		p.note("failed: %s: %v", reason, err)
	}
}

// ioFail records a failed read or write, after which the connection is
// not used again.
func (p *conversation) ioFail(err error, timeoutReason Reason, doing string) {
	p.broken = true
	p.fail(classifyIOError(err, timeoutReason), fmt.Errorf("%s: %w", doing, err))
}

// warn records a problem that the module's settings keep from failing the
// probe; the conversation goes on.
func (p *conversation) warn(reason Reason, err error) {
	err = p.dropServerText(err)
	p.warnings = append(p.warnings, problem{reason, err})
	p.note("warning: %s: %v", reason, err)
}

// flag records a failure by the module's settings; the conversation goes on
// to learn more.
func (p *conversation) flag(reason Reason, err error) {
	err = p.dropServerText(err)
	p.soft = append(p.soft, problem{reason, err})
	p.note("problem: %s: %v", reason, err)
}

// said is a reply as an error quotes it: "535 5.7.8 text", or for a
// module with credentials only its codes (see codeOnly).
func (p *conversation) said(r Reply) string {
	if p.codesOnly {
		return replyStatus(r)
	}
	return fmt.Sprintf("%d %s", r.Code, r.Text())
}

// dropServerText keeps an error that quotes the server out of the result
// of a module with credentials.
func (p *conversation) dropServerText(err error) error {
	var pe *ProtocolError
	if p.codesOnly && errors.As(err, &pe) {
		return errors.New(pe.Bare + textNotKept)
	}
	return err
}

func (p *conversation) finish() {
	r := p.result
	r.Duration = p.opts.Now().Sub(p.start)
	if r.Refused != nil {
		p.logger.Debug("Probe refused", "err", r.Refused)
		return
	}
	p.finishDANE()
	for _, w := range p.warnings {
		r.Warnings = append(r.Warnings, Warning{Reason: w.reason, Message: p.clean(w.err.Error(), MaxErrorBytes)})
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
			r.AlsoFailed = append(r.AlsoFailed, p.clean(string(w.reason)+": "+w.err.Error(), MaxErrorBytes))
		}
	}
	if r.Success {
		p.logger.Debug("Probe succeeded", "duration_seconds", r.Duration.Seconds())
	} else {
		p.logger.Debug("Probe failed", "reason", r.Failure, "err", r.Error, "duration_seconds", r.Duration.Seconds())
	}
}

func (p *conversation) run(target Target) {
	if target.Port < 1 || target.Port > 65535 {
		// A caller's mistake (config.ChooseModule gives every probe a
		// port), reported rather than dialed.
		p.fail(ReasonResolve, fmt.Errorf("target %q has no port to dial", p.result.Target))
		return
	}
	p.session(target)
	if p.reverse != nil {
		p.finishReverseDNS(p.reverse())
	}
	p.posture(target)
	p.injection(target)
}

// session holds the main conversation: one connection, or two when an
// opportunistic module falls back to clear text.
func (p *conversation) session(target Target) {
	dest, ok := p.resolve(target)
	if !ok || !p.dial(dest) {
		return
	}
	p.startDANE(target)
	if !p.converse(target, false) {
		return
	}
	// An opportunistic module whose TLS handshake failed: a sending MTA
	// (Postfix at smtp_tls_security_level = may, Exim, Sendmail) gives up
	// on TLS for this server and delivers over a new clear-text connection,
	// so the probe does the same and judges that session.
	p.note("reconnecting in clear text, as a sending MTA does after a failed TLS handshake")
	if p.dial(dest) {
		p.converse(target, true)
	}
}

// converse holds one SMTP session on the connection dial opened, and closes
// it. It returns true when the session must be retried in clear text on a
// new connection; plainOnly is that retry, which never tries STARTTLS.
func (p *conversation) converse(target Target, plainOnly bool) (retryPlain bool) {
	defer p.conn.Close()
	// Cancelling the context (the scrape went away) must end blocked reads
	// at once. This may run on another goroutine while p.conn becomes the
	// TLS connection, so it uses this session's TCP connection, which does
	// not change, and a deadline on it ends TLS reads too.
	tcp := p.tcp
	stop := context.AfterFunc(p.ctx, func() { tcp.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	implicit := p.module.TLS == config.TLSImplicit
	if implicit && p.handshake(target) != tlsDone {
		return false
	}
	if !p.banner() {
		return false
	}
	ehlo, ok := p.ehlo(PhaseEHLO)
	if !ok {
		return false
	}
	p.result.EHLO = ehlo
	if !p.result.Encrypted {
		p.result.StartTLSAdvertised = ehlo.Has("STARTTLS")
		p.result.AuthBeforeTLS = ehlo.Has("AUTH")
		if p.result.AuthBeforeTLS {
			err := errors.New("AUTH is advertised before TLS, so clients may send passwords in clear text")
			if p.module.FailIfAuthBeforeTLS {
				p.flag(ReasonAuthBeforeTLS, err)
			} else {
				p.warn(ReasonAuthBeforeTLS, err)
			}
		}
	}

	switch p.module.TLS {
	case config.TLSStartTLS, config.TLSOpportunistic:
		if plainOnly {
			break
		}
		if !p.result.StartTLSAdvertised {
			reason, err := p.noStartTLS(ehlo)
			if p.module.TLS == config.TLSStartTLS {
				p.fail(reason, err)
				p.quit()
				return false
			}
			// Mail still flows, in clear text to every sender, and not at
			// all from those that require TLS (DANE, MTA-STS, REQUIRETLS):
			// worth saying, as blackbox's STARTTLS check would by failing.
			if reason == ReasonStartTLSNotAdvertised {
				err = errors.New("server does not advertise STARTTLS: mail to it travels in clear text, and senders that require TLS do not deliver")
			}
			p.warn(reason, err)
			break
		}
		switch p.startTLS(target) {
		case tlsFailed:
			return false
		case tlsReconnect:
			return true
		case tlsPlain:
			// STARTTLS refused: the session goes on in clear text, as
			// RFC 3207 lets a client that does not require TLS do.
		case tlsDone:
			ehlo, ok := p.ehlo(PhaseEHLOTLS)
			if !ok {
				return false
			}
			p.result.EHLOTLS = ehlo
		}
	}

	final := p.result.LastEHLO()
	hasAuth := final.Has("AUTH")
	if !hasAuth && (p.module.FailIfNoAuth || p.module.Auth != nil) {
		p.flag(ReasonAuthNotAdvertised, errors.New("the server does not advertise AUTH on this session"))
	}
	if p.module.Auth != nil && hasAuth && p.hard == nil {
		p.authenticate(final)
	}
	if p.module.Envelope != nil && p.hard == nil && !p.broken {
		p.envelope()
	}
	p.quit()
	return false
}

// resolve finds the address to connect to and checks it against the
// allow-list.
func (p *conversation) resolve(target Target) (string, bool) {
	if !p.allowName(target.Host) {
		return "", false
	}
	done := p.begin(PhaseResolve)
	addr, err := resolveTarget(p.ctx, p.resolvers.Hosts, target, p.module)
	done()
	if err != nil {
		p.fail(ReasonResolve, err)
		return "", false
	}
	p.result.setAddr(addr)
	if !p.allowAddr(target.Host, addr) {
		return "", false
	}
	if p.module.ReverseDNS {
		p.reverse = p.startReverseDNS(addr)
	}
	return netip.AddrPortFrom(addr, uint16(target.Port)).String(), true
}

// dial opens the TCP connection to dest, from the module's source address
// when it has one.
func (p *conversation) dial(dest string) bool {
	done := p.begin(PhaseConnect)
	p.note("connecting to %s", dest)
	var d net.Dialer
	if src := p.module.SourceIP(); src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
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
	p.broken = false
	p.r = bufio.NewReaderSize(conn, MaxReplyLineBytes)
	if d.LocalAddr != nil {
		p.note("connected to %s from %s", dest, conn.LocalAddr())
	} else {
		p.note("connected to %s", dest)
	}
	return true
}

// banner reads the greeting, which may be multi-line ("220-").
func (p *conversation) banner() bool {
	done := p.begin(PhaseBanner)
	reply, err := p.readReply(PhaseBanner)
	done()
	if err != nil {
		p.ioFail(err, ReasonBannerTimeout, "reading the greeting")
		return false
	}
	switch {
	case reply.Code == 220:
		if re := p.module.BannerRegex(); re != nil {
			if text := strings.Join(reply.Lines, "\n"); !re.MatchString(text) {
				quoted := "greeting"
				if !p.codesOnly {
					// Not %q for the greeting: escaping would hide a secret from redaction.
					quoted = `greeting "` + text + `"`
				}
				p.flag(ReasonBannerMismatch, fmt.Errorf("%s does not match fail_if_banner_not_matches %q", quoted, re.String()))
			}
		}
		if !p.codesOnly {
			p.result.BannerHostname = p.bannerHostname(reply)
		}
		// A verdict on the greeting's shape, not its text: kept for a
		// module with credentials too.
		p.maskedGreeting = MaskedGreeting(reply.Lines)
		return true
	case reply.Code >= 400:
		p.fail(ReasonBannerRejected, fmt.Errorf("server greeted with %s", p.said(reply)))
		p.quit()
	default:
		p.fail(ReasonProtocolError, fmt.Errorf("unexpected greeting code %d", reply.Code))
	}
	return false
}

// ehlo sends EHLO and parses the extensions.
func (p *conversation) ehlo(phase Phase) (*EHLOInfo, bool) {
	done := p.begin(phase)
	reply, err := p.command(phase, "EHLO "+p.ehloName(), "")
	done()
	if err != nil {
		p.ioFail(err, ReasonTimeout, "EHLO")
		return nil, false
	}
	if reply.Code != 250 {
		p.fail(ReasonEHLORejected, fmt.Errorf("EHLO answered with %s", p.said(reply)))
		p.quit()
		return nil, false
	}
	info := parseEHLO(reply, p.clean)
	if p.codesOnly {
		info.keywordsOnly()
	}
	return info, true
}

// tlsOutcome is how an attempt at TLS ended.
type tlsOutcome int

const (
	tlsDone      tlsOutcome = iota // the session is encrypted
	tlsFailed                      // the probe failed; the session is over
	tlsPlain                       // STARTTLS refused on an opportunistic module: go on in clear text
	tlsReconnect                   // handshake failed on an opportunistic module: retry in clear text
)

// startTLS upgrades the clear-text session.
func (p *conversation) startTLS(target Target) tlsOutcome {
	done := p.begin(PhaseStartTLS)
	reply, err := p.command(PhaseStartTLS, "STARTTLS", "")
	done()
	if err != nil {
		p.ioFail(err, ReasonTimeout, "STARTTLS")
		return tlsFailed
	}
	if reply.Code != 220 {
		err := fmt.Errorf("STARTTLS answered with %s", p.said(reply))
		if p.module.TLS == config.TLSOpportunistic {
			p.warn(ReasonStartTLSRejected, err)
			return tlsPlain
		}
		p.fail(ReasonStartTLSRejected, err)
		p.quit()
		return tlsFailed
	}
	if n := p.r.Buffered(); n > 0 {
		// Plain text after the 220 would be read as if it came over TLS
		// (the STARTTLS command injection of CVE-2011-0411); refuse it.
		p.fail(ReasonTLSHandshakeFailed, fmt.Errorf("server sent %d bytes of clear text after its STARTTLS reply", n))
		return tlsFailed
	}
	return p.handshake(target)
}

// handshake runs the TLS handshake, then verifies the certificate chain
// itself so that a bad certificate is still captured with its dates.
func (p *conversation) handshake(target Target) tlsOutcome {
	cfg, serverName := p.clientTLS(target)
	done := p.begin(PhaseTLSHandshake)
	reads := &tlsReads{Conn: p.conn}
	tlsConn := tls.Client(reads, cfg)
	err := tlsConn.HandshakeContext(p.ctx)
	reads.done = true
	done()
	if err != nil {
		reason := ReasonTLSHandshakeFailed
		if r := classifyIOError(err, ReasonTLSHandshakeFailed); r == ReasonConnectionReset {
			reason = r
		} else if isTimeout(err) && p.module.TLS != config.TLSImplicit {
			reason = ReasonTimeout
		}
		p.broken = true
		err = fmt.Errorf("TLS handshake: %w", unwrapOpError(err))
		if p.module.TLS == config.TLSOpportunistic && reason != ReasonTimeout && p.ctx.Err() == nil {
			p.warn(ReasonTLSHandshakeFailed, err)
			return tlsReconnect
		}
		p.fail(reason, err)
		return tlsFailed
	}
	p.conn = tlsConn
	p.r.Reset(tlsConn)
	p.result.Encrypted = true

	state := tlsConn.ConnectionState()
	p.peerCerts = state.PeerCertificates
	info := describeTLS(state, p.clean)
	info.ServerName = serverName
	p.result.TLS = info
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
		// Cleaned (and so capped) once, here: the error of a certificate
		// with many long names is as long as all of them, and would
		// otherwise be kept whole until the probe ends.
		info.VerifyError = p.clean(verifyErrorText(err), MaxErrorBytes)
		err = errors.New("certificate: " + info.VerifyError)
		switch {
		case p.module.TLSConfig.InsecureSkipVerify:
			p.warn(reason, fmt.Errorf("%w (not failing the probe: insecure_skip_verify)", err))
		case !p.module.CertificateInvalidFails():
			p.warn(reason, fmt.Errorf("%w (not failing the probe: fail_if_certificate_invalid is false)", err))
		default:
			p.flag(reason, err)
		}
		return tlsDone
	}
	info.Verified = true
	info.VerifiedChain = describeChain(chain, state.PeerCertificates, info.Certificates, p.clean)
	info.LastChainExpiry = earliestExpiry(chain)
	p.note("certificate verified for %s", serverName)
	return tlsDone
}

// clientTLS returns the module's TLS client config for the target and the
// name the certificate is checked against: tls_config.server_name, else the
// target's host.
func (p *conversation) clientTLS(target Target) (*tls.Config, string) {
	serverName, isAddress := p.module.TLSConfig.ServerName, target.IsAddress()
	if serverName == "" {
		serverName = target.Host
	} else {
		_, err := netip.ParseAddr(serverName)
		isAddress = err == nil
	}
	cfg := p.module.ClientTLS(serverName)
	if isAddress {
		cfg.ServerName = "" // IP addresses are not sent as SNI
	}
	return cfg, serverName
}

// authenticate tries the configured credentials with PLAIN or LOGIN.
func (p *conversation) authenticate(ehlo *EHLOInfo) {
	if !p.result.Encrypted {
		p.flag(ReasonStartTLSNotAdvertised, errors.New("not sending credentials: the session is not encrypted"))
		return
	}
	// The credentials belong to the server named by tls_config.server_name
	// (config requires it), whatever target the caller chose: they go only
	// where the certificate verified for that name, over a recent TLS.
	pinned := p.module.TLSConfig.ServerName
	switch info := p.result.TLS; {
	case pinned == "":
		p.flag(ReasonAuthFailed, errors.New("not sending credentials: the module pins no tls_config.server_name"))
		return
	case info == nil || !info.Verified || info.ServerName != pinned:
		// The certificate failure is flagged already.
		p.note("not sending credentials: the certificate did not verify for %s", pinned)
		return
	case uint16(info.Version) < p.module.MinAuthTLSVersion():
		p.flag(ReasonAuthFailed, fmt.Errorf("not sending credentials over %s: TLS 1.2 or later is required unless tls_config.min_version allows older",
			info.Version))
		return
	}
	auth := p.module.Auth
	user, pass := auth.Username, p.password.Reveal()
	done := p.begin(PhaseAuth)
	defer done()
	// From here on the server may quote what it received, in any encoding
	// or split across lines: only reply codes are kept (codesOnly).
	var (
		reply Reply
		err   error
	)
	switch {
	case slices.Contains(ehlo.AuthMechanisms, "PLAIN"):
		p.result.AuthMechanism = "PLAIN"
		payload := plainPayload(user, pass)
		reply, err = p.command(PhaseAuth, "AUTH PLAIN "+payload, "AUTH PLAIN <redacted>")
		if err == nil && reply.Code == 334 {
			reply, err = p.command(PhaseAuth, payload, "<redacted>")
		}
	case slices.Contains(ehlo.AuthMechanisms, "LOGIN"):
		p.result.AuthMechanism = "LOGIN"
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
		p.fail(ReasonAuthFailed, fmt.Errorf("AUTH %s answered with %s", p.result.AuthMechanism, replyStatus(reply)))
		return
	}
	p.result.AuthSuccess = true
}

// ehloName is the module's ehlo_hostname, else the machine's fully
// qualified name, else the address literal of this connection's local
// address (RFC 5321 section 4.1.4), never a bare short name, which
// servers with reject_non_fqdn_helo_hostname and many MX hosts refuse.
func (p *conversation) ehloName() string {
	if p.module.EHLOHostname != "" {
		return p.module.EHLOHostname
	}
	if name := config.DefaultEHLOName(); name != "" {
		return name
	}
	var local netip.Addr
	if a, ok := p.tcp.LocalAddr().(*net.TCPAddr); ok {
		local, _ = netip.AddrFromSlice(a.IP)
	}
	return AddressLiteral(local)
}

// AddressLiteral is the EHLO form of an address: [192.0.2.1] or
// [IPv6:2001:db8::1] (RFC 5321 section 4.1.3).
func AddressLiteral(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "[127.0.0.1]"
	case a.Is4():
		return "[" + a.String() + "]"
	default:
		return "[IPv6:" + a.WithZone("").String() + "]"
	}
}

// envelope sends MAIL FROM and RCPT TO and judges the replies against the
// module's expectation, then resets the transaction: DATA is never sent.
func (p *conversation) envelope() {
	env := p.module.Envelope
	done := p.begin(PhaseMail)
	reply, err := p.command(PhaseMail, "MAIL FROM:<"+env.MailFrom+">", "")
	done()
	if err != nil {
		p.ioFail(err, ReasonTimeout, "MAIL FROM")
		return
	}
	if reply.Code/100 != 2 {
		// With expect: reject too: the relay test never reached RCPT.
		p.flag(ReasonMailRejected, fmt.Errorf("MAIL FROM:<%s> answered with %s", env.MailFrom, p.said(reply)))
		p.rset()
		return
	}
	done = p.begin(PhaseRcpt)
	ok := p.recipients(env)
	done()
	if ok {
		p.rset()
	}
}

// recipients sends RCPT TO for each address; false when the connection failed.
func (p *conversation) recipients(env *config.Envelope) bool {
	for _, rcpt := range env.RcptTo {
		reply, err := p.command(PhaseRcpt, "RCPT TO:<"+rcpt+">", "")
		if err != nil {
			p.ioFail(err, ReasonTimeout, "RCPT TO")
			return false
		}
		accepted := reply.Code/100 == 2
		switch {
		case env.Expect == config.ExpectAccept && !accepted:
			p.flag(ReasonRcptRejected, fmt.Errorf("RCPT TO:<%s> answered with %s", rcpt, p.said(reply)))
		case env.Expect == config.ExpectReject && accepted:
			p.flag(ReasonRelayAccepted, fmt.Errorf("RCPT TO:<%s> accepted with %s: the server would relay for this recipient",
				rcpt, p.said(reply)))
		}
	}
	return true
}

// rset ends the mail transaction without a message. Its reply does not
// change the verdict; QUIT follows.
func (p *conversation) rset() {
	done := p.begin(PhaseQuit)
	defer done()
	if _, err := p.command(PhaseQuit, "RSET", ""); err != nil {
		p.broken = true
		p.note("no reply to RSET: %v", err)
	}
}

// quit ends the session politely. Its outcome never changes the verdict.
func (p *conversation) quit() {
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
func (p *conversation) command(phase Phase, line, shown string) (Reply, error) {
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

func (p *conversation) readReply(phase Phase) (Reply, error) {
	t := replyTranscript{p: p, ehlo: phase == PhaseEHLO || phase == PhaseEHLOTLS}
	reply, err := ReadReply(p.r, t.keep)
	t.end()
	if err == nil {
		if ph := p.result.Phase(phase); ph != nil {
			ph.ReplyCode = reply.Code
		}
	}
	return reply, err
}

// readReplyOf reads a reply on the connection of check ("": the main one)
// and adds its lines to the transcript.
func (p *conversation) readReplyOf(check string, r *bufio.Reader) (Reply, error) {
	t := replyTranscript{p: p, check: check}
	reply, err := ReadReply(r, t.keep)
	t.end()
	return reply, err
}

// maxReplyTranscriptBytes is how much of one reply the transcript shows.
// Real replies are well under 1 KiB; of a longer one it shows the first
// lines and the last, and says how many it left out, so that a server's
// long replies cannot push the rest of the conversation out of the
// transcript (nor keep kilobytes of it per probe in flight).
const maxReplyTranscriptBytes = 2 << 10

// replyTranscript is what the transcript shows of one reply.
type replyTranscript struct {
	p     *conversation
	check string
	// ehlo: the reply to EHLO, whose lines after the first are keywords.
	ehlo                 bool
	lines                int  // lines read
	shown                int  // bytes of the reply shown
	cut                  bool // lines are left out until the last one
	leftOut, leftOutSize int  // lines left out and their bytes as read
}

// keep is ReadReply's keep: it returns the line cleaned and cut at
// maxTranscriptLineBytes (RFC 5321 allows 512 octets a line), one copy
// shared by the reply and the transcript, whatever the server sent. For a
// module with credentials the transcript shows only the line's codes (and
// an EHLO line's keyword).
func (t *replyTranscript) keep(raw string) string {
	line := t.p.clean(raw, maxTranscriptLineBytes)
	t.lines++
	last := len(line) < 4 || line[3] != '-'
	if !last && (t.cut || t.shown+len(line) > maxReplyTranscriptBytes) {
		t.cut = true
		t.leftOut++
		t.leftOutSize += len(raw)
		return line
	}
	t.end()
	t.shown += len(line)
	if t.p.codesOnly {
		t.p.transcriptFor(t.check, "S", codeOnly(line, t.ehlo && t.lines > 1))
	} else {
		t.p.transcriptFor(t.check, "S", line)
	}
	return line
}

// end says which lines were left out, if any, where they were.
func (t *replyTranscript) end() {
	if t.leftOut > 0 {
		t.p.transcriptFor(t.check, "*", fmt.Sprintf("%d more lines of this reply (%d bytes) left out of the transcript", t.leftOut, t.leftOutSize))
		t.leftOut, t.leftOutSize = 0, 0
	}
}

// begin marks a phase as reached and returns the function that ends its timing.
func (p *conversation) begin(phase Phase) func() {
	ph := p.result.Phase(phase)
	ph.Reached = true
	t := p.opts.Now()
	return func() { ph.Duration += p.opts.Now().Sub(t) }
}

func (p *conversation) note(format string, args ...any) {
	p.transcript("*", fmt.Sprintf(format, args...))
}

func (p *conversation) transcript(from, text string) { p.transcriptFor("", from, text) }

// transcriptFor adds a line of the connection of check ("": the main one).
func (p *conversation) transcriptFor(check, from, text string) {
	text = p.clean(text, maxTranscriptLineBytes)
	if p.logger.Enabled(p.ctx, slog.LevelDebug) { // spares the arguments' allocations
		if check != "" {
			p.logger.Debug("SMTP", "check", check, "from", from, "line", text)
		} else {
			p.logger.Debug("SMTP", "from", from, "line", text)
		}
	}
	switch n := len(p.result.Transcript); {
	case n > maxTranscriptLines || p.transcriptBytes > maxTranscriptBytes:
		return // cut, and said so
	case n == maxTranscriptLines || p.transcriptBytes+len(text) > maxTranscriptBytes:
		from, text = "*", fmt.Sprintf("transcript cut at %d lines or %d bytes", maxTranscriptLines, maxTranscriptBytes)
		p.transcriptBytes = maxTranscriptBytes + 1
		p.result.Transcript = append(p.result.Transcript, TranscriptLine{At: p.opts.Now().Sub(p.start), From: from, Text: text})
		return
	}
	p.transcriptBytes += len(text)
	p.result.Transcript = append(p.result.Transcript, TranscriptLine{At: p.opts.Now().Sub(p.start), From: from, Text: text, Check: check})
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

// NotProbed is the Result of a target that was never dialed, for reason:
// a mail domain's MX host without an address, or a name or address the
// allow-list refused. It is a summary, not a probe's record: the target,
// the failure and why, no phases, no transcript, so that the pairs a
// hostile zone makes a domain refuse cost next to nothing.
func NotProbed(target Target, moduleName string, module *config.Module, now time.Time, reason Reason, err error) *Result {
	r := &Result{
		Target:         target.String(),
		Module:         moduleName,
		Host:           target.Host,
		Port:           target.Port,
		Start:          now,
		Failure:        reason,
		Error:          Sanitize(err.Error(), MaxErrorBytes),
		AuthConfigured: module.Auth != nil,
	}
	if target.Addr.IsValid() {
		r.setAddr(target.Addr)
	}
	return r
}
