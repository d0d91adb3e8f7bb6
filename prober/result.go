// Package prober holds one SMTP conversation with one target and records
// what happened: each phase with its duration and reply code, the EHLO
// extensions, the TLS state and certificates, DANE, reverse DNS, the TLS
// posture, and one failure reason. It is the connection below a mail
// domain's fan-out (package maildomain), which hands it each (MX host,
// address) pair as a Target. It knows nothing of Prometheus; the
// collector, the debug report and the probe command all read its Result.
package prober

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Reason is why a probe failed. The values are a public interface: alerts
// and dashboards match on them.
type Reason string

// Failure reasons, one per failed probe.
const (
	ReasonResolve               Reason = "resolve"
	ReasonConnectRefused        Reason = "connect_refused"
	ReasonConnectTimeout        Reason = "connect_timeout"
	ReasonConnectUnreachable    Reason = "connect_unreachable"
	ReasonConnectionClosed      Reason = "connection_closed"
	ReasonConnectionReset       Reason = "connection_reset"
	ReasonBannerTimeout         Reason = "banner_timeout"
	ReasonBannerRejected        Reason = "banner_rejected"
	ReasonProtocolError         Reason = "protocol_error"
	ReasonEHLORejected          Reason = "ehlo_rejected"
	ReasonStartTLSNotAdvertised Reason = "starttls_not_advertised"
	ReasonStartTLSRejected      Reason = "starttls_rejected"
	ReasonTLSHandshakeFailed    Reason = "tls_handshake_failed"
	ReasonCertExpired           Reason = "cert_expired"
	ReasonCertUntrusted         Reason = "cert_untrusted"
	ReasonCertHostnameMismatch  Reason = "cert_hostname_mismatch"
	ReasonAuthNotAdvertised     Reason = "auth_not_advertised"
	ReasonAuthBeforeTLS         Reason = "auth_before_tls"
	ReasonAuthFailed            Reason = "auth_failed"
	ReasonTimeout               Reason = "timeout"
	ReasonMailRejected          Reason = "mail_rejected"
	ReasonRcptRejected          Reason = "rcpt_rejected"
	ReasonRelayAccepted         Reason = "relay_accepted"
	ReasonBannerMismatch        Reason = "banner_mismatch"
	ReasonLegacyTLSAccepted     Reason = "legacy_tls_accepted"
	// ReasonStartTLSStripped: a middlebox rewrote STARTTLS out of the EHLO
	// reply (see StrippedStartTLS), instead of starttls_not_advertised.
	ReasonStartTLSStripped Reason = "starttls_stripped"
)

// Reasons lists every failure reason in a fixed order, so that every probe
// can report all of them (stable series for alerting).
var Reasons = []Reason{
	ReasonResolve, ReasonConnectRefused, ReasonConnectTimeout, ReasonConnectUnreachable,
	ReasonConnectionClosed, ReasonConnectionReset, ReasonBannerTimeout, ReasonBannerRejected,
	ReasonProtocolError, ReasonEHLORejected, ReasonStartTLSNotAdvertised, ReasonStartTLSRejected,
	ReasonTLSHandshakeFailed, ReasonCertExpired, ReasonCertUntrusted, ReasonCertHostnameMismatch,
	ReasonAuthNotAdvertised, ReasonAuthBeforeTLS, ReasonAuthFailed, ReasonTimeout,
	ReasonMailRejected, ReasonRcptRejected, ReasonRelayAccepted, ReasonBannerMismatch,
	ReasonDANEFailed, ReasonDANEBogus, ReasonDANEMissing,
	ReasonLegacyTLSAccepted, ReasonStartTLSStripped,
}

// Phase is one step of the conversation.
type Phase string

// Phases of a probe, in conversation order.
const (
	PhaseResolve      Phase = "resolve"
	PhaseConnect      Phase = "connect"
	PhaseBanner       Phase = "banner"
	PhaseEHLO         Phase = "ehlo"
	PhaseStartTLS     Phase = "starttls"
	PhaseTLSHandshake Phase = "tls_handshake"
	PhaseEHLOTLS      Phase = "ehlo_tls"
	PhaseAuth         Phase = "auth"
	PhaseMail         Phase = "mail"
	PhaseRcpt         Phase = "rcpt"
	PhaseQuit         Phase = "quit"
)

// Phases lists every phase in conversation order.
var Phases = []Phase{
	PhaseResolve, PhaseConnect, PhaseBanner, PhaseEHLO, PhaseStartTLS,
	PhaseTLSHandshake, PhaseEHLOTLS, PhaseAuth, PhaseMail, PhaseRcpt, PhaseQuit,
}

