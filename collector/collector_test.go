package collector

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/internal/promlint"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// ms is a duration in milliseconds, for readable phase timings.
func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// phases returns every phase in conversation order, with the given ones reached.
func phases(reached ...prober.PhaseResult) []prober.PhaseResult {
	all := make([]prober.PhaseResult, 0, len(prober.Phases))
	for _, ph := range prober.Phases {
		pr := prober.PhaseResult{Phase: ph}
		for _, r := range reached {
			if r.Phase == ph {
				pr = r
				pr.Reached = true
			}
		}
		all = append(all, pr)
	}
	return all
}

// startTLSPhases is a whole STARTTLS conversation, with AUTH when authCode is set.
func startTLSPhases(handshake time.Duration, authCode int) []prober.PhaseResult {
	reached := []prober.PhaseResult{
		ph(prober.PhaseResolve, ms(1), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseBanner, ms(10), 220), ph(prober.PhaseEHLO, ms(2), 250),
		ph(prober.PhaseStartTLS, ms(1), 220), ph(prober.PhaseTLSHandshake, handshake, 0),
		ph(prober.PhaseEHLOTLS, ms(5), 250), ph(prober.PhaseQuit, ms(2.5), 221),
	}
	if authCode != 0 {
		reached = append(reached, ph(prober.PhaseAuth, ms(8), authCode))
	}
	return phases(reached...)
}

func ph(p prober.Phase, d time.Duration, code int) prober.PhaseResult {
	return prober.PhaseResult{Phase: p, Duration: d, ReplyCode: code}
}

func ext(keyword string, params ...string) prober.Extension {
	return prober.Extension{Keyword: keyword, Params: params}
}

var (
	expiry    = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	caExpiry  = time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)
	expiredAt = time.Date(2024, 6, 30, 23, 59, 59, 0, time.UTC)

	leaf = prober.CertInfo{
		Subject:           "CN=mx.example.net",
		Issuer:            "CN=Example Test CA,O=Example",
		SANs:              []string{"mx.example.net", "smtp.example.net"},
		SerialNumber:      "2a",
		FingerprintSHA256: "6b1f2a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a",
		NotBefore:         time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		NotAfter:          expiry,
		KeyType:           "ecdsa", KeyBits: 256, SignatureAlgorithm: "SHA256-RSA",
	}
	intermediate = prober.CertInfo{
		Subject:           "CN=Example Test CA,O=Example",
		Issuer:            "CN=Example Root,O=Example",
		SerialNumber:      "1",
		FingerprintSHA256: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
		NotBefore:         time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:          caExpiry,
		IsCA:              true,
		KeyType:           "rsa", KeyBits: 2048, SignatureAlgorithm: "SHA256-RSA",
	}
	expiredLeaf = prober.CertInfo{
		Subject:           "CN=old.example.net",
		Issuer:            "CN=Example Test CA,O=Example",
		SANs:              []string{"old.example.net"},
		SerialNumber:      "3",
		FingerprintSHA256: "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
		NotBefore:         time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:          expiredAt,
		KeyType:           "rsa", KeyBits: 1024, SignatureAlgorithm: "SHA1-RSA",
	}

	plainEHLO = &prober.EHLOInfo{Domain: "mx.example.net", Extensions: []prober.Extension{
		ext("PIPELINING"), ext("SIZE", "10240000"), ext("8BITMIME"), ext("ENHANCEDSTATUSCODES"),
	}, SizeLimit: 10240000}
	startTLSEHLO = &prober.EHLOInfo{Domain: "mx.example.net", Extensions: []prober.Extension{
		ext("PIPELINING"), ext("SIZE", "35882577"), ext("STARTTLS"),
	}, SizeLimit: 35882577}
	authEHLO = &prober.EHLOInfo{Domain: "mx.example.net", Extensions: []prober.Extension{
		ext("PIPELINING"), ext("SIZE", "35882577"), ext("AUTH", "PLAIN", "LOGIN"),
	}, AuthMechanisms: []string{"PLAIN", "LOGIN"}, SizeLimit: 35882577}

	verifiedTLS13 = &prober.TLSInfo{
		Version: tls.VersionTLS13, Cipher: "TLS_AES_128_GCM_SHA256", ServerName: "mx.example.net",
		Certificates: []prober.CertInfo{leaf, intermediate}, Verified: true,
		VerifiedChain:  []prober.CertInfo{leaf, intermediate},
		EarliestExpiry: expiry, LastChainExpiry: expiry, ChainCertificates: 2,
		OCSP: &prober.OCSPInfo{
			Valid: true, Status: prober.OCSPGood,
			ProducedAt: time.Date(2025, 5, 31, 0, 0, 0, 0, time.UTC),
			ThisUpdate: time.Date(2025, 5, 31, 0, 0, 0, 0, time.UTC),
			NextUpdate: time.Date(2025, 6, 7, 0, 0, 0, 0, time.UTC),
		},
	}
	expiredTLS12 = &prober.TLSInfo{
		Version: tls.VersionTLS12, Cipher: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", ServerName: "old.example.net",
		Certificates: []prober.CertInfo{expiredLeaf}, Verified: false,
		VerifyError:    "x509: certificate has expired or is not yet valid",
		EarliestExpiry: expiredAt, LastChainExpiry: expiredAt, ChainCertificates: 1,
	}
)

