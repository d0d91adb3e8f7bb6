package prober

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/smtp-exporter/smtp_exporter/config"
)

// postureSpec is what one posture check offers in its ClientHello.
type postureSpec struct {
	check    string
	version  uint16
	suites   []uint16
	describe string
}

// Cipher suite lists of the posture checks, fixed at start.
//
// Go's client offers exactly the versions and suites of its tls.Config when
// they are set, whatever the GODEBUG settings say: tls10server only
// changes a server's default minimum, tlsrsakex and tls3des only the
// default suite list (Config.CipherSuites == nil), so the main probe keeps
// its defaults and these connections get what they ask for, per connection.
// tlssha1 only governs SHA-1 in TLS 1.2 handshake signatures (ECDHE key
// exchange), which the server picks from the client's list: these checks
// offer the client's normal list, and TLS 1.0/1.1 sign with MD5+SHA-1,
// which no setting gates.
var (
	// weakSuites are Go's insecure suites that TLS 1.2 can negotiate and
	// that are broken or near it: RC4, 3DES, and CBC (RSA key exchange, or
	// ECDHE with SHA-256 MACs). Go 1.26 also lists RSA key exchange with
	// AES-GCM as insecure (no forward secrecy); it is left out, because
	// nearly every server takes it and it would drown the broken ones.
	weakSuites = weak(suitesFor(tls.VersionTLS12, tls.InsecureCipherSuites()))
	// legacySuites are every suite Go speaks in TLS 1.0 and 1.1, secure or
	// not, so that a server that accepts the version at all is seen to.
	legacySuites = suitesFor(tls.VersionTLS10, append(tls.CipherSuites(), tls.InsecureCipherSuites()...))

	postureSpecs = []postureSpec{
		{CheckTLS10, tls.VersionTLS10, legacySuites, "a ClientHello offering only TLS 1.0"},
		{CheckTLS11, tls.VersionTLS11, legacySuites, "a ClientHello offering only TLS 1.1"},
		{CheckWeakCiphers, tls.VersionTLS12, weakSuites, "TLS 1.2 offering only weak cipher suites"},
	}
)

func weak(ids []uint16) []uint16 {
	return slices.DeleteFunc(ids, func(id uint16) bool {
		name := tls.CipherSuiteName(id)
		return !strings.Contains(name, "_RC4_") && !strings.Contains(name, "_3DES_") && !strings.Contains(name, "_CBC_")
	})
}

