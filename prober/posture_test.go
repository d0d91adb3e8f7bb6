package prober

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestPosture runs the TLS posture checks against in-process servers that
// accept legacy versions, only modern ones, or a weak cipher suite, over
// STARTTLS and implicit TLS.
func TestPosture(t *testing.T) {
	e := newEnv(t)
	rsaCA := smtptest.NewRSACA(t, 2048)
	rsaCert := rsaCA.Issue(t, smtptest.Leaf{DNSNames: []string{"localhost"}, Key: smtptest.RSAKey(t, 2048)})
	versions := func(lo, hi uint16) *tls.Config {
		c := e.good.Clone()
		c.MinVersion, c.MaxVersion = lo, hi
		return c
	}
	suites := func(cert tls.Certificate, ids ...uint16) *tls.Config {
		c := smtptest.ServerTLS(cert)
		c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		c.CipherSuites = ids
		return c
	}
	type want struct {
		tls10, tls11, weak bool
		cipher             string // the weak suite chosen
	}
	cases := []struct {
		name   string
		module string
		server smtptest.Config
		want   want
		reason Reason
	}{
		{
			name:   "legacy only, STARTTLS",
			module: "tls: starttls\ntls_posture: true",
			server: smtptest.Config{StartTLS: versions(tls.VersionTLS10, tls.VersionTLS11)},
			want:   want{tls10: true, tls11: true},
		},
		{
			name:   "legacy only, fail_if_legacy_tls_accepted",
			module: "tls: starttls\ntls_posture: true\nfail_if_legacy_tls_accepted: true",
			server: smtptest.Config{StartTLS: versions(tls.VersionTLS10, tls.VersionTLS11)},
			want:   want{tls10: true, tls11: true},
			reason: ReasonLegacyTLSAccepted,
		},
		{
			name:   "TLS 1.1 and up, implicit",
			module: "tls: implicit\ntls_posture: true\nfail_if_legacy_tls_accepted: true",
			server: smtptest.Config{Implicit: versions(tls.VersionTLS11, tls.VersionTLS13)},
			want:   want{tls11: true},
			reason: ReasonLegacyTLSAccepted,
		},
		{
			name:   "modern only, STARTTLS",
			module: "tls: starttls\ntls_posture: true\nfail_if_legacy_tls_accepted: true",
			server: smtptest.Config{StartTLS: versions(tls.VersionTLS12, tls.VersionTLS13)},
		},
		{
			name:   "TLS 1.3 only, implicit",
			module: "tls: implicit\ntls_posture: true",
			server: smtptest.Config{Implicit: versions(tls.VersionTLS13, tls.VersionTLS13)},
		},
		{
			name:   "RC4 accepted besides a good suite",
			module: "tls: starttls\ntls_posture: true",
			server: smtptest.Config{StartTLS: suites(e.good.Certificates[0],
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA)},
			want: want{weak: true, cipher: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"},
		},
		{
			name:   "3DES with RSA key exchange, implicit",
			module: "tls: implicit\ntls_posture: true",
			server: smtptest.Config{Implicit: suites(rsaCert,
				tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA)},
			want: want{weak: true, cipher: "TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
		},
		{
			name:   "CBC-SHA256 with RSA key exchange",
			module: "tls: opportunistic\ntls_posture: true",
			server: smtptest.Config{StartTLS: suites(rsaCert,
				tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA256)},
			want: want{weak: true, cipher: "TLS_RSA_WITH_AES_128_CBC_SHA256"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServer(t, tc.server)
			r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", testModule(t, tc.module+"\ntls_config: {insecure_skip_verify: true}"), nil, Options{})
			expect(t, "failure", r.Failure, tc.reason)
			expect(t, "connections", srv.Accepted(), int64(1+len(postureSpecs)))
			if len(r.Posture) != len(postureSpecs) {
				t.Fatalf("%d posture checks, want %d", len(r.Posture), len(postureSpecs))
			}
			for _, c := range r.Posture {
				expect(t, c.Check+" conclusive", c.Conclusive, true)
			}
			expect(t, "TLS 1.0 accepted", r.PostureCheck(CheckTLS10).Accepted, tc.want.tls10)
			expect(t, "TLS 1.1 accepted", r.PostureCheck(CheckTLS11).Accepted, tc.want.tls11)
			weak := r.PostureCheck(CheckWeakCiphers)
			expect(t, "weak cipher accepted", weak.Accepted, tc.want.weak)
			expect(t, "weak cipher", weak.Cipher, tc.want.cipher)
			if tc.want.tls10 {
				expect(t, "TLS 1.0 version", r.PostureCheck(CheckTLS10).Version.String(), "TLS 1.0")
			}
			// The main probe keeps its modern defaults.
			if r.TLS == nil || r.TLS.Version == tls.VersionTLS10 {
				t.Errorf("main session: %+v", r.TLS)
			}
			// Every extra connection is in the transcript, under its check.
			for _, spec := range postureSpecs {
				n := 0
				for _, l := range r.Transcript {
					if l.Check == spec.check {
						n++
					}
				}
				if n < 2 {
					t.Errorf("%s: %d transcript lines:\n%s", spec.check, n, transcriptText(r))
				}
			}
			if tc.reason == ReasonLegacyTLSAccepted && !strings.Contains(r.Error, "still accepts") {
				t.Errorf("error %q does not say what was accepted", r.Error)
			}
		})
	}
}

// Without tls_posture no extra connection is made; nor without a TLS
// handshake in the main conversation.
func TestPostureOffOrNoTLS(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, module string }{
		{"posture off", "tls: starttls\ntls_config: {insecure_skip_verify: true}"},
		{"no STARTTLS offered", "tls: opportunistic\ntls_posture: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smtptest.Config{StartTLS: e.good}
			if strings.Contains(tc.name, "no STARTTLS") {
				cfg = smtptest.Config{}
			}
			srv := smtptest.NewServer(t, cfg)
			r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", testModule(t, tc.module), nil, Options{})
			expect(t, "success", r.Success, true)
			expect(t, "connections", srv.Accepted(), int64(1))
			expect(t, "posture", r.Posture == nil, true)
		})
	}
}