// goldenCase is one probe result and the module it belongs to; results of
// the same module must expose the same (stable) series.
type goldenCase struct {
	name   string
	module string
	result *prober.Result
}

func goldenCases() []goldenCase {
	base := func(module string, success bool, failure prober.Reason, total time.Duration) *prober.Result {
		return &prober.Result{
			Target: "mx.example.net:25", Module: module, Host: "mx.example.net", Port: 25,
			Start: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC), Duration: total,
			IP: netip.MustParseAddr("192.0.2.25"), IPProtocol: 4, Success: success, Failure: failure,
		}
	}
	var cases []goldenCase
	add := func(name, module string, r *prober.Result) { cases = append(cases, goldenCase{name, module, r}) }

	r := base("smtp", true, "", ms(18.5))
	r.Phases = phases(ph(prober.PhaseResolve, ms(1.25), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseBanner, ms(12), 220), ph(prober.PhaseEHLO, ms(3), 250), ph(prober.PhaseQuit, ms(1.75), 221))
	r.EHLO = plainEHLO
	add("plain_success", "smtp", r)

	r = base("smtp", false, prober.ReasonConnectRefused, ms(1.5))
	r.Error = "connecting to 192.0.2.25:25: connect: connection refused"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1.25), 0), ph(prober.PhaseConnect, ms(0.25), 0))
	add("plain_connect_refused", "smtp", r)

	r = base("submission", true, "", ms(61))
	r.Target, r.Port, r.IP, r.IPProtocol = "[2001:db8::25]:587", 587, netip.MustParseAddr("2001:db8::25"), 6
	r.Phases = startTLSPhases(ms(40), 0)
	r.Phase(prober.PhaseResolve).Duration = 0 // an IP literal
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, authEHLO, true, true, verifiedTLS13
	add("starttls_success", "submission", r)

	r = base("submission", false, prober.ReasonStartTLSRejected, ms(14))
	r.Error = "STARTTLS answered with 454 4.7.0 TLS not available due to local problem"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseBanner, ms(10), 220), ph(prober.PhaseEHLO, ms(2), 250),
		ph(prober.PhaseStartTLS, ms(0.25), 454), ph(prober.PhaseQuit, ms(0.25), 221))
	r.EHLO, r.StartTLSAdvertised = startTLSEHLO, true
	add("starttls_rejected", "submission", r)

	r = base("smtps", true, "", ms(52))
	r.Target, r.Port = "mx.example.net:465", 465
	r.Phases = phases(ph(prober.PhaseResolve, ms(1), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseTLSHandshake, ms(35), 0), ph(prober.PhaseBanner, ms(10), 220),
		ph(prober.PhaseEHLO, ms(3), 250), ph(prober.PhaseQuit, ms(2.5), 221))
	r.EHLO, r.Encrypted = authEHLO, true
	tls12 := *verifiedTLS13
	tls12.Version, tls12.Cipher = tls.VersionTLS12, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
	// A stapled response whose signature does not check: stapled and
	// invalid, no status believed.
	tls12.OCSP = &prober.OCSPInfo{Error: "invalid response: ocsp: bad OCSP signature: crypto/rsa: verification error"}
	r.TLS = &tls12
	add("implicit_tls_success", "smtps", r)

	r = base("smtps", false, prober.ReasonTLSHandshakeFailed, ms(3))
	r.Target, r.Port = "mx.example.net:465", 465
	r.Error = "TLS handshake: tls: first record does not look like a TLS handshake"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseTLSHandshake, ms(1.5), 0))
	add("implicit_tls_handshake_failed", "smtps", r)

	// insecure_skip_verify: the probe succeeds, but the certificate is
	// reported as not verified, with its dates, and as a warning.
	r = base("smtp_insecure", true, "", ms(45))
	r.Target, r.Host = "old.example.net:25", "old.example.net"
	r.Phases = startTLSPhases(ms(25), 0)
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, plainEHLO, true, true, expiredTLS12
	r.Warnings = []prober.Warning{{Reason: prober.ReasonCertExpired, Message: "certificate: x509: certificate has expired or is not yet valid"}}
	add("cert_expired_insecure_skip_verify", "smtp_insecure", r)

	// Opportunistic port 25: STARTTLS refused with 454 and AUTH offered in
	// clear text are warnings; the probe succeeds in clear text.
	r = base("smtp", true, "", ms(20))
	r.Target, r.Host = "mx.example.net:25", "mx.example.net"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseBanner, ms(10), 220), ph(prober.PhaseEHLO, ms(2), 250),
		ph(prober.PhaseStartTLS, ms(1), 454), ph(prober.PhaseQuit, ms(2.5), 221))
	r.EHLO, r.StartTLSAdvertised, r.AuthBeforeTLS = startTLSEHLO, true, true
	r.Warnings = []prober.Warning{
		{Reason: prober.ReasonAuthBeforeTLS, Message: "AUTH is advertised before TLS"},
		{Reason: prober.ReasonStartTLSRejected, Message: "STARTTLS answered with 454 4.7.0 TLS not available"},
	}
	add("opportunistic_starttls_refused_warns", "smtp", r)

	// An envelope check on an open relay.
	r = base("smtp_relay_test", false, prober.ReasonRelayAccepted, ms(30))
	r.Target, r.Host = "mx.example.net:25", "mx.example.net"
	r.Error = "RCPT TO:<probe@example.org> accepted with 250 2.1.5 Ok: the server would relay for this recipient"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseBanner, ms(10), 220), ph(prober.PhaseEHLO, ms(2), 250),
		ph(prober.PhaseMail, ms(3), 250), ph(prober.PhaseRcpt, ms(4), 250), ph(prober.PhaseQuit, ms(2.5), 221))
	r.EHLO = plainEHLO
	add("envelope_relay_accepted", "smtp_relay_test", r)

	r = base("smtp_starttls", false, prober.ReasonCertExpired, ms(45))
	r.Target, r.Host = "old.example.net:25", "old.example.net"
	r.Error = "certificate: x509: certificate has expired or is not yet valid"
	r.Phases = startTLSPhases(ms(25), 0)
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, plainEHLO, true, true, expiredTLS12
	add("cert_expired", "smtp_starttls", r)

	r = base("submission_auth", true, "", ms(70))
	r.Target, r.Port = "mx.example.net:587", 587
	r.Phases = startTLSPhases(ms(40), 235)
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, authEHLO, true, true, verifiedTLS13
	r.AuthConfigured, r.AuthSuccess, r.AuthMechanism = true, true, "PLAIN"
	add("auth_success", "submission_auth", r)

	r = base("submission_auth", false, prober.ReasonAuthFailed, ms(70))
	r.Target, r.Port = "mx.example.net:587", 587
	r.Error = "AUTH PLAIN answered with 535 5.7.8 Authentication credentials invalid"
	r.Phases = startTLSPhases(ms(40), 535)
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, authEHLO, true, true, verifiedTLS13
	r.AuthConfigured, r.AuthMechanism = true, "PLAIN"
	add("auth_failed", "submission_auth", r)

	// A module with credentials that never got as far as AUTH still
	// exports probe_smtp_auth_success (as 0).
	r = base("submission_auth", false, prober.ReasonConnectRefused, ms(1.5))
	r.Target, r.Port = "mx.example.net:587", 587
	r.Error = "connecting to 192.0.2.25:587: connect: connection refused"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1.25), 0), ph(prober.PhaseConnect, ms(0.25), 0))
	r.AuthConfigured = true
	add("auth_connect_refused", "submission_auth", r)

	// DANE (module dane: check): a self-signed certificate validated by its
	// 3 1 1 record, a key rolled without its record, a bogus answer, and a
	// probe that never reached TLS.
	daneCase := func(name string, success bool, failure prober.Reason, d *prober.DANEResult, tlsInfo *prober.TLSInfo) {
		r := base("smtp_dane", success, failure, ms(45))
		r.Phases = startTLSPhases(ms(25), 0)
		r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, plainEHLO, true, true, tlsInfo
		r.DANE = d
		add(name, "smtp_dane", r)
	}
	ee := dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	ta := dane.Record{Usage: 2, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	selfSigned := *expiredTLS12
	selfSigned.VerifyError = "x509: certificate signed by unknown authority"
	daneCase("dane_validated", true, "", &prober.DANEResult{
		Mode: "check", Name: "_25._tcp.mx.example.net", Secure: true,
		Result: dane.Result{Status: dane.StatusValidated, Matched: &ee, Verdicts: []dane.RecordVerdict{{Record: ee, Usable: true, Matched: true}, {Record: ta, Usable: true}}},
	}, &selfSigned)
	daneCase("dane_failed", false, prober.ReasonDANEFailed, &prober.DANEResult{
		Mode: "check", Name: "_25._tcp.mx.example.net", Secure: true,
		Result: dane.Result{Status: dane.StatusFailed, Verdicts: []dane.RecordVerdict{{Record: ee, Usable: true}}},
	}, verifiedTLS13)
	daneCase("dane_bogus", false, prober.ReasonDANEBogus, &prober.DANEResult{
		Mode: "check", Name: "_25._tcp.mx.example.net",
		LookupError: "SERVFAIL", Result: dane.Result{Status: dane.StatusBogus},
	}, verifiedTLS13)
	r = base("smtp_dane", false, prober.ReasonConnectRefused, ms(1.5))
	r.Error = "connecting to 192.0.2.25:25: connect: connection refused"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1.25), 0), ph(prober.PhaseConnect, ms(0.25), 0))
	r.DANE = &prober.DANEResult{Mode: "check", Result: dane.Result{Detail: "not checked"}}
	add("dane_not_checked", "smtp_dane", r)

	// TLS posture: the legacy checks conclusive (TLS 1.0 accepted), the
	// weak cipher check accepted; fail_if_legacy_tls_accepted failed it.
	r = base("smtp_posture", false, prober.ReasonLegacyTLSAccepted, ms(140))
	r.Error = "the server still accepts TLS 1.0"
	r.Phases = startTLSPhases(ms(25), 0)
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, plainEHLO, true, true, verifiedTLS13
	r.Posture = []prober.PostureCheck{
		{Check: prober.CheckTLS10, Conclusive: true, Accepted: true, Version: tls.VersionTLS10, Cipher: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Duration: ms(30)},
		{Check: prober.CheckTLS11, Conclusive: true, Error: "remote error: tls: protocol version not supported", Duration: ms(20)},
		{Check: prober.CheckWeakCiphers, Conclusive: true, Accepted: true, Version: tls.VersionTLS12, Cipher: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", Duration: ms(30)},
	}
	r.BannerHostname = "mx.example.net"
	r.ReverseDNS = &prober.ReverseDNSInfo{Conclusive: true, PTR: []string{"dyn-192-0-2-25.isp.example"}}
	add("posture_legacy_accepted", "smtp_posture", r)

	// Reverse DNS confirmed, and the greeting names the PTR name.
	r = base("smtp_posture", true, "", ms(60))
	r.Phases = startTLSPhases(ms(25), 0)
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, plainEHLO, true, true, verifiedTLS13
	r.BannerHostname = "mx.example.net"
	r.ReverseDNS = &prober.ReverseDNSInfo{
		Conclusive: true, PTR: []string{"mx.example.net"}, ConfirmedPTR: []string{"mx.example.net"},
		FCrDNS: true, BannerMatchesPTR: true,
	}
	r.Posture = []prober.PostureCheck{
		{Check: prober.CheckTLS10, Conclusive: true, Error: "remote error: tls: protocol version not supported"},
		{Check: prober.CheckTLS11, Conclusive: true, Error: "remote error: tls: protocol version not supported"},
		{Check: prober.CheckWeakCiphers, Conclusive: true, Error: "remote error: tls: handshake failure"},
	}
	add("reverse_dns_confirmed", "smtp_posture", r)

	// A vantage with egress canaries for port 25: every probe carries their
	// state, open or not.
	r = base("relay", true, "", ms(18.5))
	r.Phases = phases(ph(prober.PhaseResolve, ms(1.25), 0), ph(prober.PhaseConnect, ms(0.5), 0),
		ph(prober.PhaseBanner, ms(12), 220), ph(prober.PhaseEHLO, ms(3), 250), ph(prober.PhaseQuit, ms(1.75), 221))
	r.EHLO = plainEHLO
	r.Egress = &prober.EgressInfo{Port: 25, Family: "ip4", State: prober.EgressOpen, Detail: "3/3 IPv4 canaries answer"}
	add("egress_open", "relay", r)

	r = base("relay", false, prober.ReasonConnectTimeout, ms(5001))
	r.Error = "connecting to 192.0.2.25:25: i/o timeout"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1), 0), ph(prober.PhaseConnect, ms(5000), 0))
	r.Egress = &prober.EgressInfo{Port: 25, Family: "ip4", State: prober.EgressBlocked, Detail: "3/3 IPv4 canaries time out"}
	add("egress_blocked_connect_timeout", "relay", r)

	// starttls_injection_check: its own connection, a result on every probe.
	r = base("submission_injection", true, "", ms(61))
	r.Target, r.Port = "mx.example.net:587", 587
	r.Phases = startTLSPhases(ms(40), 0)
	r.EHLO, r.EHLOTLS, r.StartTLSAdvertised, r.Encrypted, r.TLS = startTLSEHLO, authEHLO, true, true, verifiedTLS13
	r.Injection = &prober.InjectionCheck{
		Result: prober.InjectionVulnerable, Duration: ms(20),
		Detail: "inside TLS the server answered the NOOP sent in clear text before the handshake (250), then QUIT (221)",
	}
	add("starttls_injection_vulnerable", "submission_injection", r)

	r = base("submission_injection", false, prober.ReasonConnectRefused, ms(1.5))
	r.Target, r.Port = "mx.example.net:587", 587
	r.Error = "connecting to 192.0.2.25:587: connect: connection refused"
	r.Phases = phases(ph(prober.PhaseResolve, ms(1.25), 0), ph(prober.PhaseConnect, ms(0.25), 0))
	r.Injection = &prober.InjectionCheck{Result: prober.InjectionInconclusive, Detail: "not run: the conversation did not connect"}
	add("starttls_injection_not_run", "submission_injection", r)
	return cases
}

