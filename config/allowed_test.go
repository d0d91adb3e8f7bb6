package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAllowedTargets(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "allowed-targets.yml"))
	if err != nil {
		t.Fatal(err)
	}
	full := cfg.AllowedTargets
	// Patterns are normalised at load time: lower case, no trailing dot.
	if got := strings.Join(full.Hosts, " "); got != "*.example.com mx.example.net" {
		t.Fatalf("hosts = %q", got)
	}
	hostsOnly := parseAllowed(t, `{hosts: ["*.example.com"]}`)
	cidrsOnly := parseAllowed(t, `{cidrs: ["10.1.0.0/16"]}`)
	privateOnly := parseAllowed(t, `{deny_private: true}`)
	empty := parseAllowed(t, `{}`)

	cases := []struct {
		name    string
		allowed *AllowedTargets
		host    string
		addr    string
		want    string // "" allowed, else the refusal reason
	}{
		{"no section allows loopback", nil, "localhost", "127.0.0.1", ""},
		{"empty section allows anything", empty, "10.0.0.1", "10.0.0.1", ""},
		{"wildcard matches a subdomain", full, "mx.example.com", "93.184.215.14", ""},
		{"wildcard matches deeper names, any case", full, "A.MX.Example.COM.", "93.184.215.14", ""},
		{"wildcard does not match the domain itself", full, "example.com", "93.184.215.14", RefusedNotAllowed},
		{"wildcard does not match a look-alike", full, "evilexample.com", "93.184.215.14", RefusedNotAllowed},
		{"exact name", full, "mx.example.net", "93.184.215.14", ""},
		{"exact name does not cover subdomains", full, "a.mx.example.net", "93.184.215.14", RefusedNotAllowed},
		{"address in a CIDR", full, "81.2.69.25", "81.2.69.25", ""},
		{"name resolving into a CIDR", full, "other.test", "81.2.69.25", ""},
		{"IPv6 in a CIDR", full, "2a01:4f8::25", "2a01:4f8::25", ""},
		{"address outside the lists", full, "93.184.216.34", "93.184.216.34", RefusedNotAllowed},
		{"allowed name resolving to loopback", full, "rebind.example.com", "127.0.0.1", RefusedPrivateAddress},
		{"allowed name resolving to a private address", full, "mx.example.com", "10.1.2.3", RefusedPrivateAddress},
		{"IPv4-mapped loopback", full, "mx.example.com", "::ffff:127.0.0.1", RefusedPrivateAddress},
		{"IPv6 loopback", privateOnly, "::1", "::1", RefusedPrivateAddress},
		{"link-local", privateOnly, "169.254.169.254", "169.254.169.254", RefusedPrivateAddress},
		{"IPv6 link-local", privateOnly, "fe80::1", "fe80::1", RefusedPrivateAddress},
		{"unique local IPv6", privateOnly, "fd00::1", "fd00::1", RefusedPrivateAddress},
		{"172.16/12", privateOnly, "172.31.255.255", "172.31.255.255", RefusedPrivateAddress},
		{"192.168/16", privateOnly, "192.168.1.1", "192.168.1.1", RefusedPrivateAddress},
		{"0.0.0.0 reaches the local host", privateOnly, "0.0.0.0", "0.0.0.0", RefusedPrivateAddress},
		{"this network", privateOnly, "0.1.2.3", "0.1.2.3", RefusedPrivateAddress},
		{"shared address space", privateOnly, "100.64.0.1", "100.64.0.1", RefusedPrivateAddress},
		{"multicast", privateOnly, "224.0.0.1", "224.0.0.1", RefusedPrivateAddress},
		{"public address with deny_private only", privateOnly, "mx.example.org", "93.184.215.14", ""},
		{"172.32 is public", privateOnly, "172.32.0.1", "172.32.0.1", ""},
		{"CIDR list admits private without deny_private", cidrsOnly, "10.1.2.3", "10.1.2.3", ""},
		{"CIDR list refuses other private ranges", cidrsOnly, "10.2.0.1", "10.2.0.1", RefusedNotAllowed},
		{"host list refuses an address literal", hostsOnly, "93.184.215.14", "93.184.215.14", RefusedNotAllowed},
		// Names from DNS answers come in presentation form: compared as
		// text, "x\.example.com" ends in ".example.com", but its labels
		// are "x.example" and "com".
		{"escaped dot in a label", hostsOnly, `x\.example.com`, "93.184.215.14", RefusedNotAllowed},
		{"escaped dot, deeper", hostsOnly, `a.x\.example.com`, "93.184.215.14", RefusedNotAllowed},
		{"escaped byte", hostsOnly, `mx\000.example.com`, "93.184.215.14", RefusedNotAllowed},
		{"escaped dot, allowed by address", full, `x\.example.com`, "81.2.69.25", ""},
		{"empty label", hostsOnly, "mx..example.com", "93.184.215.14", RefusedNotAllowed},
		{"root label only", hostsOnly, ".example.com", "93.184.215.14", RefusedNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.allowed.AllowAddr(tc.host, netip.MustParseAddr(tc.addr))
			if got := reasonOf(t, err); got != tc.want {
				t.Fatalf("AllowAddr(%s, %s) = %v, want reason %q", tc.host, tc.addr, err, tc.want)
			}
		})
	}
}

