package report

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

const (
	testPassword = "Golden-Pa55word-never-shown"
	testHost     = "mx.example.test"
	// goldenPort replaces the fake servers' random ports in golden files.
	goldenPort = "10025"
)

// clockStart is the fixed "now" of the golden probes.
var clockStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tickingClock advances a millisecond per reading, so every phase and
// transcript line gets a duration that is the same on every run.
func tickingClock() func() time.Time {
	var mu sync.Mutex
	t := clockStart
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := t
		t = t.Add(time.Millisecond)
		return now
	}
}

// goldenEnv is the fixed world the golden probes run in: a CA and
// certificates that are byte for byte the same on every run, a DNS server
// that knows testHost, and the module's password.
type goldenEnv struct {
	ca           *smtptest.CA
	valid        *tls.Config
	expired      *tls.Config
	legacy       *tls.Config // also TLS 1.0 and 1.1, with a CBC suite
	resolver     *net.Resolver
	passwordFile string
}

func newGoldenEnv(t *testing.T) *goldenEnv {
	ca := smtptest.NewFixedCA(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC))
	serverTLS := func(leaf smtptest.Leaf) *tls.Config {
		cfg := smtptest.ServerTLS(ca.IssueFixed(t, leaf))
		// One version and suite, so the report does not depend on which
		// ciphers this machine's CPU makes fast.
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		return cfg
	}
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &goldenEnv{
		ca: ca,
		valid: serverTLS(smtptest.Leaf{
			DNSNames: []string{testHost, "smtp.example.test"}, Serial: 1001,
			NotBefore: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC),
		}),
		expired: serverTLS(smtptest.Leaf{
			DNSNames: []string{testHost}, Serial: 1002,
			NotBefore: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		}),
		legacy: func() *tls.Config {
			cfg := serverTLS(smtptest.Leaf{
				DNSNames: []string{testHost}, Serial: 1003, Key: smtptest.FixedECDSAKey(t, "legacy"),
				NotBefore: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC),
			})
			cfg.CipherSuites = append(cfg.CipherSuites, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
			return cfg
		}(),
		resolver:     smtptest.NewResolver(t, map[string][]netip.Addr{testHost: {netip.MustParseAddr("127.0.0.1")}}),
		passwordFile: pw,
	}
}

// goldenCase is one probe whose text and JSON reports are kept in testdata/.
type goldenCase struct {
	name   string
	module string // YAML fields of the module
	// server returns the address of what the probe talks to.
	server func(t *testing.T, e *goldenEnv) string
	want   prober.Reason
	// reverse are the records of the DNS server the reverse_dns lookups
	// ask (the system's resolver would read /etc/hosts for 127.0.0.1).
	reverse []string
	// egress, when set, is what the vantage's canaries say of the
	// target's port (its Port is filled in), as the handler adds it.
	egress *prober.EgressInfo
}