// render gathers the collector's metrics for one result in the text format.
func render(t *testing.T, r *prober.Result) ([]*dto.MetricFamily, []byte) {
	t.Helper()
	return renderCollector(t, New(r))
}

// renderCollector gathers one collector's metrics in the text format.
func renderCollector(t *testing.T, c prometheus.Collector) ([]*dto.MetricFamily, []byte) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return mfs, buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, got := render(t, tc.result)
			compareGolden(t, tc.name, got)
		})
	}
}

// compareGolden holds got to testdata/NAME.prom (-update rewrites it).
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".prom")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./collector -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./collector -update rewrites it):\n%s", path, lineDiff(string(want), string(got)))
	}
}

func TestFailureReasons(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			mfs, _ := render(t, tc.result)
			values := labelValues(t, family(mfs, "probe_smtp_failure"), "reason")
			if len(values) != len(prober.Reasons) {
				t.Errorf("%d probe_smtp_failure series, want one per reason (%d)", len(values), len(prober.Reasons))
			}
			ones := 0
			for _, reason := range prober.Reasons {
				v, ok := values[string(reason)]
				if !ok {
					t.Errorf("reason %q is missing", reason)
				}
				if v == 1 {
					ones++
					if reason != tc.result.Failure {
						t.Errorf("reason %q is 1, but the probe failed with %q", reason, tc.result.Failure)
					}
				} else if v != 0 {
					t.Errorf("reason %q is %v, want 0 or 1", reason, v)
				}
			}
			wantOnes := 1
			if tc.result.Success {
				wantOnes = 0
			}
			if ones != wantOnes {
				t.Errorf("%d reasons are 1, want %d (success %v)", ones, wantOnes, tc.result.Success)
			}
			if got := gaugeValue(t, family(mfs, "probe_success")); got != boolValue(tc.result.Success) {
				t.Errorf("probe_success %v, want %v", got, boolValue(tc.result.Success))
			}
		})
	}
}

