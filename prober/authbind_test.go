package prober

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestAuthBoundToPinnedName: the credentials of a module go only to the
// server its tls_config.server_name names. A caller of /probe who names a
// server of their own, with a certificate that verifies for their own name
// from a CA the module trusts, gets a failed probe and no password.
func TestAuthBoundToPinnedName(t *testing.T) {
	e := newEnv(t)
	users := map[string]string{"probe": testPassword}
	attackerCert := smtptest.ServerTLS(e.ca.Issue(t, smtptest.Leaf{DNSNames: []string{"attacker.test"}}))
	tls11 := e.good.Clone()
	tls11.MinVersion, tls11.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	auth := "auth: {username: probe, password_file: " + e.passwordFile + "}"
	cases := []struct {
		name     string
		module   string
		server   *tls.Config
		host     string // the target's host; the resolver maps every name to 127.0.0.1
		want     Reason
		wantAuth bool
	}{
		{
			name:   "the attacker's own name verifies, the pinned one does not",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\n" + auth,
			server: attackerCert, host: "attacker.test",
			want: ReasonCertHostnameMismatch,
		},
		{
			name:   "the pinned name verifies whatever the target is called",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\n" + auth,
			server: e.good, host: "other-name.test",
			wantAuth: true,
		},
		{
			name:   "TLS 1.1 is not enough for credentials by default",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\n" + auth,
			server: tls11, host: "localhost",
			want: ReasonAuthFailed,
		},
		{
			name:   "min_version TLS11 allows TLS 1.1 for credentials",
			module: "tls: starttls\ntls_config: {ca_file: " + e.ca.File + ", server_name: localhost, min_version: TLS11}\n" + auth,
			server: tls11, host: "localhost",
			wantAuth: true,
		},
	}
	resolver := smtptest.NewResolver(t, map[string][]netip.Addr{
		"attacker.test":   {netip.MustParseAddr("127.0.0.1")},
		"other-name.test": {netip.MustParseAddr("127.0.0.1")},
		"localhost":       {netip.MustParseAddr("127.0.0.1")},
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			module := testModule(t, tc.module)
			srv := smtptest.NewServer(t, smtptest.Config{StartTLS: tc.server, AuthMechanisms: []string{"PLAIN"}, Users: users})
			_, port, _ := net.SplitHostPort(srv.Addr)
			r := Probe(context.Background(), mustTarget(t, net.JoinHostPort(tc.host, port)), "test", module, nil, Options{Resolver: resolver})
			if r.Failure != tc.want {
				t.Fatalf("failure = %q (%s), want %q\ntranscript:\n%s", r.Failure, r.Error, tc.want, transcriptText(r))
			}
			sent := false
			for _, line := range srv.Seen() {
				if strings.HasPrefix(line, "AUTH") {
					sent = true
				}
			}
			expect(t, "credentials sent", sent, tc.wantAuth)
			expect(t, "auth success", r.AuthSuccess, tc.wantAuth)
			expect(t, "auth phase reached", r.Phase(PhaseAuth).Reached, tc.wantAuth)
			assertNoSecret(t, r)
		})
	}
}

// TestAuthModuleKeepsNoServerText: a module with credentials keeps of what
// the server says only codes, enhanced codes and EHLO keywords (and the
// AUTH mechanisms' names, tokens of the same syntax), in every probe,
// whatever the server writes where: the same servers probed by the
// same module without auth show the text, so the probe did read it.
func TestAuthModuleKeepsNoServerText(t *testing.T) {
	e := newEnv(t)
	const leak = "Leak7Qz"
	auth := "auth: {username: probe, password_file: " + e.passwordFile + "}"
	tlsConfig := "tls_config: {ca_file: " + e.ca.File + ", server_name: localhost}\n"
	cases := []struct {
		name   string
		module string // both with and without auth
		server smtptest.Config
		want   Reason
	}{
		{"greeting, EHLO name and parameters", "tls: starttls\n" + tlsConfig, smtptest.Config{
			Greeting:   "220-" + leak + ".one ESMTP\r\n220 two " + leak + "\r\n",
			Extensions: []string{"SIZE 2048", "XLEAK " + leak, "X-NOTE (" + leak + ")"},
		}, ReasonAuthNotAdvertised},
		{"banner mismatch quotes no greeting", "tls: starttls\nfail_if_banner_not_matches: '^nomatch'\n" + tlsConfig, smtptest.Config{
			Greeting: "220 " + leak + " ESMTP\r\n",
		}, ReasonBannerMismatch},
		{"refused EHLO", "tls: starttls\n" + tlsConfig, smtptest.Config{
			EHLOReply: "554 5.7.1 " + leak + " go away\r\n",
		}, ReasonEHLORejected},
		{"refused STARTTLS", "tls: starttls\n" + tlsConfig, smtptest.Config{
			StartTLSReply: "454 4.7.0 " + leak + "\r\n",
		}, ReasonStartTLSRejected},
		{"rejecting greeting", "tls: starttls\n" + tlsConfig, smtptest.Config{
			Greeting: "554 5.3.2 " + leak + "\r\n",
		}, ReasonBannerRejected},
		{"malformed reply", "tls: starttls\n" + tlsConfig, smtptest.Config{
			EHLOReply: "2x0 " + leak + "\r\n",
		}, ReasonProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.server
			cfg.StartTLS = e.good
			srv := smtptest.NewServer(t, cfg)
			target := mustTarget(t, srv.Addr)
			without := Probe(context.Background(), target, "test", testModule(t, tc.module), nil, Options{})
			with := Probe(context.Background(), target, "test", testModule(t, tc.module+auth), nil, Options{})
			if b, _ := json.Marshal(without); !strings.Contains(string(b), leak) {
				t.Fatalf("without auth the result does not show the server's text: the test proves nothing\n%s", b)
			}
			if with.Failure != tc.want {
				t.Fatalf("with auth: failure %q (%s), want %q\n%s", with.Failure, with.Error, tc.want, transcriptText(with))
			}
			if b, _ := json.Marshal(with); strings.Contains(strings.ToLower(string(b)), strings.ToLower(leak)) {
				t.Errorf("with auth the result keeps the server's text:\n%s", b)
			}
		})
	}
	// What is kept: codes and keywords, the AUTH mechanisms and SIZE.
	srv := smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, Extensions: []string{"SIZE 2048", "XLEAK " + leak}, AuthMechanisms: []string{"PLAIN", "LOGIN"}, Users: map[string]string{"probe": testPassword}})
	r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, "tls: starttls\n"+tlsConfig+auth), nil, Options{})
	if !r.Success {
		t.Fatalf("%s: %s\n%s", r.Failure, r.Error, transcriptText(r))
	}
	ehlo := r.LastEHLO()
	expect(t, "EHLO domain", ehlo.Domain, "")
	expect(t, "SIZE", ehlo.SizeLimit, int64(2048))
	expect(t, "mechanisms", strings.Join(ehlo.AuthMechanisms, " "), "PLAIN LOGIN")
	expect(t, "XLEAK kept as a keyword", ehlo.Has("XLEAK"), true)
	expect(t, "greeting name", r.BannerHostname, "")
	for _, want := range []string{"S: 220", "S: 250-XLEAK", "S: 250 AUTH PLAIN LOGIN", "S: 235 2.7.0"} {
		if !strings.Contains(transcriptText(r), want+"\n") {
			t.Errorf("transcript lacks %q:\n%s", want, transcriptText(r))
		}
	}
}
