package prober

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestProbeWarnings: what fails and what only warns, by TLS mode (the
// table of docs/configuration.md), and the probe ending as a sending MTA would see it.
func TestProbeWarnings(t *testing.T) {
	e := newEnv(t)
	// A server whose TLS is broken: it offers STARTTLS, says 220, and then
	// answers the ClientHello with SMTP text.
	brokenTLS := smtptest.Config{
		Extensions:    []string{"PIPELINING", "STARTTLS"},
		StartTLSReply: "220 2.0.0 Ready to start TLS\r\n",
	}
	cases := []struct {
		name     string
		module   string
		server   smtptest.Config
		want     Reason   // "" for success
		warnings []Reason // exactly these, in order
		check    func(t *testing.T, r *Result, s *smtptest.Server)
	}{
		{
			name:     "opportunistic: untrusted certificate warns",
			module:   "tls: opportunistic",
			server:   smtptest.Config{StartTLS: e.good},
			warnings: []Reason{ReasonCertUntrusted},
			check: func(t *testing.T, r *Result, _ *smtptest.Server) {
				expect(t, "encrypted", r.Encrypted, true)
				expect(t, "verified", r.TLS.Verified, false)
			},
		},
		{
			name:   "opportunistic with fail_if_certificate_invalid: untrusted certificate fails",
			module: "tls: opportunistic\nfail_if_certificate_invalid: true",
			server: smtptest.Config{StartTLS: e.good},
			want:   ReasonCertUntrusted,
		},
		{
			name:     "starttls with fail_if_certificate_invalid false: untrusted certificate warns",
			module:   "tls: starttls\nfail_if_certificate_invalid: false",
			server:   smtptest.Config{StartTLS: e.good},
			warnings: []Reason{ReasonCertUntrusted},
		},
		{
			name:     "insecure_skip_verify: a bad certificate warns",
			module:   "tls: implicit\ntls_config: {insecure_skip_verify: true}",
			server:   smtptest.Config{Implicit: e.good},
			warnings: []Reason{ReasonCertUntrusted},
		},
		{
			name:     "opportunistic: 454 to STARTTLS warns and the session goes on in clear text",
			module:   "tls: opportunistic",
			server:   smtptest.Config{StartTLS: e.good, StartTLSReply: "454 4.7.0 TLS not available due to local problem\r\n"},
			warnings: []Reason{ReasonStartTLSRejected},
			check: func(t *testing.T, r *Result, s *smtptest.Server) {
				expect(t, "encrypted", r.Encrypted, false)
				expect(t, "starttls code", r.Phase(PhaseStartTLS).ReplyCode, 454)
				expect(t, "one connection", s.Accepted(), int64(1))
				expect(t, "commands", verbs(s), "EHLO STARTTLS QUIT")
			},
		},
		{
			name:   "starttls: 454 to STARTTLS fails",
			module: "tls: starttls",
			server: smtptest.Config{StartTLS: e.good, StartTLSReply: "454 4.7.0 TLS not available\r\n"},
			want:   ReasonStartTLSRejected,
		},
		{
			name:     "opportunistic: a failed handshake warns, and the probe reconnects in clear text",
			module:   "tls: opportunistic",
			server:   brokenTLS,
			warnings: []Reason{ReasonTLSHandshakeFailed},
			check: func(t *testing.T, r *Result, s *smtptest.Server) {
				expect(t, "encrypted", r.Encrypted, false)
				expect(t, "two connections", s.Accepted(), int64(2))
				expect(t, "the second session has no STARTTLS", strings.HasSuffix(verbs(s), "EHLO QUIT"), true)
				expect(t, "EHLO of the clear-text session kept", r.EHLO != nil, true)
				expect(t, "quit reached", r.Phase(PhaseQuit).Reached, true)
			},
		},
		{
			name:   "starttls: a failed handshake fails",
			module: "tls: starttls",
			server: brokenTLS,
			want:   ReasonTLSHandshakeFailed,
			check: func(t *testing.T, _ *Result, s *smtptest.Server) {
				expect(t, "no second connection", s.Accepted(), int64(1))
			},
		},
		{
			name:     "AUTH before TLS without fail_if_auth_before_tls warns",
			module:   "tls: none",
			server:   smtptest.Config{AuthMechanisms: []string{"PLAIN"}, AuthBeforeTLS: true},
			warnings: []Reason{ReasonAuthBeforeTLS},
		},
		{
			name:   "AUTH before TLS with fail_if_auth_before_tls fails, and does not also warn",
			module: "tls: none\nfail_if_auth_before_tls: true",
			server: smtptest.Config{AuthMechanisms: []string{"PLAIN"}, AuthBeforeTLS: true},
			want:   ReasonAuthBeforeTLS,
		},
		{
			name:     "a failure and a warning together",
			module:   "tls: opportunistic\nfail_if_no_auth: true",
			server:   smtptest.Config{StartTLS: e.good},
			want:     ReasonAuthNotAdvertised,
			warnings: []Reason{ReasonCertUntrusted},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.NewServer(t, tc.server)
			r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, tc.module), nil, Options{})
			if r.Failure != tc.want {
				t.Fatalf("failure = %q (%s), want %q\ntranscript:\n%s", r.Failure, r.Error, tc.want, transcriptText(r))
			}
			var got []string
			for _, w := range r.Warnings {
				got = append(got, string(w.Reason))
				if w.Message == "" {
					t.Errorf("warning %s has no message", w.Reason)
				}
			}
			var want []string
			for _, w := range tc.warnings {
				want = append(want, string(w))
			}
			expect(t, "warnings", strings.Join(got, ","), strings.Join(want, ","))
			if tc.check != nil {
				tc.check(t, r, srv)
			}
		})
	}
}