var goldenCases = []goldenCase{
	{
		name: "submission_ok",
		module: `tls: starttls
			auth: {username: probe, password_file: PASSWORD_FILE}
			fail_if_auth_before_tls: true
			fail_if_no_auth: true`,
		server: func(t *testing.T, e *goldenEnv) string {
			return smtptest.NewServer(t, smtptest.Config{
				StartTLS: e.valid, AuthMechanisms: []string{"PLAIN", "LOGIN"},
				Users: map[string]string{"probe": testPassword},
			}).Addr
		},
	},
	{
		name:   "smtps_cert_expired",
		module: "tls: implicit\nfail_if_no_auth: true",
		server: func(t *testing.T, e *goldenEnv) string {
			return smtptest.NewServer(t, smtptest.Config{Implicit: e.expired, AuthMechanisms: []string{"PLAIN"}}).Addr
		},
		want: prober.ReasonCertExpired,
	},
	{
		name:   "auth_before_tls",
		module: "tls: opportunistic\nfail_if_auth_before_tls: true",
		server: func(t *testing.T, e *goldenEnv) string {
			return smtptest.NewServer(t, smtptest.Config{AuthMechanisms: []string{"PLAIN", "LOGIN"}, AuthBeforeTLS: true}).Addr
		},
		want: prober.ReasonAuthBeforeTLS,
	},
	{
		name:   "banner_rejected",
		module: "tls: opportunistic",
		server: func(t *testing.T, e *goldenEnv) string {
			return smtptest.NewServer(t, smtptest.Config{Greeting: "554 5.7.1 " + testHost + " ESMTP: your address is on a blocklist\r\n"}).Addr
		},
		want: prober.ReasonBannerRejected,
	},
	{
		name:   "posture_reverse_dns",
		module: "tls: starttls\ntls_posture: true\nreverse_dns: true",
		server: func(t *testing.T, e *goldenEnv) string {
			return smtptest.NewServer(t, smtptest.Config{StartTLS: e.legacy, Greeting: "220 " + testHost + " ESMTP smtptest\r\n"}).Addr
		},
		reverse: []string{
			"1.0.0.127.in-addr.arpa. 300 IN PTR " + testHost + ".",
			"1.0.0.127.in-addr.arpa. 300 IN PTR other.example.test.",
			testHost + ". 300 IN A 127.0.0.1",
		},
	},
	{
		name:   "connect_refused",
		module: "tls: opportunistic",
		server: func(t *testing.T, e *goldenEnv) string { return smtptest.RefusedAddr(t) },
		want:   prober.ReasonConnectRefused,
	},
	{
		name:   "connect_timeout",
		module: "tls: opportunistic\ntimeout: 300ms",
		server: func(t *testing.T, e *goldenEnv) string { return smtptest.FilteredAddr(t) },
		want:   prober.ReasonConnectTimeout,
	},
	{
		// The same timeout from a vantage whose canaries time out too.
		name:   "connect_timeout_egress_blocked",
		module: "tls: opportunistic\ntimeout: 300ms",
		server: func(t *testing.T, e *goldenEnv) string { return smtptest.FilteredAddr(t) },
		want:   prober.ReasonConnectTimeout,
		egress: &prober.EgressInfo{Family: "ip4", State: prober.EgressBlocked, Detail: "3/3 IPv4 canaries time out"},
	},
	{
		name:   "ok_egress_open",
		module: "tls: opportunistic",
		server: func(t *testing.T, e *goldenEnv) string {
			return smtptest.NewServer(t, smtptest.Config{Greeting: "220 " + testHost + " ESMTP\r\n"}).Addr
		},
		egress: &prober.EgressInfo{Family: "ip4", State: prober.EgressOpen, Detail: "2/3 IPv4 canaries answer"},
	},
}

// runGolden probes the case's server and returns the result with the
// server's random port, so that callers can normalise it.
func runGolden(t *testing.T, e *goldenEnv, tc goldenCase) (*prober.Result, string) {
	t.Helper()
	addr := tc.server(t, e)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.ReplaceAll(tc.module, "PASSWORD_FILE", e.passwordFile)
	doc := "modules:\n  " + tc.name + ":\n    ehlo_hostname: prober.example.test\n    tls_config: {ca_file: " + e.ca.File + ", server_name: " + testHost + "}\n"
	for l := range strings.SplitSeq(fields, "\n") {
		doc += "    " + strings.TrimSpace(l) + "\n"
	}
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("module: %v\n%s", err, doc)
	}
	target, err := prober.ParseTarget(net.JoinHostPort(testHost, port))
	if err != nil {
		t.Fatal(err)
	}
	opts := prober.Options{Resolver: e.resolver, Now: tickingClock()}
	if len(tc.reverse) > 0 {
		dns, err := resolver.New(dnstest.Start(t, tc.reverse...).Addr)
		if err != nil {
			t.Fatal(err)
		}
		opts.DNS = dns
	}
	r := prober.Probe(context.Background(), target, tc.name, cfg.Modules[tc.name], nil, opts)
	if tc.egress != nil {
		e := *tc.egress
		e.Port = r.Port
		r.Egress = &e
	}
	if r.Failure != tc.want {
		t.Fatalf("failure %q (%s), want %q", r.Failure, r.Error, tc.want)
	}
	return r, port
}