// ReplyPhases are the phases that end with an SMTP reply code.
var ReplyPhases = []Phase{PhaseBanner, PhaseEHLO, PhaseStartTLS, PhaseEHLOTLS, PhaseAuth, PhaseMail, PhaseRcpt}

// Result is everything one probe found out.
type Result struct {
	Target string    `json:"target"`
	Module string    `json:"module"`
	Host   string    `json:"host"`
	Port   int       `json:"port,string"` // a string in JSON, as it always was
	Start  time.Time `json:"start"`
	// Duration is the whole probe, resolution to QUIT.
	Duration time.Duration `json:"duration_ns"`

	// IP is the address connected to (or tried); IPProtocol is 4 or 6 (0: none chosen).
	IP         netip.Addr `json:"ip,omitzero"`
	IPProtocol int        `json:"ip_protocol,omitempty"`

	Success bool `json:"success"`
	// Failure is the one reason the probe failed; empty on success.
	Failure Reason `json:"failure,omitempty"`
	// Error explains Failure in words.
	Error string `json:"error,omitempty"`
	// Refused is set when Options.AllowList forbade the target: the probe
	// ended before any connection, and the target itself did not fail.
	Refused error `json:"-"`
	// Warnings are the problems found that did not fail the probe, by the
	// module's settings (a bad certificate on an opportunistic module, a
	// refused STARTTLS there, AUTH before TLS without fail_if_auth_before_tls).
	Warnings []Warning `json:"warnings,omitempty"`
	// AlsoFailed are further problems that would have failed the probe,
	// seen besides Failure, such as a bad certificate on a probe that also
	// failed AUTH.
	AlsoFailed []string `json:"also_failed,omitempty"`

	// Phases holds every phase in conversation order, reached or not.
	Phases []PhaseResult `json:"phases"`

	// EHLO is the reply to EHLO on the clear-text session (or, for implicit
	// TLS, inside TLS); EHLOTLS the reply to EHLO after STARTTLS.
	EHLO    *EHLOInfo `json:"ehlo,omitempty"`
	EHLOTLS *EHLOInfo `json:"ehlo_tls,omitempty"`

	StartTLSAdvertised bool `json:"starttls_advertised"`
	// Encrypted says whether the session ended up under TLS.
	Encrypted bool `json:"encrypted"`
	// AuthBeforeTLS says AUTH was advertised on a clear-text session.
	AuthBeforeTLS bool `json:"auth_before_tls"`
	// AuthConfigured says the module has credentials; AuthSuccess whether they were accepted.
	AuthConfigured bool   `json:"auth_configured"`
	AuthSuccess    bool   `json:"auth_success"`
	AuthMechanism  string `json:"auth_mechanism,omitempty"`

	TLS *TLSInfo `json:"tls,omitempty"`
	// DANE is the DANE verification of the session (nil: the module's dane is
	// off, or the target is an address).
	DANE *DANEResult `json:"dane,omitempty"`

	// BannerHostname is the name the server gave in its greeting (the
	// first word after 220), sanitized and capped; empty when none.
	BannerHostname string `json:"banner_hostname,omitempty"`
	// ReverseDNS is what DNS says of the address connected to (module
	// setting reverse_dns); nil when not looked up.
	ReverseDNS *ReverseDNSInfo `json:"reverse_dns,omitempty"`

	// Posture holds the TLS posture checks (module setting tls_posture),
	// one extra connection each; nil when they did not run.
	Posture []PostureCheck `json:"posture,omitempty"`

	// Injection is the STARTTLS injection check (module setting
	// starttls_injection_check), its own connection; nil when not asked.
	Injection *InjectionCheck `json:"starttls_injection,omitempty"`

	// Egress is the vantage's egress state for the probe's port and
	// family (nil: no egress canary covers them); see EgressInfo.
	Egress *EgressInfo `json:"egress,omitempty"`

	Transcript []TranscriptLine `json:"transcript"`
}

// Warning is a problem that did not fail the probe. In JSON it is the
// string "reason: message", the form the warnings field always had.
type Warning struct {
	Reason  Reason
	Message string
}

// MarshalText writes "reason: message".
func (w Warning) MarshalText() ([]byte, error) {
	return []byte(string(w.Reason) + ": " + w.Message), nil
}

// UnmarshalText reads "reason: message".
func (w *Warning) UnmarshalText(b []byte) error {
	reason, msg, _ := strings.Cut(string(b), ": ")
	w.Reason, w.Message = Reason(reason), msg
	return nil
}

// setAddr records the address connected to (or tried).
func (r *Result) setAddr(addr netip.Addr) {
	r.IP, r.IPProtocol = addr, 4
	if !addr.Is4() {
		r.IPProtocol = 6
	}
}

