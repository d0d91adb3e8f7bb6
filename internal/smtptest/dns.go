package smtptest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// NewResolver starts a DNS server on loopback that knows only hosts (names
// without the trailing dot) and answers NXDOMAIN for anything else, and
// returns a resolver that asks it, so tests never reach a real DNS server.
func NewResolver(t T, hosts map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	return NewZoneResolver(t, Zone{Hosts: hosts})
}

// Zone is what NewZoneResolver's DNS server knows.
type Zone struct {
	// Hosts maps names (no trailing dot) to their A and AAAA addresses.
	Hosts map[string][]netip.Addr
	// PTR maps addresses to their PTR names (no trailing dot).
	PTR map[netip.Addr][]string
	// ServFail lists names (reverse names included, as
	// 1.0.0.127.in-addr.arpa) answered SERVFAIL.
	ServFail []string
}

// NewZoneResolver is NewResolver with PTR records and failures.
func NewZoneResolver(t T, zone Zone) *net.Resolver {
	t.Helper()
	hosts := zone.Hosts
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := answerDNS(buf[:n], hosts, zone); resp != nil {
				_, _ = pc.WriteTo(resp, from) // a lost answer is a retry for the client
			}
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
}

// answerDNS builds the reply to a single-question query.
func answerDNS(q []byte, hosts map[string][]netip.Addr, zone Zone) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	// Read the question name.
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	question := q[12 : i+5]
	name := strings.ToLower(strings.Join(labels, "."))

	addrs, known := hosts[name]
	var answers [][]byte
	for a, names := range zone.PTR {
		if reverseName(a) != name {
			continue
		}
		known = true
		for _, n := range names {
			if qtype == 12 {
				answers = append(answers, wireName(n))
			}
		}
	}
	for _, a := range addrs {
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			answers = append(answers, b[:])
		case qtype == 28 && a.Is6() && !a.Is4In6():
			b := a.As16()
			answers = append(answers, b[:])
		}
	}
	resp := make([]byte, 12, 512)
	copy(resp[0:2], q[0:2])
	flags := uint16(0x8180) // response, recursion desired and available
	switch {
	case slices.Contains(zone.ServFail, name):
		flags |= 2 // SERVFAIL
		answers = nil
	case !known:
		flags |= 3 // NXDOMAIN
	}
	binary.BigEndian.PutUint16(resp[2:4], flags)
	binary.BigEndian.PutUint16(resp[4:6], 1)
	binary.BigEndian.PutUint16(resp[6:8], uint16(len(answers)))
	resp = append(resp, question...)
	for _, rdata := range answers {
		resp = append(resp, 0xc0, 12) // pointer to the question name
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // class IN
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

// reverseName is the in-addr.arpa or ip6.arpa name of a.
func reverseName(a netip.Addr) string {
	a = a.Unmap()
	var labels []string
	if a.Is4() {
		b := a.As4()
		for i := 3; i >= 0; i-- {
			labels = append(labels, strconv.Itoa(int(b[i])))
		}
		return strings.Join(labels, ".") + ".in-addr.arpa"
	}
	b := a.As16()
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		labels = append(labels, string(hex[b[i]&0xf]), string(hex[b[i]>>4]))
	}
	return strings.Join(labels, ".") + ".ip6.arpa"
}

// wireName encodes a domain name as DNS labels, uncompressed.
func wireName(name string) []byte {
	var b []byte
	for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}
