package prober

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/smtp-exporter/smtp_exporter/config"
)

// maxTargetLength bounds a target: a 253-byte DNS name, brackets and a port.
const maxTargetLength = 270

// Target is a parsed probe target, and what is known of it before the
// probe: the one place a probe's callers hand it facts.
type Target struct {
	Host string // a DNS name or an IP literal, without brackets
	Port int    // 0 when the target names none
	// Addr is the address to connect to when it is known before the probe:
	// Host's own when Host is an IP literal (ParseTarget sets it), or the
	// address a mail domain's fan-out resolved the MX host to (Host then
	// names the server for TLS and TLSA only). Invalid: the probe resolves
	// Host.
	Addr netip.Addr
	// AddrsSecure says whether Host's A and AAAA answers were
	// DNSSEC-secure, as the fan-out found them; DANE asks for them itself
	// when it is DNSSECUnknown (RFC 7672 §2.2.2).
	AddrsSecure DNSSEC
	// literal says Host is an IP address, not a name (ParseTarget).
	literal bool
}

// DNSSEC is what a resolver said of the DNSSEC state of an answer.
type DNSSEC uint8

// DNSSEC states.
const (
	DNSSECUnknown  DNSSEC = iota // not asked, or a question failed
	DNSSECInsecure               // answered without the AD bit
	DNSSECSecure                 // answered with the AD bit: validated
)

// DNSSECOf is the state of answers that came back, secure or not.
func DNSSECOf(secure bool) DNSSEC {
	if secure {
		return DNSSECSecure
	}
	return DNSSECInsecure
}

// ResolvedTarget is the target of a host name a caller resolved already:
// a mail domain's (MX host, address) pair.
func ResolvedTarget(host string, port int, addr netip.Addr, secure DNSSEC) Target {
	return Target{Host: host, Port: port, Addr: addr, AddrsSecure: secure}
}

// IsAddress says Host is an IP literal: it names no server for TLS and
// has no TLSA records.
func (t Target) IsAddress() bool { return t.literal }

// String renders the target as host:port (brackets around IPv6).
func (t Target) String() string {
	if t.Port == 0 {
		if strings.Contains(t.Host, ":") {
			return "[" + t.Host + "]"
		}
		return t.Host
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// ParseTarget parses "host", "host:port", "[v6]:port", "[v6]" or a bare
// IPv6 literal. It refuses anything URL-shaped or with characters that have
// no place in a host name, so that a target is never more than an address.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, fmt.Errorf("target is empty")
	}
	if len(s) > maxTargetLength {
		return Target{}, fmt.Errorf("target is longer than %d characters", maxTargetLength)
	}
	if strings.Contains(s, "://") {
		return Target{}, fmt.Errorf("target %q looks like a URL; give host:port, for example mx.example.com:25", s)
	}
	for _, c := range s {
		if !(c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || c == '%' ||
			c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return Target{}, fmt.Errorf("target %q has a character %q that cannot be in host:port", s, c)
		}
	}
	// A bare IPv6 literal has no port.
	if addr, err := netip.ParseAddr(s); err == nil && addr.Is6() {
		if !validZone(addr.Zone()) {
			return Target{}, fmt.Errorf("target %q: %q is not an interface name", s, addr.Zone())
		}
		return Target{Host: s, Addr: addr, literal: true}, nil
	}
	host, portStr := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return Target{}, fmt.Errorf("target %q has an unclosed [", s)
		}
		host = s[1:end]
		switch rest := s[end+1:]; {
		case rest == "":
		case strings.HasPrefix(rest, ":"):
			portStr = rest[1:]
		default:
			return Target{}, fmt.Errorf("target %q: unexpected %q after ]", s, rest)
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %q in brackets is not an IPv6 address", s, host)
		}
		if !validZone(addr.Zone()) {
			return Target{}, fmt.Errorf("target %q: %q is not an interface name", s, addr.Zone())
		}
	} else if i := strings.LastIndex(s, ":"); i >= 0 {
		host, portStr = s[:i], s[i+1:]
		if strings.Contains(host, ":") {
			return Target{}, fmt.Errorf("target %q: put an IPv6 address in brackets, like [2001:db8::1]:25", s)
		}
	}
	t := Target{Host: host}
	if strings.ContainsAny(s, "[]%") && !strings.HasPrefix(s, "[") {
		return Target{}, fmt.Errorf("target %q has a character that cannot be in a host name", s)
	}
	if host == "" {
		return Target{}, fmt.Errorf("target %q has no host", s)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		t.Addr, t.literal = addr, true
	} else if !config.ValidHostname(strings.TrimSuffix(host, ".")) {
		return Target{}, fmt.Errorf("target %q: %q is not a valid host name", s, host)
	}
	if portStr != "" || strings.HasSuffix(s, ":") {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 {
			return Target{}, fmt.Errorf("target %q: port %q is not a number from 1 to 65535", s, portStr)
		}
		t.Port = p
	}
	return t, nil
}

// validZone accepts what an interface name or index looks like; netip
// takes anything after the % of an IPv6 literal.
func validZone(z string) bool {
	for _, c := range z {
		if !(c == '.' || c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