// HasWarning reports whether the probe found reason as a warning.
func (r *Result) HasWarning(reason Reason) bool {
	for _, w := range r.Warnings {
		if w.Reason == reason {
			return true
		}
	}
	return false
}

// PhaseResult is one phase's outcome.
type PhaseResult struct {
	Phase    Phase         `json:"phase"`
	Reached  bool          `json:"reached"`
	Duration time.Duration `json:"duration_ns"`
	// ReplyCode is the last SMTP reply code of the phase (0: none).
	ReplyCode int `json:"reply_code,omitempty"`
}

// EHLOInfo is a parsed EHLO reply.
type EHLOInfo struct {
	// Domain is the server's name from the first reply line.
	Domain     string      `json:"domain"`
	Extensions []Extension `json:"extensions"`
	// AuthMechanisms are the SASL mechanisms of the AUTH extension, upper case.
	AuthMechanisms []string `json:"auth_mechanisms,omitempty"`
	// SizeLimit is the SIZE extension's limit in bytes (0: none declared).
	SizeLimit int64 `json:"size_limit,omitempty"`
}

// Extension is one EHLO keyword and its parameters.
type Extension struct {
	Keyword string   `json:"keyword"`
	Params  []string `json:"params,omitempty"`
}

// Has reports whether the reply advertises an extension keyword.
func (e *EHLOInfo) Has(keyword string) bool {
	if e == nil {
		return false
	}
	for _, x := range e.Extensions {
		if x.Keyword == keyword {
			return true
		}
	}
	return false
}

// TLSInfo is the state of the TLS session and what was learned of its certificates.
type TLSInfo struct {
	Version    TLSVersion `json:"version"`
	Cipher     string     `json:"cipher"`
	ServerName string     `json:"server_name,omitempty"`
	// Certificates is the chain as the server presented it, leaf first.
	Certificates []CertInfo `json:"certificates"`
	// Verified says the chain leads to a trusted root and matches the host name.
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verify_error,omitempty"`
	// VerifiedChain is the chain that verified (leaf first), if any.
	VerifiedChain []CertInfo `json:"verified_chain,omitempty"`
	// EarliestExpiry is the soonest NotAfter among the presented certificates.
	EarliestExpiry time.Time `json:"earliest_expiry"`
	// LastChainExpiry is the soonest NotAfter in the verified chain, or in
	// the presented chain when none verified.
	LastChainExpiry time.Time `json:"last_chain_expiry"`
	// ChainCertificates counts the certificates the server presented
	// (Certificates holds at most the first 16).
	ChainCertificates int `json:"chain_certificates"`
	// OCSP is the OCSP response stapled to the handshake; nil when none was.
	OCSP *OCSPInfo `json:"ocsp,omitempty"`
}

// TLSVersion is a TLS protocol version as the handshake gives it
// (tls.VersionTLS12, ...): compared as a number, written as "TLS 1.2".
type TLSVersion uint16