// TestAllowName checks the refusal before resolution: only a name that no
// address could make allowed is refused without a DNS lookup.
func TestAllowName(t *testing.T) {
	cases := []struct {
		allowed string // YAML of the section; "" for none
		host    string
		want    string
	}{
		{"", "anything.test", ""},
		{`{hosts: ["*.example.com"]}`, "mx.example.com", ""},
		{`{hosts: ["*.example.com"]}`, "mx.example.org", RefusedNotAllowed},
		{`{hosts: ["*.example.com"]}`, "192.0.2.1", ""}, // literals are judged by address
		{`{hosts: ["*.example.com"], cidrs: ["192.0.2.0/24"]}`, "mx.example.org", ""},
		{`{cidrs: ["192.0.2.0/24"]}`, "mx.example.org", ""},
		{`{deny_private: true}`, "localhost", ""},
		{`{hosts: ["*.example.com"]}`, `x\.example.com`, RefusedNotAllowed},
		{`{hosts: ["*.example.com"]}`, `mx.example.com\.`, RefusedNotAllowed},
		{`{hosts: ["mx.example.com"]}`, `mx\.example.com`, RefusedNotAllowed},
		{`{hosts: ["mx.example.com"]}`, "MX.Example.com.", ""},
	}
	for _, tc := range cases {
		var a *AllowedTargets
		if tc.allowed != "" {
			a = parseAllowed(t, tc.allowed)
		}
		err := a.AllowName(tc.host)
		if got := reasonOf(t, err); got != tc.want {
			t.Errorf("%s: AllowName(%s) = %v, want reason %q", tc.allowed, tc.host, err, tc.want)
		}
	}
}

func TestAllowedTargetsMessages(t *testing.T) {
	full := parseAllowed(t, `{hosts: ["*.example.com"], deny_private: true}`)
	cases := []struct {
		err  error
		want string
	}{
		{
			full.AllowAddr("mx.example.com", netip.MustParseAddr("127.0.0.1")),
			"target mx.example.com (127.0.0.1) is not allowed: the address is loopback, link-local, private or otherwise not public, and allowed_targets.deny_private is set",
		},
		{
			full.AllowAddr("10.0.0.1", netip.MustParseAddr("10.0.0.1")),
			"target 10.0.0.1 is not allowed: the address is loopback, link-local, private or otherwise not public, and allowed_targets.deny_private is set",
		},
		{
			full.AllowAddr("mx.example.org", netip.MustParseAddr("93.184.215.14")),
			"target mx.example.org (93.184.215.14) is not allowed: it matches neither allowed_targets.hosts nor allowed_targets.cidrs",
		},
		{
			full.AllowName("mx.example.org"),
			`target host "mx.example.org" is not allowed: it matches no pattern of allowed_targets.hosts`,
		},
		{
			full.AllowName(`x\.example.com`),
			`target host "x\\.example.com" is not allowed: it is not a host name (labels of letters, digits, dashes and underscores), so no pattern of allowed_targets.hosts can match it`,
		},
	}
	for _, tc := range cases {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("error = %v\nwant    %s", tc.err, tc.want)
		}
	}
}

func parseAllowed(t *testing.T, section string) *AllowedTargets {
	t.Helper()
	cfg, err := Parse([]byte("modules: {smtp: {}}\nallowed_targets: " + section + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.AllowedTargets
}

func reasonOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("error %v is not a *RefusedError", err)
	}
	return refused.Reason
}