func TestPhases(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			mfs, _ := render(t, tc.result)
			checkPerPhase(t, mfs, "probe_smtp_phase_duration_seconds", prober.Phases,
				func(p prober.Phase) float64 { return tc.result.Phase(p).Duration.Seconds() })
			checkPerPhase(t, mfs, "probe_smtp_reply_code", prober.ReplyPhases,
				func(p prober.Phase) float64 { return float64(tc.result.Phase(p).ReplyCode) })
			if got, want := gaugeValue(t, family(mfs, "probe_dns_lookup_time_seconds")), tc.result.Phase(prober.PhaseResolve).Duration.Seconds(); got != want {
				t.Errorf("probe_dns_lookup_time_seconds %v, want %v", got, want)
			}
		})
	}
}

// checkPerPhase requires one series of name per phase, with the value want gives.
func checkPerPhase(t *testing.T, mfs []*dto.MetricFamily, name string, phases []prober.Phase, want func(prober.Phase) float64) {
	t.Helper()
	values := labelValues(t, family(mfs, name), "phase")
	if len(values) != len(phases) {
		t.Errorf("%s: %d series, want one per phase (%d)", name, len(values), len(phases))
	}
	for _, p := range phases {
		v, ok := values[string(p)]
		if !ok {
			t.Errorf("%s: phase %q is missing", name, p)
		} else if v != want(p) {
			t.Errorf("%s{phase=%q} = %v, want %v", name, p, v, want(p))
		}
	}
}