// Checks that cannot reach the handshake are not conclusive, whatever the
// reason, and share the probe's deadline: a server that answers the main
// conversation and then refuses or stalls further connections.
func TestPostureInconclusive(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		later func(net.Conn)
		want  string
	}{
		{"busy", func(c net.Conn) { c.Write([]byte("421 4.7.0 too many connections\r\n")) }, "greeted with 421"},
		{"no STARTTLS", func(c net.Conn) {
			c.Write([]byte("220 x ESMTP\r\n"))
			buf := make([]byte, 512)
			c.Read(buf)
			c.Write([]byte("250-x\r\n250 PIPELINING\r\n"))
			c.Read(buf)
		}, "STARTTLS is not advertised"},
		// The first check waits out the deadline, the others find none left.
		{"stalls", func(c net.Conn) { io.Copy(io.Discard, c) }, "i/o timeout|no time left"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := smtptest.NewRawServer(t, func(c net.Conn, s *smtptest.Server) {
				if n.Add(1) == 1 {
					s.Converse(c, smtptest.Config{StartTLS: e.good})
					return
				}
				tc.later(c)
			})
			m := testModule(t, "tls: starttls\ntls_posture: true\ntimeout: 2s\ntls_config: {ca_file: "+e.ca.File+"}")
			r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", m, nil, Options{})
			expect(t, "success", r.Success, true)
			expect(t, "main session encrypted", r.Encrypted, true)
			if len(r.Posture) != len(postureSpecs) {
				t.Fatalf("%d posture checks", len(r.Posture))
			}
			for _, c := range r.Posture {
				expect(t, c.Check+" conclusive", c.Conclusive, false)
				expect(t, c.Check+" accepted", c.Accepted, false)
				if !slices.ContainsFunc(strings.Split(tc.want, "|"), func(w string) bool { return strings.Contains(c.Error, w) }) {
					t.Errorf("%s: error %q, want it to mention %q", c.Check, c.Error, tc.want)
				}
			}
		})
	}
}

// The weak check offers RC4, 3DES and CBC suites only, never a suite a
// healthy server would choose (AEAD, also with RSA key exchange).
func TestWeakSuites(t *testing.T) {
	var names []string
	for _, id := range weakSuites {
		names = append(names, tls.CipherSuiteName(id))
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"} {
		if !strings.Contains(got, want) {
			t.Errorf("weak suites %s lack %s", got, want)
		}
	}
	for _, bad := range []string{"GCM", "CHACHA20", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA "} {
		if strings.Contains(got+" ", bad) {
			t.Errorf("weak suites %s include %s", got, bad)
		}
	}
}

// Without fail_if_legacy_tls_accepted, accepted legacy versions are a
// warning with the same reason, and the probe succeeds.
func TestPostureLegacyWarns(t *testing.T) {
	e := newEnv(t)
	c := e.good.Clone()
	c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS13
	srv := smtptest.NewServer(t, smtptest.Config{StartTLS: c})
	m := testModule(t, "tls: starttls\ntls_posture: true\ntls_config: {ca_file: "+e.ca.File+"}")
	r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", m, nil, Options{})
	expect(t, "success", r.Success, true)
	expect(t, "warning", r.HasWarning(ReasonLegacyTLSAccepted), true)
}
