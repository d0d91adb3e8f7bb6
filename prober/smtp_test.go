package prober

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

const testPassword = "s3cret-Pa55word-never-shown"

// testModule builds a module from YAML fields (indented under the module).
func testModule(t *testing.T, fields string) *config.Module {
	t.Helper()
	doc := "modules:\n  test:\n" + indent(fields, "    ")
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("module config: %v\n%s", err, doc)
	}
	return cfg.Modules["test"]
}

// mustTarget parses a target a test probes.
func mustTarget(t testing.TB, s string) Target {
	t.Helper()
	target, err := ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func indent(s, prefix string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		b.WriteString(prefix + strings.TrimSpace(l) + "\n")
	}
	return b.String()
}

// env is the fixture every probe test case gets.
type env struct {
	ca           *smtptest.CA
	good         *tls.Config // localhost certificate from ca
	passwordFile string
}

func newEnv(t *testing.T) *env {
	ca := smtptest.NewCA(t)
	pw := t.TempDir() + "/password"
	if err := writeFile(pw, testPassword+"\n"); err != nil {
		t.Fatal(err)
	}
	return &env{ca: ca, good: smtptest.ServerTLS(ca.Issue(t, smtptest.LocalhostLeaf())), passwordFile: pw}
}

func TestProbe(t *testing.T) {
	e := newEnv(t)
	users := map[string]string{"probe": testPassword}

	cases := []struct {
		name   string
		module string
		// server starts what the probe talks to and returns the target.
		server func(t *testing.T) string
		want   Reason // "" for success
		check  func(t *testing.T, r *Result)
	}{
		{
			name:   "plain server, opportunistic without STARTTLS",
			module: "tls: opportunistic",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{}).Addr },
			check: func(t *testing.T, r *Result) {
				expect(t, "encrypted", r.Encrypted, false)
				expect(t, "size", r.EHLO.SizeLimit, int64(10240000))
				expect(t, "banner code", r.Phase(PhaseBanner).ReplyCode, 220)
				expect(t, "ehlo code", r.Phase(PhaseEHLO).ReplyCode, 250)
				expect(t, "quit reached", r.Phase(PhaseQuit).Reached, true)
				expect(t, "tls", r.TLS == nil, true)
				expect(t, "ip protocol", r.IPProtocol, 4)
				expect(t, "warned: no STARTTLS", r.HasWarning(ReasonStartTLSNotAdvertised), true)
			},
		},
		{
			// A port 25 that stops offering STARTTLS still takes mail, in
			// clear text: a warning, however the greeting is laid out.
			name:   "multi-line greeting, opportunistic without STARTTLS",
			module: "tls: opportunistic",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{Greeting: "220-fake.test ESMTP\r\n220-no STARTTLS here\r\n220 ready\r\n"}).Addr
			},
			check: func(t *testing.T, r *Result) {
				expect(t, "warnings", fmt.Sprint(r.Warnings), "[{starttls_not_advertised server does not advertise STARTTLS: mail to it travels in clear text, and senders that require TLS do not deliver}]")
				expect(t, "banner code", r.Phase(PhaseBanner).ReplyCode, 220)
			},
		},
		{
			name:   "opportunistic with STARTTLS offered: no warning",
			module: "tls: opportunistic\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good}).Addr },
			check: func(t *testing.T, r *Result) {
				expect(t, "encrypted", r.Encrypted, true)
				expect(t, "warnings", len(r.Warnings), 0)
			},
		},
		{
			name:   "tls: none never asks for STARTTLS",
			module: "tls: none",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{}).Addr },
			check:  func(t *testing.T, r *Result) { expect(t, "warnings", len(r.Warnings), 0) },
		},
		{
			name:   "multi-line greeting",
			module: "tls: none",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{Greeting: "220-fake.test ESMTP\r\n220-second line\r\n220 ready\r\n"}).Addr
			},
		},
		{
			name:   "STARTTLS required and working",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN", "LOGIN"}}).Addr
			},
			check: func(t *testing.T, r *Result) {
				expect(t, "encrypted", r.Encrypted, true)
				expect(t, "starttls advertised", r.StartTLSAdvertised, true)
				expect(t, "verified", r.TLS.Verified, true)
				expect(t, "version", r.TLS.Version.String(), "TLS 1.3")
				expect(t, "auth before tls", r.AuthBeforeTLS, false)
				expect(t, "mechanisms after TLS", strings.Join(r.EHLOTLS.AuthMechanisms, ","), "PLAIN,LOGIN")
				expect(t, "starttls code", r.Phase(PhaseStartTLS).ReplyCode, 220)
				expect(t, "ehlo_tls code", r.Phase(PhaseEHLOTLS).ReplyCode, 250)
				expect(t, "chain length", len(r.TLS.VerifiedChain), 2)
			},
		},
		{
			name:   "implicit TLS",
			module: "tls: implicit\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{Implicit: e.good}).Addr },
			check: func(t *testing.T, r *Result) {
				expect(t, "encrypted", r.Encrypted, true)
				expect(t, "handshake before banner", r.Phase(PhaseTLSHandshake).Reached, true)
				expect(t, "no STARTTLS phase", r.Phase(PhaseStartTLS).Reached, false)
			},
		},
		{
			name:   "TLS 1.2 maximum on the server",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string {
				c := e.good.Clone()
				c.MaxVersion = tls.VersionTLS12
				return smtptest.NewServer(t, smtptest.Config{StartTLS: c}).Addr
			},
			check: func(t *testing.T, r *Result) { expect(t, "version", r.TLS.Version.String(), "TLS 1.2") },
		},
		{
			name:   "AUTH PLAIN succeeds",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\nauth: {username: probe, password_file: " + e.passwordFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"LOGIN", "PLAIN"}, Users: users}).Addr
			},
			check: func(t *testing.T, r *Result) {
				expect(t, "auth success", r.AuthSuccess, true)
				expect(t, "mechanism", r.AuthMechanism, "PLAIN")
				expect(t, "auth code", r.Phase(PhaseAuth).ReplyCode, 235)
			},
		},
		{
			name:   "AUTH LOGIN succeeds",
			module: "tls: implicit\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\nauth: {username: probe, password_file: " + e.passwordFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{Implicit: e.good, AuthMechanisms: []string{"LOGIN"}, Users: users}).Addr
			},
			check: func(t *testing.T, r *Result) {
				expect(t, "auth success", r.AuthSuccess, true)
				expect(t, "mechanism", r.AuthMechanism, "LOGIN")
			},
		},
		{
			name:   "AUTH with a wrong password",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\nauth: {username: probe, password_file: " + e.passwordFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN"}, Users: map[string]string{"probe": "other"}}).Addr
			},
			want: ReasonAuthFailed,
			check: func(t *testing.T, r *Result) {
				expect(t, "auth code", r.Phase(PhaseAuth).ReplyCode, 535)
				expect(t, "quit reached", r.Phase(PhaseQuit).Reached, true)
			},
		},
		{
			name:   "AUTH refused by a server that quotes the credentials back",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\nauth: {username: probe, password_file: " + e.passwordFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN"}, AuthEcho: true}).Addr
			},
			want: ReasonAuthFailed,
			check: func(t *testing.T, r *Result) {
				// Once the credentials are out, only the codes of the reply are kept.
				expect(t, "error", r.Error, "AUTH PLAIN answered with 535 5.7.8")
			},
		},
		{
			name:   "AUTH not advertised",
			module: "tls: starttls\nfail_if_no_auth: true\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good}).Addr },
			want:   ReasonAuthNotAdvertised,
		},
		{
			name:   "AUTH advertised before TLS",
			module: "tls: starttls\nfail_if_auth_before_tls: true\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN"}, AuthBeforeTLS: true}).Addr
			},
			want: ReasonAuthBeforeTLS,
			check: func(t *testing.T, r *Result) {
				expect(t, "auth before tls", r.AuthBeforeTLS, true)
				expect(t, "still went on to TLS", r.Encrypted, true)
			},
		},
		{
			name:   "AUTH before TLS is only reported without fail_if_auth_before_tls",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN"}, AuthBeforeTLS: true}).Addr
			},
			check: func(t *testing.T, r *Result) { expect(t, "auth before tls", r.AuthBeforeTLS, true) },
		},
		{
			name:   "connection refused",
			module: "tls: none",
			server: func(t *testing.T) string { return smtptest.RefusedAddr(t) },
			want:   ReasonConnectRefused,
			check: func(t *testing.T, r *Result) {
				expect(t, "banner not reached", r.Phase(PhaseBanner).Reached, false)
			},
		},
		{
			name:   "filtered port",
			module: "tls: none\ntimeout: 300ms",
			server: func(t *testing.T) string { return smtptest.FilteredAddr(t) },
			want:   ReasonConnectTimeout,
		},
		{
			name:   "host does not resolve",
			module: "tls: none",
			server: func(t *testing.T) string { return "nonexistent.test:25" },
			want:   ReasonResolve,
		},
		{
			name:   "silent server",
			module: "tls: none\ntimeout: 300ms",
			server: func(t *testing.T) string {
				return smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) { c.Read(make([]byte, 1)) }).Addr
			},
			want: ReasonBannerTimeout,
		},
		{
			name:   "greeting 554",
			module: "tls: none",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{Greeting: "554 5.7.1 You are not welcome\r\n"}).Addr
			},
			want: ReasonBannerRejected,
			check: func(t *testing.T, r *Result) {
				expect(t, "banner code", r.Phase(PhaseBanner).ReplyCode, 554)
				expect(t, "sent QUIT", r.Phase(PhaseQuit).ReplyCode, 221)
			},
		},
		{
			name:   "greeting 421 multi-line",
			module: "tls: none",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{Greeting: "421-busy\r\n421 4.3.2 try later\r\n"}).Addr
			},
			want: ReasonBannerRejected,
		},
		{
			name:   "HTTP server instead of SMTP",
			module: "tls: none",
			server: func(t *testing.T) string { return raw(t, "HTTP/1.1 400 Bad Request\r\n\r\n") },
			want:   ReasonProtocolError,
		},
		{
			name:   "binary garbage",
			module: "tls: none",
			server: func(t *testing.T) string { return raw(t, "\x00\xff\xfe\x16\x03\x01garbage\n") },
			want:   ReasonProtocolError,
		},
		{
			name:   "endless line",
			module: "tls: none",
			server: func(t *testing.T) string { return raw(t, "220 "+strings.Repeat("x", 1<<20)) },
			want:   ReasonProtocolError,
		},
		{
			name:   "endless continuation lines",
			module: "tls: none",
			server: func(t *testing.T) string { return raw(t, strings.Repeat("220-more\r\n", 5000)) },
			want:   ReasonProtocolError,
		},
		{
			name:   "reply code changes within a reply",
			module: "tls: none",
			server: func(t *testing.T) string { return raw(t, "220-hello\r\n250 there\r\n") },
			want:   ReasonProtocolError,
		},
		{
			name:   "closes right after accept",
			module: "tls: none",
			server: func(t *testing.T) string { return raw(t, "") },
			want:   ReasonConnectionClosed,
		},
		{
			name:   "closes in the middle of a greeting",
			module: "tls: none",
			server: func(t *testing.T) string { return raw(t, "220-partial\r\n") },
			want:   ReasonConnectionClosed,
		},
		{
			name:   "EHLO rejected",
			module: "tls: none",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{EHLOReply: "550 5.7.1 No EHLO for you\r\n"}).Addr
			},
			want:  ReasonEHLORejected,
			check: func(t *testing.T, r *Result) { expect(t, "ehlo code", r.Phase(PhaseEHLO).ReplyCode, 550) },
		},
		{
			name:   "no answer to EHLO",
			module: "tls: none\ntimeout: 300ms",
			server: func(t *testing.T) string {
				return smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) {
					c.Write([]byte("220 hi\r\n"))
					c.Read(make([]byte, 512))
					c.Read(make([]byte, 512))
				}).Addr
			},
			want: ReasonTimeout,
		},
		{
			name:   "STARTTLS required but not advertised",
			module: "tls: starttls",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{}).Addr },
			want:   ReasonStartTLSNotAdvertised,
		},
		{
			name:   "STARTTLS answered 454",
			module: "tls: starttls",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, StartTLSReply: "454 4.7.0 TLS not available\r\n"}).Addr
			},
			want:  ReasonStartTLSRejected,
			check: func(t *testing.T, r *Result) { expect(t, "starttls code", r.Phase(PhaseStartTLS).ReplyCode, 454) },
		},
		{
			name:   "clear text injected after STARTTLS",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AfterStartTLS: "250 injected\r\n"}).Addr
			},
			want: ReasonTLSHandshakeFailed,
		},
		{
			name:   "implicit TLS against a plain server",
			module: "tls: implicit",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{}).Addr },
			want:   ReasonTLSHandshakeFailed,
		},
		{
			name:   "expired certificate",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + "}",
			server: func(t *testing.T) string {
				cert := e.ca.Issue(t, smtptest.Leaf{
					DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
					NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
				})
				return smtptest.NewServer(t, smtptest.Config{StartTLS: smtptest.ServerTLS(cert)}).Addr
			},
			want: ReasonCertExpired,
			check: func(t *testing.T, r *Result) {
				expect(t, "verified", r.TLS.Verified, false)
				expect(t, "expiry captured", r.TLS.EarliestExpiry.Before(time.Now()), true)
				expect(t, "conversation went on", r.EHLOTLS != nil, true)
			},
		},
		{
			name:   "untrusted certificate",
			module: "tls: starttls",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good}).Addr },
			want:   ReasonCertUntrusted,
		},
		{
			name:   "certificate for another host",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: mail.example.net}",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good}).Addr },
			want:   ReasonCertHostnameMismatch,
		},
		{
			name:   "insecure_skip_verify keeps the probe successful",
			module: "tls: starttls\ntls_config: {insecure_skip_verify: true}",
			server: func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good}).Addr },
			check: func(t *testing.T, r *Result) {
				expect(t, "verified", r.TLS.Verified, false)
				expect(t, "verify error recorded", r.TLS.VerifyError != "", true)
			},
		},
		{
			name:   "no credentials sent to an unverified server",
			module: "tls: starttls\ntls_config: {server_name: localhost}\nauth: {username: probe, password_file: " + e.passwordFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN"}, Users: users}).Addr
			},
			want: ReasonCertUntrusted,
			check: func(t *testing.T, r *Result) {
				expect(t, "auth not reached", r.Phase(PhaseAuth).Reached, false)
			},
		},
		{
			name:   "credentials need TLS, opportunistic without STARTTLS",
			module: "tls: opportunistic\ntls_config: {server_name: localhost}\nauth: {username: probe, password_file: " + e.passwordFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{AuthMechanisms: []string{"PLAIN"}, AuthBeforeTLS: true, Users: users}).Addr
			},
			want:  ReasonStartTLSNotAdvertised,
			check: func(t *testing.T, r *Result) { expect(t, "auth not reached", r.Phase(PhaseAuth).Reached, false) },
		},
	}
	resolver := smtptest.NewResolver(t, map[string][]netip.Addr{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			module := testModule(t, tc.module)
			target := tc.server(t)
			ctx, cancel := context.WithTimeout(context.Background(), module.Timeout)
			defer cancel()
			r := Probe(ctx, mustTarget(t, target), "test", module, nil, Options{Resolver: resolver})
			if r.Failure != tc.want {
				t.Fatalf("failure = %q (%s), want %q\ntranscript:\n%s", r.Failure, r.Error, tc.want, transcriptText(r))
			}
			expect(t, "success", r.Success, tc.want == "")
			if tc.check != nil {
				tc.check(t, r)
			}
			assertNoSecret(t, r)
		})
	}
}

