package config

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// fqdnLookupTimeout bounds the one look-up of the machine's own name.
const fqdnLookupTimeout = 2 * time.Second

var defaultEHLO = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(context.Background(), fqdnLookupTimeout)
	defer cancel()
	return fqdn(ctx, host, net.DefaultResolver)
})

// DefaultEHLOName is the name a module without ehlo_hostname sends with
// EHLO: the machine's fully qualified name, or "" when it has none, in which
// case the prober sends the address literal of its local address. Servers
// with reject_non_fqdn_helo_hostname (and many MX hosts) refuse a bare
// short name such as "vm", so that is never used. Found once per process.
func DefaultEHLOName() string { return defaultEHLO() }

// hostResolver is the part of net.Resolver that fqdn uses.
type hostResolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// fqdn finds host's fully qualified name as `hostname -f` does: the host
// name itself when it has a dot, else a name its addresses map back to
// (/etc/hosts, then DNS) that starts with "host.".
func fqdn(ctx context.Context, host string, r hostResolver) string {
	host = strings.TrimSuffix(host, ".")
	if host == "" || !validEHLOName(host) {
		return ""
	}
	if strings.Contains(host, ".") {
		return host
	}
	addrs, err := r.LookupHost(ctx, host)
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		names, err := r.LookupAddr(ctx, a)
		if err != nil {
			continue
		}
		for _, n := range names {
			n = strings.TrimSuffix(n, ".")
			if strings.HasPrefix(strings.ToLower(n), strings.ToLower(host)+".") && validEHLOName(n) {
				return n
			}
		}
	}
	return ""
}

// validEHLOName accepts letters, digits, dots and dashes, which is what a
// domain in EHLO may hold; anything else is not sent.
func validEHLOName(s string) bool {
	if len(s) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}
