package config

import (
	"fmt"

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
	if m.MTASTS && m.MX == nil {
		return fmt.Errorf("mta_sts: a policy belongs to a mail domain; the module needs an mx section")
	}
	if m.DANE != DANEOff && m.resolver == nil {
		// The TLSA questions need a DNS client even without a dns section:
		// the system's first nameserver, which must validate DNSSEC for
		// DANE to mean anything (README: a local Unbound).
		r, err := resolver.New("")
		if err != nil {
			return fmt.Errorf("dane: no dns.server set and none found: %w", err)
		}
		m.resolver = r
	}
	return nil
}
