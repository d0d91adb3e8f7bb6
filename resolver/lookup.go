package resolver

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// MX is one mail exchanger.
type MX struct {
	// Host is lower case without the trailing dot; "." for a null MX
	// (RFC 7505).
	Host       string `json:"host"`
	Preference uint16 `json:"preference"`
}

// IsNull says the record is RFC 7505's "MX 0 .": no mail accepted.
func (m MX) IsNull() bool { return m.Host == "." }

// LookupMX returns the MX records of domain sorted by preference, then by
// name (RFC 5321 leaves ties in any order; a fixed order keeps probes and
// their series stable).
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, *Answer, error) {
	ans, err := r.Query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, ans, err
	}
	mxs := make([]MX, 0, len(ans.Records))
	for _, rr := range ans.Records {
		mx := rr.(*dns.MX)
		mxs = append(mxs, MX{Host: display(mx.Mx), Preference: mx.Preference})
	}
	slices.SortFunc(mxs, func(a, b MX) int {
		if a.Preference != b.Preference {
			return int(a.Preference) - int(b.Preference)
		}
		return strings.Compare(a.Host, b.Host)
	})
	mxs = slices.Compact(mxs)
	return mxs, ans, nil
}

// Addrs is what the A and AAAA questions for one host brought back.
type Addrs struct {
	// Addrs holds the IPv4 addresses, then the IPv6 ones, each family in
	// the order of the answer, without duplicates.
	Addrs []netip.Addr
	// A and AAAA are the two answers (nil when the question failed before
	// an answer); ErrA and ErrAAAA their errors.
	A, AAAA       *Answer
	ErrA, ErrAAAA error
}

// Secure says both answers were DNSSEC-validated.
func (a *Addrs) Secure() bool {
	return a.A != nil && a.A.Secure && a.AAAA != nil && a.AAAA.Secure
}

// Err is why the host has no address: nil when it has one. When one
// family failed (not merely had none) the other one's addresses still
// count; Partial reports that failure.
func (a *Addrs) Err() error {
	if len(a.Addrs) > 0 {
		return nil
	}
	// Prefer the error that is not merely "no records of this type": a
	// SERVFAIL on AAAA explains more than NODATA on A.
	switch {
	case a.ErrA != nil && !IsNotFound(a.ErrA):
		return a.ErrA
	case a.ErrAAAA != nil && !IsNotFound(a.ErrAAAA):
		return a.ErrAAAA
	case KindOf(a.ErrA) == KindNXDomain:
		return a.ErrA
	case a.ErrA != nil:
		return &Error{Kind: KindNoData, Name: a.nameOf(), Type: "A or AAAA", Server: serverOf(a.ErrA)}
	case a.ErrAAAA != nil:
		return a.ErrAAAA
	}
	return &Error{Kind: KindNoData, Type: "A or AAAA"}
}

// Partial is the failure of one family's question when the host has
// addresses anyway (nil otherwise): worth a warning, not a verdict.
func (a *Addrs) Partial() error {
	if len(a.Addrs) == 0 {
		return nil
	}
	for _, err := range []error{a.ErrA, a.ErrAAAA} {
		if err != nil && !IsNotFound(err) {
			return err
		}
	}
	return nil
}

func (a *Addrs) nameOf() string {
	if e, ok := errors.AsType[*Error](a.ErrA); ok {
		return e.Name
	}
	return ""
}

func serverOf(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Server
	}
	return ""
}

// LookupAddrs asks for A and AAAA of host at once.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) *Addrs {
	res := &Addrs{}
	var wg sync.WaitGroup
	wg.Go(func() { res.AAAA, res.ErrAAAA = r.Query(ctx, host, dns.TypeAAAA) })
	res.A, res.ErrA = r.Query(ctx, host, dns.TypeA)
	wg.Wait()
	add := func(ip netip.Addr) {
		if ip.IsValid() && !slices.Contains(res.Addrs, ip) {
			res.Addrs = append(res.Addrs, ip)
		}
	}
	if res.ErrA == nil {
		for _, rr := range res.A.Records {
			ip, _ := netip.AddrFromSlice(rr.(*dns.A).A.To4())
			add(ip)
		}
	}
	if res.ErrAAAA == nil {
		for _, rr := range res.AAAA.Records {
			ip, _ := netip.AddrFromSlice(rr.(*dns.AAAA).AAAA.To16())
			add(ip.Unmap())
		}
	}
	return res
}

// LookupFamily returns the addresses of host of one family: A records
// (ipv6 false) or AAAA records, one question.
func (r *Resolver) LookupFamily(ctx context.Context, host string, ipv6 bool) ([]netip.Addr, *Answer, error) {
	qtype := dns.TypeA
	if ipv6 {
		qtype = dns.TypeAAAA
	}
	ans, err := r.Query(ctx, host, qtype)
	if err != nil {
		return nil, ans, err
	}
	out := make([]netip.Addr, 0, len(ans.Records))
	for _, rr := range ans.Records {
		var ip netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			ip, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			ip, _ = netip.AddrFromSlice(v.AAAA.To16())
		}
		if ip.IsValid() && !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	return out, ans, nil
}

// LookupTXT returns the TXT records at name, each record's strings joined
// (RFC 7208 §3.3, RFC 8461 §3.1 read a record that way).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, *Answer, error) {
	ans, err := r.Query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, ans, err
	}
	out := make([]string, 0, len(ans.Records))
	for _, rr := range ans.Records {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, ans, nil
}

// LookupPTR returns the names of addr's PTR records (lower case, without
// the trailing dot).
func (r *Resolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, *Answer, error) {
	rev, err := dns.ReverseAddr(addr.Unmap().String())
	if err != nil {
		return nil, nil, &Error{Kind: KindBadAnswer, Name: addr.String(), Type: "PTR", Server: r.server, Err: err}
	}
	ans, err := r.Query(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, ans, err
	}
	out := make([]string, 0, len(ans.Records))
	for _, rr := range ans.Records {
		out = append(out, display(rr.(*dns.PTR).Ptr))
	}
	return out, ans, nil
}