// tlsFamilies appear only after a TLS handshake; ehloFamilies list what the
// server advertised. Every other series is stable: present on every probe
// of a module, whatever its outcome.
var (
	tlsFamilies = map[string]bool{
		"probe_tls_version_info": true, "probe_tls_cipher_info": true, "probe_tls_certificate_verified": true,
		"probe_ssl_earliest_cert_expiry": true, "probe_ssl_last_chain_expiry_timestamp_seconds": true,
		"probe_ssl_last_chain_info": true, "probe_ssl_leaf_not_before_timestamp_seconds": true,
		"probe_ssl_leaf_key_bits": true, "probe_ssl_leaf_signature_algorithm_info": true,
		"probe_ssl_chain_certificates": true, "probe_tls_ocsp_stapled": true,
	}
	// ocspFamilies follow a stapled OCSP response (the next update a valid
	// one), the posture families conclusive tls_posture checks, PTR names
	// a conclusive reverse DNS lookup.
	ocspFamilies = map[string]bool{
		"probe_tls_legacy_version_accepted": true, "probe_tls_weak_cipher_accepted": true,
		"probe_tls_weak_cipher_info":    true,
		"probe_smtp_ptr_info":           true,
		"probe_tls_ocsp_response_valid": true, "probe_tls_ocsp_status": true,
		"probe_tls_ocsp_next_update_timestamp_seconds": true,
	}
	ehloFamilies = map[string]bool{"probe_smtp_extension_info": true, "probe_smtp_auth_mechanism_info": true}
	// The record that matched exists only when one did.
	matchFamilies = map[string]bool{"probe_smtp_dane_match_info": true}
)

