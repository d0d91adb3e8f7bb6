package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// unclearAfterTLS greets, offers STARTTLS, reads what the client sends with
// it in one read (handed to segments), starts TLS and then answers one
// reply that QUIT does not explain, and hangs up: a check cannot place it.
func unclearAfterTLS(cfg *tls.Config, segments chan<- string, inside string) func(net.Conn, *smtptest.Server) {
	return func(c net.Conn, _ *smtptest.Server) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		c.Write([]byte("220 fake.test ESMTP\r\n"))
		if _, err := r.ReadString('\n'); err != nil { // EHLO
			return
		}
		c.Write([]byte("250-fake.test\r\n250 STARTTLS\r\n"))
		buf := make([]byte, 512)
		n, err := r.Read(buf)
		if err != nil {
			return
		}
		segments <- string(buf[:n])
		c.Write([]byte("220 2.0.0 Ready to start TLS\r\n"))
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.Write([]byte(inside))
		tc.Close()
	}
}

func TestStartTLSInjection(t *testing.T) {
	e := newEnv(t)
	segments := make(chan string, 10)
	cases := []struct {
		name   string
		module string
		server func(t *testing.T) *smtptest.Server
		want   string // "": the check does not run
		detail string
	}{
		{"vulnerable", "tls: starttls", func(t *testing.T) *smtptest.Server {
			return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, InjectionVulnerable: true})
		}, InjectionVulnerable, "inside TLS the server answered the NOOP sent in clear text before the handshake (250), then QUIT (221)"},
		{"not vulnerable", "tls: starttls", func(t *testing.T) *smtptest.Server {
			return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good})
		}, InjectionNotVulnerable, "the server answered QUIT first"},
		{"no STARTTLS", "tls: opportunistic", func(t *testing.T) *smtptest.Server {
			return smtptest.NewServer(t, smtptest.Config{})
		}, InjectionInconclusive, "the server does not offer STARTTLS on this connection"},
		{"STARTTLS refused", "tls: opportunistic", func(t *testing.T) *smtptest.Server {
			return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, StartTLSReply: "454 4.7.0 TLS not available\r\n"})
		}, InjectionInconclusive, "STARTTLS with a command behind it: answered 454"},
		{"clear text after STARTTLS", "tls: opportunistic", func(t *testing.T) *smtptest.Server {
			return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, AfterStartTLS: "250 2.0.0 Ok\r\n"})
		}, InjectionInconclusive, "the server answered the command after STARTTLS in clear text"},
		{"one reply, then gone", "tls: opportunistic", func(t *testing.T) *smtptest.Server {
			return smtptest.NewRawServer(t, unclearAfterTLS(e.good, segments, "250 2.0.0 Ok\r\n"))
		}, InjectionInconclusive, "inside TLS the server answered 250 to QUIT, then EOF"},
		{"silence, then gone", "tls: opportunistic", func(t *testing.T) *smtptest.Server {
			return smtptest.NewRawServer(t, unclearAfterTLS(e.good, segments, ""))
		}, InjectionInconclusive, "no reply inside TLS: EOF"},
		{"not asked", "tls: starttls", func(t *testing.T) *smtptest.Server {
			return smtptest.NewServer(t, smtptest.Config{StartTLS: e.good, InjectionVulnerable: true})
		}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.server(t)
			module := tc.module + "\ntls_config: {ca_file: " + e.ca.File + "}"
			if tc.want != "" {
				module += "\nstarttls_injection_check: true"
			}
			r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", testModule(t, module), nil, Options{})
			if tc.want == "" {
				if r.Injection != nil {
					t.Errorf("the check ran without starttls_injection_check: %+v", r.Injection)
				}
				return
			}
			if r.Injection == nil {
				t.Fatal("no injection check")
			}
			expect(t, "result", r.Injection.Result, tc.want)
			if !strings.Contains(r.Injection.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", r.Injection.Detail, tc.detail)
			}
			for _, line := range srv.Seen() {
				if strings.HasPrefix(strings.ToUpper(line), "DATA") {
					t.Errorf("the probe sent DATA: %q", line)
				}
			}
			// The check's lines are in the transcript, under its name.
			if !strings.Contains(transcriptText(r), "STARTTLS injection check") {
				t.Errorf("transcript lacks the check:\n%s", transcriptText(r))
			}
		})
	}
	// STARTTLS and the injected command left in one write, which the
	// server read in one go (the conversation's own STARTTLS comes alone).
	close(segments)
	var got []string
	for s := range segments {
		got = append(got, s)
	}
	if strings.Count(strings.Join(got, "|"), "STARTTLS\r\nNOOP\r\n") != 2 {
		t.Errorf("the servers read %q after EHLO, want STARTTLS and NOOP together on each check's connection", got)
	}
}

// TestStartTLSInjectionNotRun: a conversation that did not connect leaves
// the check inconclusive, and it never dials.
func TestStartTLSInjectionNotRun(t *testing.T) {
	r := Probe(context.Background(), mustTarget(t, smtptest.RefusedAddr(t)), "test",
		testModule(t, "tls: starttls\nstarttls_injection_check: true"), nil, Options{})
	if r.Injection == nil || r.Injection.Result != InjectionInconclusive || r.Injection.Detail != "not run: the conversation did not connect" {
		t.Errorf("injection %+v, want inconclusive: not run", r.Injection)
	}
}
