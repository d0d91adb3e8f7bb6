package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// AllowedTargets limits which targets the exporter probes, so that whoever
// can reach /probe cannot use it as a port scanner of the networks behind
// it. With no allowed_targets section every target is allowed.
//
// A target is allowed when the allow-lists are empty, or its host name
// matches a pattern of Hosts, or the address it resolves to lies in one of
// CIDRs; and, with DenyPrivate, that address is public: not in a range of
// the IANA special-purpose address registries that is not globally
// reachable (loopback, link-local, private, shared, documentation,
// benchmarking, reserved, ...), not multicast, and, for an IPv6 address
// that embeds an IPv4 one (IPv4-mapped, NAT64, 6to4), not embedding a
// non-public IPv4 address. The address is checked after
// resolution, so a permitted name that resolves to a forbidden address is
// refused too.
type AllowedTargets struct {
	// Hosts are host name patterns: "mx.example.com", or "*.example.com"
	// for any name below example.com (not example.com itself).
	Hosts []string `yaml:"hosts,omitempty"`
	// CIDRs are address ranges, like 192.0.2.0/24 or 2001:db8::/32.
	CIDRs []string `yaml:"cidrs,omitempty"`
	// DenyPrivate refuses non-public addresses whatever the lists say.
	DenyPrivate bool `yaml:"deny_private"`

	prefixes []netip.Prefix
	// patterns are Hosts as labels, "*" first for a wildcard.
	patterns [][]string
}

// Reasons a target is refused; the values label
// smtp_exporter_probes_refused_total, so they are a public interface.
const (
	RefusedNotAllowed     = "target_not_allowed"
	RefusedPrivateAddress = "private_address"
)

// RefusedError says why a target may not be probed. It is the text of the
// HTTP 403 the client gets.
type RefusedError struct {
	Reason string // RefusedNotAllowed or RefusedPrivateAddress
	Msg    string
}

func (e *RefusedError) Error() string { return e.Msg }

// AllowName is asked before the host name is resolved: a name that no
// address could make allowed is refused without even looking it up.
// A nil AllowedTargets allows everything.
func (a *AllowedTargets) AllowName(host string) error {
	if a == nil || len(a.Hosts) == 0 || len(a.prefixes) > 0 {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // an address literal is judged by AllowAddr
	}
	if a.matchHost(host) {
		return nil
	}
	if !ValidHostname(strings.TrimSuffix(host, ".")) {
		return &RefusedError{
			Reason: RefusedNotAllowed,
			Msg:    fmt.Sprintf("target host %q is not allowed: it is not a host name (labels of letters, digits, dashes and underscores), so no pattern of allowed_targets.hosts can match it", host),
		}
	}
	return &RefusedError{
		Reason: RefusedNotAllowed,
		Msg:    fmt.Sprintf("target host %q is not allowed: it matches no pattern of allowed_targets.hosts", host),
	}
}

// AllowAddr is asked with the address that is about to be dialed and the
// host name it came from (the address itself for a literal target).
func (a *AllowedTargets) AllowAddr(host string, addr netip.Addr) error {
	if a == nil {
		return nil
	}
	addr = addr.Unmap()
	if a.DenyPrivate && !isPublic(addr) {
		what := host
		if what != addr.String() {
			what = fmt.Sprintf("%s (%s)", host, addr)
		}
		return &RefusedError{
			Reason: RefusedPrivateAddress,
			Msg:    fmt.Sprintf("target %s is not allowed: the address is loopback, link-local, private or otherwise not public, and allowed_targets.deny_private is set", what),
		}
	}
	if len(a.Hosts) == 0 && len(a.prefixes) == 0 {
		return nil
	}
	for _, p := range a.prefixes {
		if p.Contains(addr) {
			return nil
		}
	}
	if _, err := netip.ParseAddr(host); err != nil && a.matchHost(host) {
		return nil
	}
	return &RefusedError{
		Reason: RefusedNotAllowed,
		Msg:    fmt.Sprintf("target %s (%s) is not allowed: it matches neither allowed_targets.hosts nor allowed_targets.cidrs", host, addr),
	}
}

// matchHost says whether host matches a pattern of Hosts, compared label
// by label. Host names from DNS answers (an MX target) come in presentation
// form, where "x\.allowed.test" is the two labels "x.allowed" and "test":
// compared as text it would end in ".allowed.test". A name that is not a
// host name (an escaped byte, an empty label) matches no pattern.
func (a *AllowedTargets) matchHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !ValidHostname(host) {
		return false
	}
	labels := strings.Split(host, ".")
	for _, want := range a.patterns {
		if want[0] == "*" {
			// "*.example.com": at least one more label than example.com.
			want = want[1:]
			if len(labels) > len(want) && slices.Equal(labels[len(labels)-len(want):], want) {
				return true
			}
		} else if slices.Equal(labels, want) {
			return true
		}
	}
	return false
}

func (a *AllowedTargets) prepare() error {
	a.patterns = a.patterns[:0]
	for i, pattern := range a.Hosts {
		p := strings.ToLower(strings.TrimSuffix(pattern, "."))
		if addr, err := netip.ParseAddr(p); err == nil {
			return fmt.Errorf("hosts: %q is an address; put addresses in cidrs (as %s/%d)", pattern, p, addr.BitLen())
		}
		name, wildcard := strings.CutPrefix(p, "*.")
		// p is lower case already; a wildcard may stand only as the whole first label.
		if !ValidHostname(name) {
			return fmt.Errorf("hosts: %q is not a host name or a *.domain pattern", pattern)
		}
		if wildcard {
			p = "*." + name
		}
		a.Hosts[i] = p
		a.patterns = append(a.patterns, strings.Split(p, "."))
	}
	a.prefixes = a.prefixes[:0]
	for _, s := range a.CIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("cidrs: %q is not a CIDR range like 192.0.2.0/24 or 2001:db8::/32", s)
		}
		if p != p.Masked() {
			return fmt.Errorf("cidrs: %q has host bits set; did you mean %s?", s, p.Masked())
		}
		a.prefixes = append(a.prefixes, p)
	}
	return nil
}

// ValidHostname reports whether name is a DNS host name without its
// trailing dot: labels of letters, digits, dashes and underscores (seen in
// real MX names), 1 to 63 bytes each, not starting or ending with a dash,
// 253 bytes in all. Probe targets and allowed_targets.hosts patterns both
// go through it, so a pattern can name every target a probe accepts.
func ValidHostname(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}
