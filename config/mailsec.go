package config

import (
	"fmt"
	"net"
	"net/netip"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// DANEMode says what a probe does with the target's TLSA records (RFC 7672).
type DANEMode string

// DANE modes.
const (
	// DANEOff: no TLSA lookup.
	DANEOff DANEMode = "off"
	// DANECheck: look up TLSA records and report the DANE status; a
	// mismatch (failed) or a bogus answer fails the probe, as a DANE sender
	// would defer mail; no usable records is fine.
	DANECheck DANEMode = "check"
	// DANERequired: as check, and a target without usable, DNSSEC-secure
	// TLSA records fails too (dane_missing).
	DANERequired DANEMode = "required"
)

// MTASTSMode says what a domain probe does with the domain's MTA-STS policy
// (RFC 8461). In YAML it is false, true or enforce.
type MTASTSMode string

// MTA-STS modes.
const (
	// MTASTSOff: no MTA-STS lookup.
	MTASTSOff MTASTSMode = ""
	// MTASTSCheck (true): look up the record and the policy, judge the MX
	// hosts against it; an enforced policy the domain breaks fails the
	// probe (mta_sts_violation), a record without a usable policy too
	// (mta_sts_invalid); no MTA-STS at all is fine.
	MTASTSCheck MTASTSMode = "true"
	// MTASTSEnforce: as check, and the domain must keep a fetchable policy
	// in enforce mode: no record, or a policy in testing or none mode,
	// fails the probe (mta_sts_not_enforced).
	MTASTSEnforce MTASTSMode = "enforce"
)

// On says the module checks MTA-STS.
func (m MTASTSMode) On() bool { return m != MTASTSOff }

// UnmarshalYAML takes a boolean (what mta_sts always was) or a word, which
// the module's validation checks (so that its error names the module).
func (m *MTASTSMode) UnmarshalYAML(n *yaml.Node) error {
	var b bool
	if n.Decode(&b) == nil {
		*m = MTASTSOff
		if b {
			*m = MTASTSCheck
		}
		return nil
	}
	*m = MTASTSMode(n.Value)
	return nil
}

// MarshalYAML writes what UnmarshalYAML reads, for /config.
func (m MTASTSMode) MarshalYAML() (any, error) {
	if m == MTASTSEnforce {
		return string(m), nil
	}
	return m.On(), nil
}

func (m *Module) prepareDANEAndMTASTS() error {
	switch m.DANE {
	case "":
		m.DANE = DANEOff
	case DANEOff, DANECheck, DANERequired:
	default:
		return fmt.Errorf("dane: unknown mode %q (want off, check or required)", m.DANE)
	}
	if m.DANE != DANEOff && m.TLS == TLSNone {
		return fmt.Errorf("dane: %s needs a TLS session; tls is none", m.DANE)
	}
	switch m.MTASTS {
	case MTASTSOff, MTASTSCheck, MTASTSEnforce:
	default:
		return fmt.Errorf("mta_sts: %q is not one of false, true or enforce", string(m.MTASTS))
	}
	if m.MTASTS.On() && m.MX == nil {
		return fmt.Errorf("mta_sts: a policy belongs to a mail domain; the module needs an mx section")
	}
	if m.MTASTS.On() && m.MX.ExpectNullMX {
		return fmt.Errorf("mta_sts: a domain with mx.expect_null_mx receives no mail, so it has no MTA-STS policy to check")
	}
	if m.DANE != DANEOff && m.resolver == nil {
		// The TLSA questions need a DNS client even without a dns section:
		// the system's first nameserver, which must validate DNSSEC for
		// DANE to mean anything (docs/configuration.md: a local Unbound).
		r, err := resolver.New("")
		if err != nil {
			return fmt.Errorf("dane: no dns.server set and none found: %w", err)
		}
		m.resolver = r
	}
	return nil
}

// Warnings are what a valid config should still tell its operator, one
// line each, naming the module: logged at every load and shown on the
// landing page.
func (c *Config) Warnings() []string {
	var out []string
	for _, name := range c.ModuleNames() {
		for _, w := range c.Modules[name].Warnings() {
			out = append(out, fmt.Sprintf("module %q: %s", name, w))
		}
	}
	return out
}

// Warnings are what the module's valid settings should still tell its
// operator.
func (m *Module) Warnings() []string {
	if w := m.daneTrustWarning(); w != "" {
		return []string{w}
	}
	return nil
}

// daneTrustWarning says where a DANE module's DNSSEC trust comes from when
// that is not this machine: the AD bit of a resolver elsewhere means only
// that some packet on the network said so, which anyone on the path can
// forge: the bit is worth the path it came over.
func (m *Module) daneTrustWarning() string {
	if m.DANE == DANEOff || m.resolver == nil {
		return ""
	}
	server := m.resolver.Server()
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		host = server
	}
	if addr, err := netip.ParseAddr(host); err == nil && addr.IsLoopback() {
		return ""
	}
	from := "dns.server"
	if m.DNS == nil || m.DNS.Server == "" {
		from = "the first nameserver of " + resolver.ResolvConf
	}
	return fmt.Sprintf("dane: %s: DNSSEC is trusted through the AD bit of %s (%s), which is not on this machine: anyone on the path to it can forge a secure answer; set dns.server to a validating resolver on loopback (127.0.0.1:53, ::1)",
		m.DANE, server, from)
}