// String is the version as reports and labels write it: "TLS 1.2", or
// "unknown (0x0305)" for a version without a name.
func (v TLSVersion) String() string {
	switch v {
	case tls.VersionTLS10:
		return "TLS 1.0"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("unknown (0x%04x)", uint16(v))
}

// MarshalText writes String, the form the JSON always had.
func (v TLSVersion) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (v *TLSVersion) UnmarshalText(b []byte) error {
	s := string(b)
	for _, known := range []TLSVersion{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		if s == known.String() {
			*v = known
			return nil
		}
	}
	var n uint16
	if _, err := fmt.Sscanf(s, "unknown (0x%04x)", &n); err != nil {
		return fmt.Errorf("TLS version %q: want TLS 1.0 to TLS 1.3, or unknown (0xNNNN)", s)
	}
	*v = TLSVersion(n)
	return nil
}

// OCSP certificate statuses, as the probe_tls_ocsp_status label says them.
const (
	OCSPGood    = "good"
	OCSPRevoked = "revoked"
	OCSPUnknown = "unknown"
)

// OCSPStatuses lists every status in a fixed order (stable series).
var OCSPStatuses = []string{OCSPGood, OCSPRevoked, OCSPUnknown}

// OCSPInfo is what a stapled OCSP response says about the leaf.
type OCSPInfo struct {
	// Valid says the response parsed, answers for the leaf and its
	// signature verifies against the leaf's issuer. Only a valid response's
	// status is reported: a forged or mangled one says nothing.
	Valid bool `json:"valid"`
	// Error says why the response is not valid.
	Error string `json:"error,omitempty"`
	// Status is good, revoked or unknown (empty when not valid).
	Status     string    `json:"status,omitempty"`
	ProducedAt time.Time `json:"produced_at,omitzero"`
	ThisUpdate time.Time `json:"this_update,omitzero"`
	// NextUpdate is when the responder promises fresher news (zero: none given).
	NextUpdate time.Time `json:"next_update,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// CertInfo describes one certificate.
type CertInfo struct {
	Subject string   `json:"subject"`
	Issuer  string   `json:"issuer"`
	SANs    []string `json:"sans,omitempty"`
	// SANsNotReported counts the names past the bounds on what a result
	// keeps (64 a certificate, 4 KiB in all).
	SANsNotReported   int       `json:"sans_not_reported,omitempty"`
	SerialNumber      string    `json:"serial_number"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	NotBefore         time.Time `json:"not_before"`
	NotAfter          time.Time `json:"not_after"`
	IsCA              bool      `json:"is_ca"`
	// KeyType is rsa, ecdsa, ed25519, or the Go name of another algorithm;
	// KeyBits the key's size (the modulus for RSA, the curve for ECDSA).
	KeyType string `json:"key_type"`
	KeyBits int    `json:"key_bits,omitempty"`
	// SignatureAlgorithm is how the issuer signed it, in Go's spelling
	// (SHA256-RSA, ECDSA-SHA384, SHA1-RSA, Ed25519, ...).
	SignatureAlgorithm string `json:"signature_algorithm"`
}

// Posture checks, in the order they run. The legacy ones are named as the
// probe_tls_legacy_version_accepted version label says them.
const (
	CheckTLS10       = "TLS 1.0"
	CheckTLS11       = "TLS 1.1"
	CheckWeakCiphers = "weak ciphers"
)

// LegacyVersions are the checks of probe_tls_legacy_version_accepted.
var LegacyVersions = []string{CheckTLS10, CheckTLS11}

// PostureCheck is one extra connection that offers the server something
// it should refuse and stops after the handshake.
type PostureCheck struct {
	Check string `json:"check"`
	// Conclusive says the server answered the ClientHello: it accepted or
	// refused it. A check that could not get that far (the connection,
	// the greeting or STARTTLS failed, or time ran out) says nothing.
	Conclusive bool `json:"conclusive"`
	Accepted   bool `json:"accepted"`
	// Version and Cipher are what the server chose, when it accepted.
	Version TLSVersion `json:"version,omitempty"`
	Cipher  string     `json:"cipher,omitempty"`
	// Error is why the server refused, or why the check was not conclusive.
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// TranscriptLine is one line of the conversation: C (client), S (server) or
// * (a note from the prober).
type TranscriptLine struct {
	At   time.Duration `json:"at_ns"`
	From string        `json:"from"`
	Text string        `json:"text"`
	// Check names the posture check whose extra connection the line
	// belongs to; empty for the main conversation.
	Check string `json:"check,omitempty"`
}

// ReverseDNSInfo is the reverse DNS of the address connected to.
type ReverseDNSInfo struct {
	// Conclusive says DNS answered the PTR query (names, or none exist);
	// false when it failed or timed out, and then the rest says nothing.
	Conclusive bool `json:"conclusive"`
	// PTR are the address's PTR names, lower case, without the trailing
	// dot, sanitized, at most 10.
	PTR []string `json:"ptr,omitempty"`
	// ConfirmedPTR are the PTR names that resolve back to the address
	// (forward-confirmed reverse DNS); only the first two names are looked
	// up, with a question of the address's family each.
	ConfirmedPTR []string `json:"confirmed_ptr,omitempty"`
	// FCrDNS says at least one PTR name resolves back to the address.
	FCrDNS bool `json:"fcrdns"`
	// BannerMatchesPTR says the greeting's name is one of the PTR names.
	BannerMatchesPTR bool   `json:"banner_matches_ptr"`
	Error            string `json:"error,omitempty"`
}

// PostureCheck returns the result of one posture check, nil when it did not run.
func (r *Result) PostureCheck(check string) *PostureCheck {
	for i := range r.Posture {
		if r.Posture[i].Check == check {
			return &r.Posture[i]
		}
	}
	return nil
}

// Phase returns the result of one phase.
func (r *Result) Phase(p Phase) *PhaseResult {
	for i := range r.Phases {
		if r.Phases[i].Phase == p {
			return &r.Phases[i]
		}
	}
	return nil
}

// LastEHLO returns the reply to the last EHLO that succeeded.
func (r *Result) LastEHLO() *EHLOInfo {
	if r.EHLOTLS != nil {
		return r.EHLOTLS
	}
	return r.EHLO
}
