package config

import "fmt"

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

func (m *Module) preparePolicy() error {
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
	return nil
}
