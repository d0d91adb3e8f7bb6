package prober_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestHostileServers: servers that flood, trickle, send binary, break TLS
// or present absurd certificates. Each probe ends with the right reason
// within its module timeout, its allocations stay bounded (measured as the
// bytes allocated while it ran: a parser that buffered what the server sent
// would allocate at least the payload), its metrics and report stay valid
// UTF-8, and the process is still able to probe a healthy server after.
//
// The cases run one after the other: the allocation figures are
// process-wide and must not include another probe's.
func TestHostileServers(t *testing.T) {
	ca := smtptest.NewCA(t)
	localhost := smtptest.LocalhostLeaf()
	chain := ca.IssueChain(t, 49, localhost) // 50 certificates with the leaf
	manySANs := localhost
	// 1,200 names, about 28 KB: what the TLS handshake limit (32 KiB) lets in.
	for i := range 1200 {
		manySANs.DNSNames = append(manySANs.DNSNames, fmt.Sprintf("host-%04d.example.com", i))
	}
	sanCert := ca.Issue(t, manySANs)
	bigCert := ca.Issue(t, smtptest.WorstLeaf(200))
	caFile := "tls_config: {ca_file: " + ca.File + "}"
	// The system roots are loaded once per process, on first use; that
	// must not count against the first probe that verifies against them.
	if _, err := x509.SystemCertPool(); err != nil {
		t.Fatal(err)
	}
	const kib = 1 << 10

	cases := []struct {
		name   string
		module string
		server func(t *testing.T) string
		want   prober.Reason
		// maxAlloc bounds the bytes allocated during the probe, fake server included.
		maxAlloc uint64
		check    func(t *testing.T, r *prober.Result)
	}{
		{
			name:     "100000 continuation lines",
			module:   "{tls: none, timeout: 5s}",
			server:   send(t, strings.Repeat("220-more\r\n", 100000)),
			want:     prober.ReasonProtocolError,
			maxAlloc: 128 * kib,
		},
		{
			name:     "a 1 MiB greeting line",
			module:   "{tls: none, timeout: 5s}",
			server:   send(t, "220 "+strings.Repeat("x", 1<<20)+"\r\n"),
			want:     prober.ReasonProtocolError,
			maxAlloc: 128 * kib,
		},
		{
			name:     "1 MiB of NUL bytes",
			module:   "{tls: none, timeout: 5s}",
			server:   send(t, strings.Repeat("\x00", 1<<20)),
			want:     prober.ReasonProtocolError,
			maxAlloc: 128 * kib,
		},
		{
			name:   "NUL bytes and invalid UTF-8 in greeting and EHLO",
			module: "{tls: none, timeout: 5s}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{
					Greeting:  "220-\xff\xfe\x00 evil.test\r\n220 \xc3\x28 ready\r\n",
					EHLOReply: "250-\xff\x00evil.test \x1b[31m\r\n250-AUTH PLAIN \xff\x00 LOGIN\r\n250-X\xffY\r\n250-\x00\r\n250-SIZE \x00\r\n250 8BITMIME \xc3\x28\r\n",
				}).Addr
			},
			maxAlloc: 256 * kib,
			check: func(t *testing.T, r *prober.Result) {
				var keywords []string
				for _, e := range r.EHLO.Extensions {
					keywords = append(keywords, e.Keyword)
				}
				if got := strings.Join(keywords, " "); got != "AUTH SIZE 8BITMIME" {
					t.Errorf("extensions %q, want the well-formed ones only", got)
				}
				if got := strings.Join(r.EHLO.AuthMechanisms, " "); got != "PLAIN LOGIN" {
					t.Errorf("mechanisms %q", got)
				}
				if r.EHLO.Domain != "\uFFFD\uFFFDevil.test" {
					t.Errorf("domain %q", r.EHLO.Domain)
				}
			},
		},
		{
			name:     "STARTTLS accepted, then a plain-text EHLO reply instead of TLS",
			module:   "{tls: starttls, timeout: 5s}",
			server:   raw(t, smtptest.StartTLSThenPlain()),
			want:     prober.ReasonTLSHandshakeFailed,
			maxAlloc: 256 * kib,
		},
		{
			name:     "greeting trickled at one byte a second",
			module:   "{tls: none, timeout: 1500ms}",
			server:   raw(t, smtptest.Trickle("220 tarpit.test ESMTP\r\n", time.Second)),
			want:     prober.ReasonBannerTimeout,
			maxAlloc: 128 * kib,
		},
		{
			name:     "EHLO reply trickled at one byte a second",
			module:   "{tls: none, timeout: 1500ms}",
			server:   raw(t, smtptest.TrickleAfterGreeting("250-tarpit.test\r\n250 PIPELINING\r\n", time.Second)),
			want:     prober.ReasonTimeout,
			maxAlloc: 128 * kib,
		},
		{
			name:     "a 50-certificate chain",
			module:   "{tls: implicit, timeout: 5s, " + caFile + "}",
			server:   tlsServer(t, chain),
			maxAlloc: 2 << 20,
			check: func(t *testing.T, r *prober.Result) {
				if n := len(r.TLS.Certificates); n != 16 {
					t.Errorf("%d certificates reported, want the first 16", n)
				}
				if n := len(r.TLS.VerifiedChain); n > 16 {
					t.Errorf("%d certificates of the verified chain reported", n)
				}
			},
		},
		{
			name:     "a 50-certificate chain from an unknown CA",
			module:   "{tls: implicit, timeout: 5s}",
			server:   tlsServer(t, chain),
			want:     prober.ReasonCertUntrusted,
			maxAlloc: 2 << 20,
		},
		{
			name:   "a certificate with 1200 names",
			module: "{tls: starttls, timeout: 5s, " + caFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: smtptest.ServerTLS(sanCert)}).Addr
			},
			maxAlloc: 4 << 20,
			check: func(t *testing.T, r *prober.Result) {
				names := len(manySANs.DNSNames) + len(manySANs.IPs)
				if c := r.TLS.Certificates[0]; len(c.SANs) != 64 || c.SANsNotReported != names-64 {
					t.Errorf("%d names reported and %d not, want the first 64 and %d", len(c.SANs), c.SANsNotReported, names-64)
				}
			},
		},
		{
			name:   "a certificate past the handshake limit",
			module: "{tls: starttls, timeout: 5s, " + caFile + "}",
			server: func(t *testing.T) string {
				return smtptest.NewServer(t, smtptest.Config{StartTLS: smtptest.ServerTLS(bigCert)}).Addr
			},
			want:     prober.ReasonTLSHandshakeFailed,
			maxAlloc: 2 << 20, // the fake server's sending of 200 KB included
			check: func(t *testing.T, r *prober.Result) {
				if !strings.Contains(r.Error, "more than 32 KiB during the TLS handshake") {
					t.Errorf("error %q does not say the handshake was too large", r.Error)
				}
			},
		},
		{
			name:     "reset in the middle of the implicit TLS handshake",
			module:   "{tls: implicit, timeout: 5s}",
			server:   raw(t, smtptest.ResetMidHandshake(false)),
			want:     prober.ReasonConnectionReset,
			maxAlloc: 256 * kib,
		},
		{
			name:     "reset in the middle of the handshake after STARTTLS",
			module:   "{tls: starttls, timeout: 5s}",
			server:   raw(t, smtptest.ResetMidHandshake(true)),
			want:     prober.ReasonConnectionReset,
			maxAlloc: 256 * kib,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			module := parseModule(t, tc.module)
			target := tc.server(t)
			ctx, cancel := context.WithTimeout(context.Background(), module.Timeout)
			defer cancel()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := prober.Probe(ctx, mustTarget(t, target), "hostile", module, nil, prober.Options{})
			runtime.ReadMemStats(&after)

			if r.Failure != tc.want {
				t.Fatalf("failure %q (%s), want %q", r.Failure, r.Error, tc.want)
			}
			if r.Duration > module.Timeout+time.Second {
				// Not a speed assertion: a probe that outlives its deadline is a bug.
				t.Errorf("the probe took %s, beyond its %s timeout", r.Duration, module.Timeout)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB in %d allocations", allocated/kib, after.Mallocs-before.Mallocs)
			if allocated > tc.maxAlloc {
				t.Errorf("allocated %d KiB during the probe, more than %d KiB", allocated/kib, tc.maxAlloc/kib)
			}
			checkResult(t, r)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}

	healthy := smtptest.NewServer(t, smtptest.Config{})
	if r := prober.Probe(context.Background(), mustTarget(t, healthy.Addr), "healthy", parseModule(t, "{tls: none, timeout: 5s}"), nil, prober.Options{}); !r.Success {
		t.Errorf("a healthy server after the hostile ones: %s: %s", r.Failure, r.Error)
	}
}

// send starts a server that writes payload (built now, outside any
// allocation measurement) to every client.
func send(t *testing.T, payload string) func(*testing.T) string {
	data := []byte(payload)
	return func(t *testing.T) string { return smtptest.NewRawServer(t, smtptest.Send(data)).Addr }
}

func raw(t *testing.T, handle func(net.Conn, *smtptest.Server)) func(*testing.T) string {
	return func(t *testing.T) string { return smtptest.NewRawServer(t, handle).Addr }
}

func tlsServer(t *testing.T, cert tls.Certificate) func(*testing.T) string {
	return func(t *testing.T) string {
		return smtptest.NewServer(t, smtptest.Config{Implicit: smtptest.ServerTLS(cert)}).Addr
	}
}

// mustTarget parses a target a test probes.
func mustTarget(t testing.TB, s string) prober.Target {
	t.Helper()
	target, err := prober.ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return target
}