func TestStableSeries(t *testing.T) {
	byModule := map[string][]goldenCase{}
	for _, tc := range goldenCases() {
		byModule[tc.module] = append(byModule[tc.module], tc)
	}
	pairs := 0
	for module, cases := range byModule {
		var first []string
		for i, tc := range cases {
			mfs, _ := render(t, tc.result)
			var series []string
			for _, mf := range mfs {
				if tlsFamilies[mf.GetName()] || ocspFamilies[mf.GetName()] || ehloFamilies[mf.GetName()] || matchFamilies[mf.GetName()] {
					continue
				}
				for _, m := range mf.GetMetric() {
					series = append(series, seriesID(mf.GetName(), m))
				}
			}
			sort.Strings(series)
			if i == 0 {
				first = series
				continue
			}
			pairs++
			if strings.Join(series, "\n") != strings.Join(first, "\n") {
				t.Errorf("module %s: %s and %s expose different series:\n%s", module, cases[0].name, tc.name,
					lineDiff(strings.Join(first, "\n"), strings.Join(series, "\n")))
			}
		}
	}
	if pairs < 4 {
		t.Errorf("only %d success/failure comparisons: the golden cases lost their pairs", pairs)
	}
}

// TLS series follow the handshake: present exactly when the result has TLS state.
func TestTLSSeriesAfterHandshake(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			mfs, _ := render(t, tc.result)
			for name := range tlsFamilies {
				present := family(mfs, name) != nil
				if present != (tc.result.TLS != nil) {
					t.Errorf("%s present %v, but TLS state present %v", name, present, tc.result.TLS != nil)
				}
			}
			if tc.result.TLS == nil {
				return
			}
			if got := gaugeValue(t, family(mfs, "probe_tls_certificate_verified")); got != boolValue(tc.result.TLS.Verified) {
				t.Errorf("probe_tls_certificate_verified %v, want %v", got, boolValue(tc.result.TLS.Verified))
			}
			if got, want := gaugeValue(t, family(mfs, "probe_ssl_earliest_cert_expiry")), float64(tc.result.TLS.EarliestExpiry.Unix()); got != want {
				t.Errorf("probe_ssl_earliest_cert_expiry %v, want %v", got, want)
			}
		})
	}
}

