package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// DialFunc opens a TCP connection, as net.Dialer.DialContext does; tests
// replace it to dial from a network namespace of their own.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// quitGrace bounds the wait for the reply to QUIT: the outcome is known by
// then.
const quitGrace = time.Second

// implicitTLSPort speaks TLS from the first byte (RFC 8314): a canary on it
// needs a handshake to see a greeting.
const implicitTLSPort = 465

// attempter tries canaries.
type attempter struct {
	dial  DialFunc
	roots *x509.CertPool // nil: the system's
}

// try makes one attempt at canary over addr: connect, read the greeting,
// QUIT, with the certificate checked first when the canary expects one.
// ctx bounds it; every read is bounded in size by the reply reader.
func (t *attempter) try(ctx context.Context, c *config.Canary, addr netip.Addr) Attempt {
	dest := netip.AddrPortFrom(addr, uint16(c.Port())).String() //nolint:gosec // config checks the range
	network := "tcp4"
	if !addr.Is4() {
		network = "tcp6"
	}
	conn, err := t.dial(ctx, network, dest)
	if err != nil {
		return Attempt{Outcome: dialOutcome(err), Detail: fmt.Sprintf("connecting to %s: %v", dest, unwrap(err))}
	}
	tcp := conn
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { tcp.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	a := t.converse(ctx, c, conn)
	// Loss on the way out (a SYN or ACK resent) marks a throttled path even
	// when the attempt got through.
	a.Lossy = retransmitted(tcp)
	return a
}

func (t *attempter) converse(ctx context.Context, c *config.Canary, conn net.Conn) Attempt {
	name := c.ExpectCertificateName
	if c.Port() == implicitTLSPort {
		tc, a, ok := t.handshake(ctx, conn, name)
		if !ok {
			return a
		}
		conn = tc
	}
	r := bufio.NewReaderSize(conn, prober.MaxReplyLineBytes)
	greeting, err := prober.ReadReply(r, nil)
	if err != nil {
		return readFailure(err, "reading the greeting")
	}
	text := prober.GreetingText(greeting)
	switch {
	case greeting.Code >= 400 && greeting.Code < 600:
		return Attempt{Outcome: OutcomeBannerRejected, Detail: fmt.Sprintf("greeted with %s", prober.Sanitize(text, 200))}
	case greeting.Code != 220:
		return Attempt{Outcome: OutcomeIntercepted, Detail: fmt.Sprintf("greeted with code %d, not an SMTP greeting", greeting.Code)}
	case prober.MaskedGreeting(greeting.Lines):
		return Attempt{Outcome: OutcomeIntercepted, Detail: fmt.Sprintf("greeting masked with asterisks (%s): a firewall's SMTP inspection rewrites the session", prober.Sanitize(text, 200))}
	case c.BannerRegex() != nil && !c.BannerRegex().MatchString(text):
		return Attempt{Outcome: OutcomeIntercepted, Detail: fmt.Sprintf("greeting %q does not match expect_banner %q", prober.Sanitize(text, 200), c.ExpectBanner)}
	}
	if name != "" && c.Port() != implicitTLSPort {
		var a Attempt
		if conn, a = t.startTLS(ctx, conn, r, name); conn == nil {
			return a
		}
		r = bufio.NewReaderSize(conn, prober.MaxReplyLineBytes)
	}
	quit(conn, r)
	return Attempt{Outcome: OutcomeOK, Detail: "greeted with " + prober.Sanitize(text, 200)}
}

// startTLS upgrades the session to check the canary's certificate; a nil
// connection comes with the attempt's outcome.
func (t *attempter) startTLS(ctx context.Context, conn net.Conn, r *bufio.Reader, name string) (net.Conn, Attempt) {
	send := func(line string) (prober.Reply, error) {
		if _, err := conn.Write([]byte(line + "\r\n")); err != nil {
			return prober.Reply{}, err
		}
		return prober.ReadReply(r, nil)
	}
	ehloName := config.DefaultEHLOName()
	if ehloName == "" {
		var local netip.Addr
		if a, ok := conn.LocalAddr().(*net.TCPAddr); ok {
			local, _ = netip.AddrFromSlice(a.IP)
		}
		ehloName = prober.AddressLiteral(local)
	}
	reply, err := send("EHLO " + ehloName)
	if err != nil {
		return nil, readFailure(err, "EHLO")
	}
	ehlo := prober.ParseEHLO(reply)
	switch {
	case reply.Code != 250:
		return nil, Attempt{Outcome: OutcomeBannerRejected, Detail: fmt.Sprintf("EHLO answered with %d", reply.Code)}
	case prober.StrippedStartTLS(ehlo) != "":
		return nil, Attempt{Outcome: OutcomeIntercepted, Detail: fmt.Sprintf("STARTTLS is rewritten to %s: a firewall's SMTP inspection strips it", prober.StrippedStartTLS(ehlo))}
	case !ehlo.Has("STARTTLS"):
		return nil, Attempt{Outcome: OutcomeIntercepted, Detail: "STARTTLS is not offered, though the canary has a certificate to show"}
	}
	if reply, err = send("STARTTLS"); err != nil {
		return nil, readFailure(err, "STARTTLS")
	}
	if reply.Code != 220 {
		return nil, Attempt{Outcome: OutcomeIntercepted, Detail: fmt.Sprintf("STARTTLS answered with %d", reply.Code)}
	}
	tc, a, ok := t.handshake(ctx, conn, name)
	if !ok {
		return nil, a
	}
	return tc, Attempt{}
}

// handshake speaks TLS on conn and, when name is set, verifies the
// certificate for it: another certificate is a middlebox's.
func (t *attempter) handshake(ctx context.Context, conn net.Conn, name string) (net.Conn, Attempt, bool) {
	cfg := &tls.Config{ServerName: name, RootCAs: t.roots, MinVersion: tls.VersionTLS12}
	if name == "" {
		// Port 465 without expect_certificate_name: TLS only to reach the
		// greeting; the certificate is not checked.
		cfg.InsecureSkipVerify = true //nolint:gosec // nothing is sent that needs it
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if verr, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
			return nil, Attempt{Outcome: OutcomeIntercepted, Detail: fmt.Sprintf("the certificate does not verify for %s: %v", name, verr.Err)}, false
		}
		return nil, readFailure(err, "TLS handshake"), false
	}
	return tc, Attempt{}, true
}

