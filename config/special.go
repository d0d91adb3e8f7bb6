package config

import (
	"net/netip"
)

// The address ranges deny_private refuses, from the IANA IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890 and the RFCs they list):
// every range that is not globally reachable, and those reserved or
// deprecated, which no mail server a probe should reach lies in. Multicast
// (224.0.0.0/4, ff00::/8) is refused too. A range that is globally
// reachable (AS112, AMT, the NAT64 well-known prefix) is public, but an
// IPv6 address embedding an IPv4 one is judged by that IPv4 address too,
// since a translator or relay delivers the connection there.
var (
	special4 = prefixes(
		"0.0.0.0/8",          // "this network"; 0.0.0.0 reaches the local host on Linux (RFC 791)
		"10.0.0.0/8",         // private (RFC 1918)
		"100.64.0.0/10",      // shared address space, carrier-grade NAT (RFC 6598)
		"127.0.0.0/8",        // loopback (RFC 1122)
		"169.254.0.0/16",     // link-local (RFC 3927)
		"172.16.0.0/12",      // private (RFC 1918)
		"192.0.0.0/24",       // IETF protocol assignments, DS-Lite, NAT64 discovery (RFC 6890)
		"192.0.2.0/24",       // documentation TEST-NET-1 (RFC 5737)
		"192.88.99.0/24",     // deprecated 6to4 relay anycast (RFC 7526)
		"192.168.0.0/16",     // private (RFC 1918)
		"198.18.0.0/15",      // benchmarking (RFC 2544)
		"198.51.100.0/24",    // documentation TEST-NET-2 (RFC 5737)
		"203.0.113.0/24",     // documentation TEST-NET-3 (RFC 5737)
		"224.0.0.0/4",        // multicast (RFC 5771)
		"240.0.0.0/4",        // reserved (RFC 1112)
		"255.255.255.255/32", // limited broadcast (RFC 919), inside 240/4, listed for the reader
	)
	special6 = prefixes(
		"::/96",           // unspecified, loopback, IPv4-compatible (deprecated, RFC 4291)
		"::ffff:0:0:0/96", // IPv4-translated, SIIT (RFC 2765, obsolete)
		"100::/64",        // discard-only (RFC 6666)
		"100:0:0:1::/64",  // dummy prefix (RFC 9780)
		"2001::/23",       // IETF protocol assignments: Teredo, benchmarking, ORCHID (RFC 2928)
		"2001:db8::/32",   // documentation (RFC 3849)
		"3fff::/20",       // documentation (RFC 9637)
		"5f00::/16",       // segment routing SIDs (RFC 9602)
		"fc00::/7",        // unique local (RFC 4193)
		"fe80::/10",       // link-local (RFC 4291)
		"fec0::/10",       // site-local, deprecated (RFC 3879)
		"ff00::/8",        // multicast (RFC 4291)
	)
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052: IPv4 in the last 32 bits
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215: any RFC 6052 format
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056: IPv4 in bits 16 to 47
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// isPublic says whether addr is globally reachable, so that deny_private
// lets a probe dial it.
func isPublic(addr netip.Addr) bool {
	addr = addr.WithZone("")
	if addr.Is4In6() {
		return isPublic4(addr.Unmap())
	}
	if addr.Is4() {
		return isPublic4(addr)
	}
	for _, p := range special6 {
		if p.Contains(addr) {
			return false
		}
	}
	for _, v4 := range embeddedIPv4(addr) {
		if !isPublic4(v4) {
			return false
		}
	}
	return true
}

func isPublic4(addr netip.Addr) bool {
	for _, p := range special4 {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// embeddedIPv4 returns the IPv4 addresses an IPv6 address may carry to a
// translator or relay: the NAT64 well-known prefix's, 6to4's, and for the
// local-use NAT64 prefix every place RFC 6052 may put it under a /48, /56,
// /64 or /96 translator prefix (which one a network uses is not known
// here, so each must be public). Bits 64 to 71, the "u" octet, are skipped.
func embeddedIPv4(addr netip.Addr) []netip.Addr {
	b := addr.As16()
	v4 := func(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }
	switch {
	case nat64WellKnown.Contains(addr):
		return []netip.Addr{v4(b[12], b[13], b[14], b[15])}
	case sixToFour.Contains(addr):
		return []netip.Addr{v4(b[2], b[3], b[4], b[5])}
	case nat64LocalUse.Contains(addr):
		return []netip.Addr{
			v4(b[6], b[7], b[9], b[10]),    // /48 prefix
			v4(b[7], b[9], b[10], b[11]),   // /56
			v4(b[9], b[10], b[11], b[12]),  // /64
			v4(b[12], b[13], b[14], b[15]), // /96
		}
	}
	return nil
}