// TestDocAllowedTargets keeps the example of docs/configuration.md valid
// and complete.
func TestDocAllowedTargets(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```yaml\nallowed_targets:")
	if !ok {
		t.Fatal("docs/configuration.md has no allowed_targets example")
	}
	block, _, _ = strings.Cut(block, "```")
	a := parseAllowed(t, "\n"+block)
	if len(a.Hosts) == 0 || len(a.CIDRs) == 0 || !a.DenyPrivate {
		t.Errorf("the example sets every field; parsed %+v", a)
	}
}

// ValidHostname is the one host-name check of probe targets and of
// allowed_targets.hosts patterns.
func TestValidHostname(t *testing.T) {
	for name, want := range map[string]bool{
		"mx.example.com":                 true,
		"MX.Example.COM":                 true,
		"_dmarc.example.com":             true,
		"a":                              true,
		"x1-2.example":                   true,
		"":                               false,
		"mx.example.com.":                false, // callers trim the root's dot
		"-mx.example.com":                false,
		"mx-.example.com":                false,
		"mx..example.com":                false,
		"mx.exämple.com":                 false,
		"mx example.com":                 false,
		"*.example.com":                  false,
		strings.Repeat("a", 63) + ".com": true,
		strings.Repeat("a", 64) + ".com": false,
		strings.Repeat("a.", 126) + "a":  true, // 253 bytes
		strings.Repeat("a.", 127) + "a":  false,
	} {
		if got := ValidHostname(name); got != want {
			t.Errorf("ValidHostname(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestDenyPrivateSpecialPurpose checks deny_private's decision on addresses
// of the IANA special-purpose registries, and on IPv6 addresses that carry
// an IPv4 one to a translator or relay. Only the decision is tested: no
// address here is dialed.
func TestDenyPrivateSpecialPurpose(t *testing.T) {
	deny := parseAllowed(t, `{deny_private: true}`)
	cases := []struct {
		addr   string
		public bool
	}{
		// IPv4.
		{"8.8.8.8", true},
		{"93.184.216.34", true},
		{"0.0.0.0", false},
		{"10.255.255.255", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"127.0.0.1", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"192.0.0.8", false},      // IETF protocol assignments
		{"192.0.2.1", false},      // TEST-NET-1
		{"192.88.99.1", false},    // 6to4 relay anycast
		{"192.168.0.1", false},    // private
		{"198.18.0.1", false},     // benchmarking
		{"198.19.255.255", false}, // benchmarking, end
		{"198.20.0.1", true},
		{"198.51.100.1", false}, // TEST-NET-2
		{"203.0.113.1", false},  // TEST-NET-3
		{"224.0.0.251", false},  // multicast
		{"239.255.255.250", false},
		{"240.0.0.1", false}, // reserved
		{"255.255.255.255", false},
		// IPv6.
		{"2a00:1450:4001:80b::200e", true},
		{"::", false},
		{"::1", false},
		{"::7f00:1", false},  // IPv4-compatible 127.0.0.1
		{"::808:808", false}, // IPv4-compatible, deprecated even when public
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:8.8.8.8", true},
		{"::ffff:0:a00:1", false}, // IPv4-translated (SIIT)
		{"64:ff9b::7f00:1", false},
		{"64:ff9b::a9fe:a9fe", false},          // NAT64 to 169.254.169.254
		{"64:ff9b::808:808", true},             // NAT64 to 8.8.8.8
		{"64:ff9b:1::808:808", false},          // local-use NAT64: the /48 format would be 0.0.0.0
		{"64:ff9b:1:808:8:800::", false},       // the /96 format would be 0.0.0.0
		{"64:ff9b:1:808:8:808:808:808", true},  // 8.8.8.8 in every format
		{"64:ff9b:1:a00:1:808:808:808", false}, // the /48 format would be 10.0.0.1
		{"100::1", false},                      // discard-only
		{"100:0:0:1::1", false},                // dummy prefix
		{"2001::1", false},                     // Teredo
		{"2001:2::1", false},                   // benchmarking
		{"2001:db8::1", false},                 // documentation
		{"3fff::1", false},                     // documentation
		{"2002:7f00:1::1", false},              // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", false},            // 6to4 of 192.168.1.1
		{"2002:808:808::1", true},              // 6to4 of 8.8.8.8
		{"5f00::1", false},                     // SRv6 SIDs
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false}, // site-local
		{"ff02::1", false},
		{"ff0e::1", false},
	}
	for _, tc := range cases {
		err := deny.AllowAddr(tc.addr, netip.MustParseAddr(tc.addr))
		if got := err == nil; got != tc.public {
			t.Errorf("%s: allowed %v, want %v (%v)", tc.addr, got, tc.public, err)
		}
	}
}
