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
)

// resolve picks the address to connect to: the preferred family first, the
// other one only when fallback is allowed and the preferred has none.
func resolve(ctx context.Context, resolver *net.Resolver, host, preferred string, fallback bool) (netip.Addr, error) {
	if addr, err := netip.ParseAddr(host); err == nil {
		if !fallback && familyOf(addr) != preferred {
			return netip.Addr{}, fmt.Errorf("%s is not an %s address and ip_protocol_fallback is off", host, preferred)
		}
		return addr, nil
	}
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return netip.Addr{}, fmt.Errorf("host %s not found", host)
		}
		return netip.Addr{}, err
	}
	var other netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if familyOf(a) == preferred {
			return a, nil
		}
		if !other.IsValid() {
			other = a
		}
	}
	if other.IsValid() && fallback {
		return other, nil
	}
	return netip.Addr{}, fmt.Errorf("host %s has no %s address", host, preferred)
}

func familyOf(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "ip4"
	}
	return "ip6"
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
