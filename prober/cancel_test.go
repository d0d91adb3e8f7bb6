package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestProbeDeadlineAfterSTARTTLS: the deadline passing while the probe
// waits inside TLS ends the probe. Under -race it shows that the deadline,
// which fires on a timer's goroutine, does not race with the probe's switch
// to the TLS connection (the race the soak test once found).
func TestProbeDeadlineAfterSTARTTLS(t *testing.T) {
	e := newEnv(t)
	srv := smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) {
		r := bufio.NewReader(c)
		c.Write([]byte("220 fake.test\r\n"))
		r.ReadString('\n')
		c.Write([]byte("250-fake.test\r\n250 STARTTLS\r\n"))
		r.ReadString('\n')
		c.Write([]byte("220 go ahead\r\n"))
		tc := tls.Server(c, e.good)
		if tc.Handshake() != nil {
			return
		}
		bufio.NewReader(tc).ReadString('\n')
		tc.Read(make([]byte, 1)) // no reply to EHLO: wait for the client to go
	})
	module := testModule(t, "tls: starttls\ntimeout: 1s\ntls_config: {ca_file: "+e.ca.File+"}")
	r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", module, nil, Options{})
	expect(t, "failure", r.Failure, ReasonTimeout)
}