// verbs is the commands a fake server read, in order.
func verbs(s *smtptest.Server) string {
	var v []string
	for _, line := range s.Seen() {
		verb, _, _ := strings.Cut(line, " ")
		v = append(v, verb)
	}
	return strings.Join(v, " ")
}

func TestProbeEnvelope(t *testing.T) {
	e := newEnv(t)
	postfixLike := map[string]string{
		"postmaster@example.net": "250 2.1.5 Ok\r\n",
		"full@example.net":       "452 4.3.1 Insufficient system storage\r\n",
		"probe@example.org":      "554 5.7.1 <probe@example.org>: Relay access denied\r\n",
	}
	cases := []struct {
		name   string
		module string
		server smtptest.Config
		want   Reason
		verbs  string
		check  func(t *testing.T, r *Result)
	}{
		{
			name:   "postmaster accepted",
			module: "tls: none\nenvelope: {mail_from: monitor@example.com, rcpt_to: [postmaster@example.net]}",
			server: smtptest.Config{Recipients: postfixLike},
			verbs:  "EHLO MAIL RCPT RSET QUIT",
			check: func(t *testing.T, r *Result) {
				expect(t, "mail code", r.Phase(PhaseMail).ReplyCode, 250)
				expect(t, "rcpt code", r.Phase(PhaseRcpt).ReplyCode, 250)
				expect(t, "mail reached", r.Phase(PhaseMail).Reached, true)
				expect(t, "rcpt reached", r.Phase(PhaseRcpt).Reached, true)
				expect(t, "the MAIL line", strings.Contains(transcriptText(r), "MAIL FROM:<monitor@example.com>"), true)
			},
		},
		{
			name:   "after STARTTLS, with the null sender",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + "}\nenvelope: {rcpt_to: [postmaster@example.net]}",
			server: smtptest.Config{StartTLS: e.good, Recipients: postfixLike},
			verbs:  "EHLO STARTTLS EHLO MAIL RCPT RSET QUIT",
			check: func(t *testing.T, r *Result) {
				expect(t, "null sender", strings.Contains(transcriptText(r), "MAIL FROM:<>"), true)
			},
		},
		{
			name:   "a full disk answers 452 to RCPT",
			module: "tls: none\nenvelope: {mail_from: monitor@example.com, rcpt_to: [postmaster@example.net, full@example.net]}",
			server: smtptest.Config{Recipients: postfixLike},
			want:   ReasonRcptRejected,
			verbs:  "EHLO MAIL RCPT RCPT RSET QUIT",
			check:  func(t *testing.T, r *Result) { expect(t, "rcpt code", r.Phase(PhaseRcpt).ReplyCode, 452) },
		},
		{
			name:   "MAIL FROM refused",
			module: "tls: none\nenvelope: {mail_from: monitor@example.com, rcpt_to: [postmaster@example.net]}",
			server: smtptest.Config{MailReply: "452 4.3.1 Insufficient system storage\r\n"},
			want:   ReasonMailRejected,
			verbs:  "EHLO MAIL RSET QUIT",
			check: func(t *testing.T, r *Result) {
				expect(t, "mail code", r.Phase(PhaseMail).ReplyCode, 452)
				expect(t, "rcpt not reached", r.Phase(PhaseRcpt).Reached, false)
			},
		},
		{
			name:   "relay test: 554 relay access denied passes",
			module: "tls: none\nenvelope: {mail_from: monitor@example.com, rcpt_to: [probe@example.org], expect: reject}",
			server: smtptest.Config{Recipients: postfixLike},
			verbs:  "EHLO MAIL RCPT RSET QUIT",
			check:  func(t *testing.T, r *Result) { expect(t, "rcpt code", r.Phase(PhaseRcpt).ReplyCode, 554) },
		},
		{
			name:   "relay test: an open relay fails",
			module: "tls: none\nenvelope: {mail_from: monitor@example.com, rcpt_to: [probe@example.org], expect: reject}",
			server: smtptest.Config{},
			want:   ReasonRelayAccepted,
			verbs:  "EHLO MAIL RCPT RSET QUIT",
		},
		{
			name:   "no envelope after a failed AUTH",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\nauth: {username: probe, password_file: " + e.passwordFile + "}\nenvelope: {rcpt_to: [postmaster@example.net]}",
			server: smtptest.Config{StartTLS: e.good, AuthMechanisms: []string{"PLAIN"}},
			want:   ReasonAuthFailed,
			verbs:  "EHLO STARTTLS EHLO AUTH QUIT",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.NewServer(t, tc.server)
			r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, tc.module), nil, Options{})
			if r.Failure != tc.want {
				t.Fatalf("failure = %q (%s), want %q\ntranscript:\n%s", r.Failure, r.Error, tc.want, transcriptText(r))
			}
			// Never DATA: the transaction is reset before QUIT.
			expect(t, "commands", verbs(srv), tc.verbs)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestProbeBannerRegex(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{Greeting: "220-mx1.example.net ESMTP Postfix\r\n220 second line\r\n"})
	for _, tc := range []struct {
		re   string
		want Reason
	}{
		{`^mx1\.example\.net `, ""},
		{`(?m)^second line$`, ""},
		{`^mx2\.example\.net `, ReasonBannerMismatch},
	} {
		module := testModule(t, "tls: none\nfail_if_banner_not_matches: '"+tc.re+"'")
		r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", module, nil, Options{})
		if r.Failure != tc.want {
			t.Errorf("regex %s: failure = %q (%s), want %q", tc.re, r.Failure, r.Error, tc.want)
		}
		if tc.want != "" && !r.Phase(PhaseQuit).Reached {
			t.Errorf("regex %s: the session did not end with QUIT", tc.re)
		}
	}
}