// quit ends the session politely; its outcome does not matter.
func quit(conn net.Conn, r *bufio.Reader) {
	conn.SetDeadline(time.Now().Add(quitGrace))
	if _, err := conn.Write([]byte("QUIT\r\n")); err == nil {
		_, _ = prober.ReadReply(r, nil)
	}
}

// readFailure is the outcome of a read or handshake on a connected canary.
func readFailure(err error, doing string) Attempt {
	var perr *prober.ProtocolError
	switch {
	case errors.As(err, &perr):
		// Something that does not speak SMTP answers on the canary's port.
		return Attempt{Outcome: OutcomeIntercepted, Detail: fmt.Sprintf("%s: %v", doing, prober.Sanitize(err.Error(), 200))}
	case isTimeout(err):
		return Attempt{Outcome: OutcomeBannerTimeout, Detail: fmt.Sprintf("%s: no answer in time", doing)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Attempt{Outcome: OutcomeConnectionClosed, Detail: fmt.Sprintf("%s: the connection was closed", doing)}
	}
	return Attempt{Outcome: OutcomeConnectionClosed, Detail: fmt.Sprintf("%s: %v", doing, unwrap(err))}
}

func dialOutcome(err error) Outcome {
	switch prober.ClassifyDialError(err) {
	case prober.ReasonConnectRefused, prober.ReasonConnectionReset:
		return OutcomeConnectRefused
	case prober.ReasonConnectTimeout:
		return OutcomeConnectTimeout
	}
	return OutcomeConnectUnreachable
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// unwrap drops the "dial tcp 192.0.2.1:25:" prefix the detail repeats.
func unwrap(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
