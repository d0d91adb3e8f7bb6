package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
)

// resolveTarget finds the address to connect to: the target's own (an IP
// literal, or a mail domain's pair that the fan-out resolved and judged
// already), else one of Host's addresses from the host resolver. The
// module's one family rule (config.Module.PreferredAddr) picks among a
// name's addresses and judges a literal.
func resolveTarget(ctx context.Context, hosts *net.Resolver, t Target, module *config.Module) (netip.Addr, error) {
	switch {
	case t.IsAddress():
		if _, ok := module.PreferredAddr([]netip.Addr{t.Addr}); !ok {
			return netip.Addr{}, fmt.Errorf("%s is not an %s address and ip_protocol_fallback is off", t.Host, module.IPProtocol)
		}
		return t.Addr, nil
	case t.Addr.IsValid():
		return t.Addr, nil
	}
	addrs, err := hosts.LookupNetIP(ctx, "ip", t.Host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return netip.Addr{}, fmt.Errorf("host %s not found", t.Host)
		}
		return netip.Addr{}, err
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	if a, ok := module.PreferredAddr(addrs); ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("host %s has no %s address", t.Host, module.IPProtocol)
}

// classifyDialError says why a TCP connect failed.
func classifyDialError(err error) Reason {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonConnectRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		// EACCES and EPERM are what a local firewall's reject or an ICMP
		// "administratively prohibited" turn into.
		return ReasonConnectUnreachable
	case errors.Is(err, syscall.ECONNRESET):
		return ReasonConnectionReset
	case isTimeout(err):
		// The dial ran out of time: how a dropped SYN (a filtered port) looks.
		return ReasonConnectTimeout
	default:
		return ReasonConnectUnreachable
	}
}

// classifyIOError says why a read or write on an established connection
// failed; timeoutReason is the reason for a deadline hit in this phase.
func classifyIOError(err error, timeoutReason Reason) Reason {
	var perr *ProtocolError
	switch {
	case errors.As(err, &perr):
		return ReasonProtocolError
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return ReasonConnectionReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ReasonConnectionClosed
	case isTimeout(err):
		return timeoutReason
	default:
		return ReasonConnectionClosed
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dialCheck opens one more connection to dest, for a check that runs after
// the conversation (TLS posture, STARTTLS injection): from the module's
// source address, bounded by the probe's deadline, and unblocked when the
// probe's context ends. release closes it.
func (p *conversation) dialCheck(dest netip.AddrPort) (conn net.Conn, release func(), err error) {
	var d net.Dialer
	if src := p.module.SourceIP(); src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	conn, err = d.DialContext(p.ctx, "tcp", dest.String())
	if err != nil {
		return nil, nil, err
	}
	if deadline, ok := p.ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(p.ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { stop(); conn.Close() }, nil
}