func TestGolden(t *testing.T) {
	e := newGoldenEnv(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, port := runGolden(t, e, tc)
			normalise := func(s string) string {
				s = strings.ReplaceAll(s, ":"+port, ":"+goldenPort)
				s = strings.ReplaceAll(s, "egress to port "+port+" ", "egress to port "+goldenPort+" ")
				s = strings.ReplaceAll(s, `"port": `+port+",", `"port": `+goldenPort+",")
				return strings.ReplaceAll(s, `"port": "`+port+`"`, `"port": "`+goldenPort+`"`)
			}

			var text, js bytes.Buffer
			Write(&text, r, Options{Now: clockStart})
			if err := WriteJSON(&js, r); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", tc.name+".txt"), normalise(text.String()))
			compareGolden(t, filepath.Join("testdata", tc.name+".json"), normalise(js.String()))

			for _, out := range []string{text.String(), js.String()} {
				smtptest.AssertNoSecret(t, out, "probe", testPassword)
			}
			var back prober.Result
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Failure != r.Failure || back.Target != r.Target {
				t.Errorf("the JSON does not read back as a Result: %v", err)
			}
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./report -update rewrites it after a deliberate change)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Colour may change how the report looks, never what it says.
func TestColourOnlyPaints(t *testing.T) {
	e := newGoldenEnv(t)
	for _, tc := range goldenCases[:3] {
		r, _ := runGolden(t, e, tc)
		var plain, coloured bytes.Buffer
		Write(&plain, r, Options{Now: clockStart})
		Write(&coloured, r, Options{Now: clockStart, Color: true})
		if !ansi.MatchString(coloured.String()) {
			t.Errorf("%s: coloured report has no colour", tc.name)
		}
		if ansi.MatchString(plain.String()) || strings.Contains(plain.String(), "\x1b") {
			t.Errorf("%s: plain report has escape sequences", tc.name)
		}
		if got := ansi.ReplaceAllString(coloured.String(), ""); got != plain.String() {
			t.Errorf("%s: without its colours the coloured report differs:\n%s\n---\n%s", tc.name, got, plain.String())
		}
	}
}

// A server chooses what it sends and what its certificate says; none of it
// may reach a terminal as a control sequence.
func TestTerminalSafe(t *testing.T) {
	r := &prober.Result{
		Target: "x:25", Module: "m", Port: 25, Failure: prober.ReasonCertHostnameMismatch,
		Error:      "certificate is valid for \x1b]0;pwned\x07evil, not x",
		Warnings:   []prober.Warning{{Reason: prober.ReasonCertUntrusted, Message: "\x1b[2J"}},
		AlsoFailed: []string{"\x1b[2J"},
		Phases:     []prober.PhaseResult{{Phase: prober.PhaseStartTLS}, {Phase: prober.PhaseTLSHandshake, Reached: true}},
		EHLO:       &prober.EHLOInfo{Domain: "a\x1bb", Extensions: []prober.Extension{{Keyword: "X\x1b[31m"}}},
		TLS: &prober.TLSInfo{VerifyError: "\x1b[31mred", Certificates: []prober.CertInfo{
			{Subject: "CN=\x1b[5m", Issuer: "\r\n", SANs: []string{"\x00"}},
		}},
		Transcript: []prober.TranscriptLine{{From: "S", Text: "\x1b[1m"}},
	}
	var out bytes.Buffer
	Write(&out, r, Options{Now: clockStart})
	for _, c := range out.String() {
		if c < 0x20 && c != '\n' || c == 0x7f {
			t.Fatalf("report holds control character %q:\n%q", c, out.String())
		}
	}
}

func TestVerdict(t *testing.T) {
	cases := []struct {
		name string
		r    *prober.Result
		want string
	}{
		{
			"filtered 25: an MX has no other port",
			&prober.Result{Port: 25, Failure: prober.ReasonConnectTimeout},
			"FAILED (connect_timeout): connection timed out: the port is filtered (blocked) by a firewall or the ISP; an MX must be reachable on 25 from everywhere: if another network reaches it, this machine's network blocks outbound 25 (many ISPs and clouds do) and the probe must run from a machine allowed to send mail; otherwise a firewall in front of the server drops the port",
		},
		{
			"filtered 587 names the other submission port",
			&prober.Result{Port: 587, Failure: prober.ReasonConnectTimeout},
			"FAILED (connect_timeout): connection timed out: the port is filtered (blocked) by a firewall or the ISP; check the firewalls on the way (nft list ruleset, cloud security groups); clients can also submit on 465 with implicit TLS where the server offers it",
		},
		{
			"filtered 465",
			&prober.Result{Port: 465, Failure: prober.ReasonConnectTimeout},
			"FAILED (connect_timeout): connection timed out: the port is filtered (blocked) by a firewall or the ISP; check the firewalls on the way (nft list ruleset, cloud security groups); clients can also submit on 587 with STARTTLS",
		},
		{
			"refused is not called blocked",
			&prober.Result{Port: 25, Failure: prober.ReasonConnectRefused},
			"FAILED (connect_refused): connection refused: nothing listens on this port, or a firewall rejects it; check that the mail server runs and listens on this address and port (ss -ltn), and the firewall's REJECT rules",
		},
		{
			"silence on 465 points at implicit TLS",
			&prober.Result{Port: 465, Failure: prober.ReasonBannerTimeout},
			"FAILED (banner_timeout): connected, but the server sent no greeting in time; the server may be overloaded or tarpitting this client (postscreen, a greet pause), or a middlebox holds the session; port 465 speaks TLS from the first byte: use a module with tls: implicit (smtps)",
		},
		{
			"silence on 25 does not",
			&prober.Result{Port: 25, Failure: prober.ReasonBannerTimeout},
			"FAILED (banner_timeout): connected, but the server sent no greeting in time; the server may be overloaded or tarpitting this client (postscreen, a greet pause), or a middlebox holds the session",
		},
		{
			"a handshake failure on 587 points at STARTTLS",
			&prober.Result{Port: 587, Failure: prober.ReasonTLSHandshakeFailed},
			"FAILED (tls_handshake_failed): the TLS handshake failed; compare the TLS versions and ciphers both sides allow (tls_config min_version) and check the server's certificate and key (openssl s_client shows the server's side); port 587 starts in clear text: its module needs tls: starttls or opportunistic, not implicit",
		},
		{
			"unknown reason is shown as it is",
			&prober.Result{Port: 25, Failure: "new_reason"},
			"FAILED (new_reason): new_reason",
		},
		{
			"success in clear text",
			&prober.Result{
				Success: true, Duration: 12 * time.Millisecond,
				Phases: []prober.PhaseResult{{Phase: prober.PhaseBanner, Reached: true, ReplyCode: 220}, {Phase: prober.PhaseStartTLS}},
			},
			"OK: greeting 220, no TLS in 12ms",
		},
		{
			"success with insecure_skip_verify says so",
			&prober.Result{
				Success: true, Duration: 3 * time.Millisecond, TLS: &prober.TLSInfo{Version: tls.VersionTLS13},
				Phases: []prober.PhaseResult{{Phase: prober.PhaseBanner, Reached: true, ReplyCode: 220}, {Phase: prober.PhaseStartTLS}},
			},
			"OK: greeting 220, implicit TLS 1.3, certificate NOT verified in 3ms",
		},
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases = append(cases, []struct {
		name string
		r    *prober.Result
		want string
	}{
		{
			"success with a warning, an old TLS version and a certificate about to expire",
			&prober.Result{
				Success: true, Duration: 5 * time.Millisecond, Port: 25, Start: start,
				Warnings: []prober.Warning{{Reason: prober.ReasonCertUntrusted, Message: "x"}},
				TLS:      &prober.TLSInfo{Version: tls.VersionTLS11, LastChainExpiry: start.Add(10 * 24 * time.Hour)},
				Phases:   []prober.PhaseResult{{Phase: prober.PhaseBanner, Reached: true, ReplyCode: 220}, {Phase: prober.PhaseStartTLS, Reached: true}},
			},
			"OK, with warnings: the certificate chain does not lead to a trusted root (cert_untrusted); TLS 1.1 is older than TLS 1.2; " +
				"a certificate expires in 10 days (2026-03-11). Seen: greeting 220, STARTTLS to TLS 1.1, certificate NOT verified in 5ms",
		},
		{
			"a certificate a month away is no warning",
			&prober.Result{
				Success: true, Duration: 5 * time.Millisecond, Port: 25, Start: start,
				TLS:    &prober.TLSInfo{Version: tls.VersionTLS13, Verified: true, LastChainExpiry: start.Add(30 * 24 * time.Hour)},
				Phases: []prober.PhaseResult{{Phase: prober.PhaseBanner, Reached: true, ReplyCode: 220}, {Phase: prober.PhaseStartTLS, Reached: true}},
			},
			"OK: greeting 220, STARTTLS to TLS 1.3, certificate verified in 5ms",
		},
	}...)
	for _, tc := range cases {
		if got := Verdict(tc.r); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// The certificate facts and the stapled OCSP response in the TLS section:
// weak key and signature flagged, a revoked status, an invalid response
// shown as such and its status ignored.
func TestReportCertificateFacts(t *testing.T) {
	leaf := prober.CertInfo{
		Subject: "CN=old.example.test", Issuer: "CN=CA", KeyType: "rsa", KeyBits: 1024, SignatureAlgorithm: "SHA1-RSA",
		NotBefore: clockStart.Add(-time.Hour), NotAfter: clockStart.Add(24 * time.Hour),
	}
	for _, tc := range []struct {
		name string
		ocsp *prober.OCSPInfo
		want []string
	}{
		{"none", nil, []string{"OCSP:        none stapled"}},
		{
			"revoked", &prober.OCSPInfo{Valid: true, Status: prober.OCSPRevoked, RevokedAt: clockStart.Add(-time.Hour)},
			[]string{"REVOKED at 2026-03-01T11:00:00Z", "no next update given"},
		},
		{
			"good", &prober.OCSPInfo{Valid: true, Status: prober.OCSPGood, NextUpdate: clockStart.Add(48 * time.Hour)},
			[]string{"signed by the issuer: good, next update 2026-03-03T12:00:00Z"},
		},
		{
			"bad signature", &prober.OCSPInfo{Error: "invalid response: bad OCSP signature"},
			[]string{"stapled, NOT valid (status ignored): invalid response: bad OCSP signature"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &prober.Result{
				Target: "old.example.test:25", Start: clockStart, EHLO: &prober.EHLOInfo{},
				TLS: &prober.TLSInfo{Version: tls.VersionTLS12, Certificates: []prober.CertInfo{leaf}, ChainCertificates: 1, OCSP: tc.ocsp},
			}
			for _, ph := range prober.Phases {
				r.Phases = append(r.Phases, prober.PhaseResult{Phase: ph})
			}
			var b bytes.Buffer
			Write(&b, r, Options{Now: clockStart})
			want := append([]string{"key:      rsa 1024 bits (weak: under 2048)", "signed:   SHA1-RSA (weak: no client trusts it)"}, tc.want...)
			for _, w := range want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestVerdictDANEWithoutTLS: a DANE failure for want of a TLS session does
// not send on-call to publish a TLSA record (issue 24).
func TestVerdictDANEWithoutTLS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		r         *prober.Result
		says, not string
	}{
		{
			"STARTTLS gone", &prober.Result{Failure: prober.ReasonDANEFailed, Port: 25, EHLO: &prober.EHLOInfo{}},
			"no longer offers STARTTLS", "publish a record",
		},
		{
			"handshake failed", &prober.Result{Failure: prober.ReasonDANEFailed, Port: 25, EHLO: &prober.EHLOInfo{}, StartTLSAdvertised: true},
			"no TLS session was established", "publish a record",
		},
		{
			"a key rolled without its record", &prober.Result{Failure: prober.ReasonDANEFailed, Port: 25, Encrypted: true},
			"publish a record for the new key", "STARTTLS",
		},
	} {
		v := Verdict(tc.r)
		if !strings.Contains(v, tc.says) || strings.Contains(v, tc.not) {
			t.Errorf("%s: verdict %q, want it to say %q and not %q", tc.name, v, tc.says, tc.not)
		}
	}
}