// TestProbeConnectionReset: a server that answers the connection with an RST
// (SO_LINGER 0, then close). Whether the reader sees ECONNRESET or a plain
// EOF depends on whether the RST lands before or while it waits (on the
// kernels CI runs on, a reader already waiting often gets EOF), so a single
// probe may honestly say connection_closed. Each must say one of the two; the
// mapping of ECONNRESET itself is pinned in TestClassifyErrors.
func TestProbeConnectionReset(t *testing.T) {
	module := testModule(t, "tls: none")
	srv := smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) {
		c.(*net.TCPConn).SetLinger(0)
	})
	resets := 0
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), module.Timeout)
		r := Probe(ctx, mustTarget(t, srv.Addr), "test", module, nil, Options{})
		cancel()
		switch r.Failure {
		case ReasonConnectionReset:
			resets++
		case ReasonConnectionClosed:
		default:
			t.Fatalf("failure = %q (%s), want connection_reset or connection_closed\ntranscript:\n%s", r.Failure, r.Error, transcriptText(r))
		}
	}
	t.Logf("%d of 20 probes saw the RST as connection_reset, the rest as connection_closed", resets)
}

func TestProbeResolvesByFamily(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr)
	resolver := smtptest.NewResolver(t, map[string][]netip.Addr{
		"dual.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		"v4.test":   {netip.MustParseAddr("127.0.0.1")},
	})
	cases := []struct {
		module, host string
		wantIP       string
		want         Reason
	}{
		{"ip_protocol: ip4", "dual.test", "127.0.0.1", ""},
		{"ip_protocol: ip6", "v4.test", "127.0.0.1", ""},                                // falls back to IPv4
		{"ip_protocol: ip6\nip_protocol_fallback: false", "v4.test", "", ReasonResolve}, // no IPv6 address
		{"ip_protocol: ip4\nip_protocol_fallback: false", "v4.test", "127.0.0.1", ""},   // preferred exists
		{"ip_protocol: ip4\nip_protocol_fallback: false", "[::1]", "", ReasonResolve},   // literal of the other family
		{"ip_protocol: ip4", "unknown.test", "", ReasonResolve},                         // NXDOMAIN
	}
	for _, tc := range cases {
		t.Run(tc.module+" "+tc.host, func(t *testing.T) {
			module := testModule(t, "tls: none\n"+tc.module)
			r := Probe(context.Background(), mustTarget(t, tc.host+":"+port), "test", module, nil, Options{Resolver: resolver})
			expect(t, "failure", r.Failure, tc.want)
			if tc.wantIP != "" {
				expect(t, "ip", r.IP.String(), tc.wantIP)
			}
			expect(t, "resolve reached", r.Phase(PhaseResolve).Reached, true)
		})
	}
}