// TestProbeSourceIP binds the probe's connection to 127.0.0.2, which Linux
// has on the loopback interface with the rest of 127.0.0.0/8.
func TestProbeSourceIP(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, "tls: none\nsource_ip_address: 127.0.0.2"), nil, Options{})
	if !r.Success {
		t.Fatalf("probe failed: %s: %s\n%s", r.Failure, r.Error, transcriptText(r))
	}
	remotes := srv.Remotes()
	if len(remotes) != 1 {
		t.Fatalf("server saw %d connections, want 1", len(remotes))
	}
	host, _, _ := net.SplitHostPort(remotes[0])
	expect(t, "client address", host, "127.0.0.2")
	// Without a configured name the EHLO name is the machine's FQDN or the
	// literal of this very address.
	if !strings.Contains(verbsAndArgs(srv), "EHLO [127.0.0.2]") && !strings.Contains(verbsAndArgs(srv), "EHLO "+defaultName()) {
		t.Errorf("EHLO name is neither the FQDN nor [127.0.0.2]: %s", verbsAndArgs(srv))
	}

	// An address this machine does not have fails the connection at once.
	r = Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, "tls: none\nsource_ip_address: 192.0.2.1"), nil, Options{})
	expect(t, "foreign source address", r.Failure, ReasonConnectUnreachable)
}

func verbsAndArgs(s *smtptest.Server) string { return strings.Join(s.Seen(), "\n") }

func TestAddressLiteral(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.1", "[192.0.2.1]"},
		{"::ffff:192.0.2.1", "[192.0.2.1]"},
		{"2001:db8::1", "[IPv6:2001:db8::1]"},
		{"fe80::1%eth0", "[IPv6:fe80::1]"},
	} {
		expect(t, tc.addr, AddressLiteral(netip.MustParseAddr(tc.addr)), tc.want)
	}
}

// TestEHLONameNeverShort: a module without ehlo_hostname sends a name with
// a dot or an address literal, never a bare short name.
func TestEHLONameNeverShort(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, "tls: none"), nil, Options{})
	if !r.Success {
		t.Fatal(r.Error)
	}
	var name string
	for _, l := range srv.Seen() {
		if n, ok := strings.CutPrefix(l, "EHLO "); ok {
			name = n
		}
	}
	if name != "[127.0.0.1]" && (name != defaultName() || !strings.Contains(name, ".")) {
		t.Errorf("EHLO %q: want the machine's FQDN or [127.0.0.1]", name)
	}
	r = Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, "tls: none\nehlo_hostname: probe.example.net"), nil, Options{})
	expect(t, "configured name", strings.Contains(verbsAndArgs(srv), "EHLO probe.example.net"), true)
	expect(t, "success", r.Success, true)
}

func defaultName() string { return config.DefaultEHLOName() }