func suitesFor(version uint16, suites []*tls.CipherSuite) []uint16 {
	var ids []uint16
	for _, s := range suites {
		if slices.Contains(s.SupportedVersions, version) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// posture runs the TLS posture checks after the main conversation, when
// the module asks for them and the server was seen to speak TLS (the main
// conversation reached a handshake, even a failed one). They share the
// probe's deadline; a check that runs out of time is not conclusive.
func (p *conversation) posture(target Target) {
	if !p.module.TLSPosture || !p.result.Phase(PhaseTLSHandshake).Reached {
		return
	}
	if !p.result.IP.IsValid() {
		return
	}
	dest := netip.AddrPortFrom(p.result.IP, uint16(target.Port))
	checks := make([]PostureCheck, 0, len(postureSpecs))
	for _, spec := range postureSpecs {
		checks = append(checks, p.postureCheck(dest, target, spec))
	}
	p.result.Posture = checks

	var legacy []string
	for _, v := range LegacyVersions {
		if c := p.result.PostureCheck(v); c != nil && c.Accepted {
			legacy = append(legacy, v)
		}
	}
	if len(legacy) > 0 {
		err := fmt.Errorf("the server still accepts %s", strings.Join(legacy, " and "))
		if p.module.FailIfLegacyTLSAccepted {
			p.flag(ReasonLegacyTLSAccepted, err)
		} else {
			p.warn(ReasonLegacyTLSAccepted, err)
		}
	}
}

// postureCheck opens one extra connection, reaches the handshake the
// module's way (implicit TLS, or greeting, EHLO and STARTTLS), offers
// spec's ClientHello and closes the connection after the handshake.
func (p *conversation) postureCheck(dest netip.AddrPort, target Target, spec postureSpec) (pc PostureCheck) {
	pc.Check = spec.check
	start := p.opts.Now()
	defer func() { pc.Duration = p.opts.Now().Sub(start) }()
	note := func(format string, args ...any) { p.transcriptFor(spec.check, "*", fmt.Sprintf(format, args...)) }
	inconclusive := func(err error) PostureCheck {
		pc.Error = p.clean(err.Error(), MaxErrorBytes)
		note("check not conclusive: %s", pc.Error)
		return pc
	}

	if err := p.ctx.Err(); err != nil {
		return inconclusive(fmt.Errorf("no time left for the check: %w", err))
	}
	note("posture check: %s, connecting to %s", spec.describe, dest)
	conn, release, err := p.dialCheck(dest)
	if err != nil {
		return inconclusive(fmt.Errorf("connecting: %w", unwrapOpError(err)))
	}
	defer release()

	if p.module.TLS != config.TLSImplicit {
		if err := p.postureStartTLS(conn, spec.check); err != nil {
			return inconclusive(err)
		}
	}

	cfg, _ := p.clientTLS(target)
	cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = spec.version, spec.version, spec.suites
	tlsConn := tls.Client(conn, cfg)
	err = tlsConn.HandshakeContext(p.ctx)
	if err != nil && (isTimeout(err) || p.ctx.Err() != nil) {
		return inconclusive(fmt.Errorf("TLS handshake: %w", unwrapOpError(err)))
	}
	pc.Conclusive = true
	if err != nil {
		pc.Error = p.clean(unwrapOpError(err).Error(), MaxErrorBytes)
		note("refused: %s", pc.Error)
		return pc
	}
	state := tlsConn.ConnectionState()
	pc.Accepted = true
	pc.Version, pc.Cipher = TLSVersion(state.Version), tls.CipherSuiteName(state.CipherSuite)
	note("accepted: %s, %s", pc.Version, pc.Cipher)
	// Stop here: close_notify, then close. No SMTP inside this session.
	tlsConn.Close()
	return pc
}

// postureStartTLS takes an extra connection from the greeting to the
// server's 220 to STARTTLS, with its lines in the transcript under check.
func (p *conversation) postureStartTLS(conn net.Conn, check string) error {
	r := bufio.NewReaderSize(conn, MaxReplyLineBytes)
	read := func() (Reply, error) {
		return p.readReplyOf(check, r)
	}
	send := func(line string) (Reply, error) {
		p.transcriptFor(check, "C", line)
		if _, err := conn.Write([]byte(line + "\r\n")); err != nil {
			return Reply{}, err
		}
		return read()
	}
	reply, err := read()
	if err != nil {
		return fmt.Errorf("reading the greeting: %w", unwrapOpError(err))
	}
	if reply.Code != 220 {
		return fmt.Errorf("greeted with %d", reply.Code)
	}
	if reply, err = send("EHLO " + p.ehloName()); err != nil {
		return fmt.Errorf("EHLO: %w", unwrapOpError(err))
	}
	if reply.Code != 250 {
		return fmt.Errorf("EHLO answered with %d", reply.Code)
	}
	if !ParseEHLO(reply).Has("STARTTLS") {
		return errors.New("STARTTLS is not advertised on this connection")
	}
	if reply, err = send("STARTTLS"); err != nil {
		return fmt.Errorf("STARTTLS: %w", unwrapOpError(err))
	}
	if reply.Code != 220 {
		return fmt.Errorf("STARTTLS answered with %d", reply.Code)
	}
	if n := r.Buffered(); n > 0 {
		return fmt.Errorf("server sent %d bytes of clear text after its STARTTLS reply", n)
	}
	return nil
}