// TestProbeCancel shows that a scrape that goes away ends the probe at once.
func TestProbeCancel(t *testing.T) {
	srv := smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) { c.Read(make([]byte, 1)) })
	module := testModule(t, "tls: none\ntimeout: 1h")
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	r := Probe(ctx, mustTarget(t, srv.Addr), "test", module, nil, Options{})
	expect(t, "failure", r.Failure, ReasonBannerTimeout)
}

func TestProbeNeverSendsMailCommands(t *testing.T) {
	e := newEnv(t)
	srv := smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN"}, Users: map[string]string{"probe": testPassword}})
	module := testModule(t, "tls: starttls\ntls_config: {ca_file: "+e.ca.File+", server_name: localhost}\nauth: {username: probe, password_file: "+e.passwordFile+"}")
	r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", module, nil, Options{})
	if !r.Success {
		t.Fatalf("probe failed: %s: %s", r.Failure, r.Error)
	}
	var verbs []string
	for _, line := range srv.Seen() {
		verb, _, _ := strings.Cut(line, " ")
		verbs = append(verbs, verb)
	}
	// The PLAIN payload goes with the AUTH line, so the server sees exactly these.
	expect(t, "commands", strings.Join(verbs, " "), "EHLO STARTTLS EHLO AUTH QUIT")
}

func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func raw(t *testing.T, send string) string {
	return smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) {
		c.Write([]byte(send))
	}).Addr
}

func transcriptText(r *Result) string {
	var b strings.Builder
	for _, l := range r.Transcript {
		fmt.Fprintf(&b, "  %s: %s\n", l.From, l.Text)
	}
	return b.String()
}

// assertNoSecret fails if the password appears anywhere in the result.
func assertNoSecret(t *testing.T, r *Result) {
	t.Helper()
	data, _ := json.Marshal(r)
	smtptest.AssertNoSecret(t, fmt.Sprintf("%+v %s %s", r, transcriptText(r), data), "probe", testPassword)
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
