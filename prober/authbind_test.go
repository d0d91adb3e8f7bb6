package prober

import (
	"context"
	"crypto/tls"
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