func TestHelpAndLabels(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range goldenCases() {
		mfs, _ := render(t, tc.result)
		for _, mf := range mfs {
			seen[mf.GetName()] = true
			if err := wholeSentence(mf.GetHelp()); err != "" {
				t.Errorf("%s: help %q %s", mf.GetName(), mf.GetHelp(), err)
			}
			if mf.GetType() != dto.MetricType_GAUGE {
				t.Errorf("%s is a %s: a probe's metrics are gauges", mf.GetName(), mf.GetType())
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if !utf8.ValidString(l.GetValue()) {
						t.Errorf("%s: label %s=%q is not valid UTF-8", mf.GetName(), l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	// The cases together must exercise every metric the collector describes.
	descs := make(chan *prometheus.Desc, 64)
	New(&prober.Result{}).Describe(descs)
	close(descs)
	for d := range descs {
		name := descName(d)
		if !seen[name] {
			t.Errorf("no golden case exposes %s", name)
		}
	}
}

// A result built from hostile input must still give valid output, never a
// panic: a panic in Collect would take the whole exporter down.
func TestInvalidUTF8Labels(t *testing.T) {
	r := caseNamed(t, "starttls_success").result
	bad := *r.TLS
	badLeaf := leaf
	badLeaf.Subject, badLeaf.SANs = "CN=\xff\xfe", []string{"a\xc3"}
	bad.Certificates = []prober.CertInfo{badLeaf}
	bad.Cipher = "TLS_\xff"
	r.TLS = &bad
	mfs, text := render(t, r)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !utf8.ValidString(l.GetValue()) {
					t.Errorf("%s: label %s=%q is not valid UTF-8", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	if !bytes.Contains(text, []byte("subject=\"CN=\uFFFD\"")) {
		t.Errorf("the bad subject is not shown with replacement characters:\n%s", text)
	}
}

// TestPromtool lints every golden file with promtool check metrics.
func TestPromtool(t *testing.T) {
	promtool := testtool.Need(t, "promtool", "promtool")
	for _, tc := range goldenCases() {
		_, text := render(t, tc.result)
		if out, err := promlint.Check(promtool, text); err != nil || out != "" {
			t.Errorf("%s: promtool check metrics: %v\n%s", tc.name, err, out)
		}
	}
}

// wholeSentence says what keeps help text from being a whole sentence.
func wholeSentence(help string) string {
	r, _ := utf8.DecodeRuneInString(help)
	switch {
	case help == "":
		return "is empty"
	case !unicode.IsUpper(r):
		return "does not start with a capital letter"
	case !strings.HasSuffix(help, ".") || strings.HasSuffix(help, ".."):
		return "does not end with a period"
	case len(strings.Fields(help)) < 3:
		return "is too short to be a sentence"
	}
	return ""
}

func caseNamed(t *testing.T, name string) goldenCase {
	t.Helper()
	for _, tc := range goldenCases() {
		if tc.name == name {
			return tc
		}
	}
	t.Fatalf("no golden case %q", name)
	return goldenCase{}
}

func family(mfs []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func gaugeValue(t *testing.T, mf *dto.MetricFamily) float64 {
	t.Helper()
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("want one series, got %v", mf)
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

// labelValues maps a family's values by one label, failing on duplicates.
func labelValues(t *testing.T, mf *dto.MetricFamily, label string) map[string]float64 {
	t.Helper()
	values := map[string]float64{}
	if mf == nil {
		return values
	}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() != label {
				continue
			}
			if _, dup := values[l.GetValue()]; dup {
				t.Errorf("%s{%s=%q} appears twice", mf.GetName(), label, l.GetValue())
			}
			values[l.GetValue()] = m.GetGauge().GetValue()
		}
	}
	return values
}

func seriesID(name string, m *dto.Metric) string {
	var b strings.Builder
	b.WriteString(name)
	for _, l := range m.GetLabel() {
		b.WriteString("," + l.GetName() + "=" + l.GetValue())
	}
	return b.String()
}

// descName digs the metric name out of a Desc, which has no accessor.
func descName(d *prometheus.Desc) string {
	s := d.String()
	_, rest, _ := strings.Cut(s, `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	inWant := map[string]int{}
	for l := range strings.SplitSeq(want, "\n") {
		inWant[l]++
	}
	inGot := map[string]int{}
	for l := range strings.SplitSeq(got, "\n") {
		inGot[l]++
	}
	var b strings.Builder
	for l := range strings.SplitSeq(want, "\n") {
		if inGot[l] == 0 {
			b.WriteString("- " + l + "\n")
		}
	}
	for l := range strings.SplitSeq(got, "\n") {
		if inWant[l] == 0 {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// TestLabelCap: a certificate with the most SANs the prober keeps, each as
// long as it keeps them, makes a subjectalternative label of 16 KB; every
// label value is capped at prober.MaxLabelBytes, marked where cut.
func TestLabelCap(t *testing.T) {
	r := caseNamed(t, "starttls_success").result
	hostile := *r.TLS
	hostileLeaf := leaf
	hostileLeaf.SANs = nil
	for i := range 64 {
		hostileLeaf.SANs = append(hostileLeaf.SANs, fmt.Sprintf("%03d-%s.example", i, strings.Repeat("a", 240)))
	}
	hostile.Certificates = []prober.CertInfo{hostileLeaf}
	r.TLS = &hostile
	mfs, _ := render(t, r)
	found := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if len(l.GetValue()) > prober.MaxLabelBytes {
					t.Errorf("%s: label %s is %d bytes", mf.GetName(), l.GetName(), len(l.GetValue()))
				}
				if l.GetName() == "subjectalternative" {
					found = true
					if !strings.HasPrefix(l.GetValue(), "000-aaa") || !strings.HasSuffix(l.GetValue(), "…") {
						t.Errorf("subjectalternative %q: want the first names, marked as cut", l.GetValue())
					}
				}
			}
		}
	}
	if !found {
		t.Fatal("no subjectalternative label: the test proves nothing")
	}
}
