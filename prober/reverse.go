package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// Bounds on what reverse DNS may add to a result.
const (
	maxPTRNames = 10
	// maxConfirmedPTRNames is how many of the PTR names are looked up to
	// see whether they resolve back (one question each, of the address's
	// family): real addresses have one PTR name, and a reverse zone that
	// lists ten would make every probe ask for ten names of its choosing.
	maxConfirmedPTRNames = 2
	// maxHostnameBytes is the longest DNS name in text form.
	maxHostnameBytes = 253
)

// ReverseResolver is what the reverse DNS checks need of a resolver. A
// name that does not exist, or has no records of the type (NXDOMAIN,
// NODATA), is an answer: no names, no error. An error is a failure to
// answer.
type ReverseResolver interface {
	LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error)
	// LookupIP returns host's addresses of one family: network is "ip4"
	// (A records) or "ip6" (AAAA).
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// NetReverseResolver asks through a net.Resolver (the system's
// configuration, /etc/hosts first).
type NetReverseResolver struct{ R *net.Resolver }

// LookupPTR implements ReverseResolver.
func (n NetReverseResolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	names, err := n.R.LookupAddr(ctx, addr.String())
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
		return nil, nil
	}
	return names, err
}

// LookupIP implements ReverseResolver.
func (n NetReverseResolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	addrs, err := n.R.LookupNetIP(ctx, network, host)
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
		return nil, nil
	}
	return addrs, err
}

// DNSReverseResolver asks the module's DNS server (its dns section)
// directly, as the mail-domain probes do.
type DNSReverseResolver struct{ R *resolver.Resolver }

// LookupPTR implements ReverseResolver.
func (d DNSReverseResolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	names, _, err := d.R.LookupPTR(ctx, addr)
	if resolver.IsNotFound(err) {
		return nil, nil
	}
	return names, err
}

// LookupIP implements ReverseResolver.
func (d DNSReverseResolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	addrs, _, err := d.R.LookupFamily(ctx, host, network == "ip6")
	if resolver.IsNotFound(err) {
		return nil, nil
	}
	return addrs, err
}

// lookupReverse finds the PTR names of addr and which of them resolve back
// to it. It is a plain function of the resolver so that it can run beside
// the SMTP conversation.
//
// clean is the probe's one way for outside text into a result (see
// probe.clean); it only reads the probe, so it is safe on another goroutine.
func lookupReverse(ctx context.Context, r ReverseResolver, addr netip.Addr, clean func(string, int) string) *ReverseDNSInfo {
	info := &ReverseDNSInfo{}
	names, err := r.LookupPTR(ctx, addr)
	if err != nil {
		info.Error = clean(fmt.Sprintf("PTR lookup of %s: %v", addr, err), MaxErrorBytes)
		return info
	}
	info.Conclusive = true
	for _, n := range names {
		n = clean(normalizeName(n), maxHostnameBytes)
		if n == "" || slices.Contains(info.PTR, n) {
			continue
		}
		if len(info.PTR) == maxPTRNames {
			break
		}
		info.PTR = append(info.PTR, n)
	}
	var errs []string
	network := "ip4"
	if !addr.Unmap().Is4() {
		network = "ip6"
	}
	for _, n := range info.PTR[:min(len(info.PTR), maxConfirmedPTRNames)] {
		addrs, err := r.LookupIP(ctx, network, n)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n, err))
		}
		if slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Unmap() == addr.Unmap() }) {
			info.ConfirmedPTR = append(info.ConfirmedPTR, n)
		}
	}
	info.FCrDNS = len(info.ConfirmedPTR) > 0
	if len(errs) > 0 && !info.FCrDNS {
		// A failed forward lookup may hide the name that confirms.
		info.Error = clean("forward lookup of "+strings.Join(errs, "; "), MaxErrorBytes)
	}
	return info
}

// normalizeName lower-cases a DNS name and drops the trailing dot.
func normalizeName(n string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
}

// bannerHostname is the name a greeting gives, from the text of its first
// line ("mx.example.net ESMTP Postfix"): RFC 5321 puts the server's domain
// or address literal first.
func (p *conversation) bannerHostname(reply Reply) string {
	if len(reply.Lines) == 0 {
		return ""
	}
	fields := strings.Fields(reply.Lines[0])
	if len(fields) == 0 {
		return ""
	}
	return p.clean(normalizeName(fields[0]), maxHostnameBytes)
}

// startReverseDNS runs the lookups of lookupReverse for the address connected
// to, in the background so that they overlap the conversation; wait
// returns the result.
func (p *conversation) startReverseDNS(addr netip.Addr) (wait func() *ReverseDNSInfo) {
	ch := make(chan *ReverseDNSInfo, 1)
	r := p.resolvers.Reverse
	go func() { ch <- lookupReverse(p.ctx, r, addr, p.clean) }()
	return func() *ReverseDNSInfo { return <-ch }
}

// finishReverseDNS records the lookups' outcome and compares it with the greeting.
func (p *conversation) finishReverseDNS(info *ReverseDNSInfo) {
	p.result.ReverseDNS = info
	if !info.Conclusive {
		p.note("reverse DNS not conclusive: %s", info.Error)
		return
	}
	if b := p.result.BannerHostname; b != "" {
		info.BannerMatchesPTR = slices.Contains(info.PTR, b)
	}
	switch {
	case len(info.PTR) == 0:
		p.note("reverse DNS: %s has no PTR name", p.result.IP)
	case info.FCrDNS:
		p.note("reverse DNS: %s is %s, which resolves back to it", p.result.IP, strings.Join(info.ConfirmedPTR, ", "))
	default:
		p.note("reverse DNS: %s is %s, which does not resolve back to it", p.result.IP, strings.Join(info.PTR, ", "))
	}
}
