package smtptest

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// Handlers for NewRawServer that play servers a real mail server would not
// be: hostile, broken or very slow. Each gives up after 30 seconds at most,
// so a test that goes wrong still ends.

// Send writes payload at once (as much as the client reads before it goes
// away), then waits for the client to close. Payloads are built before the
// server starts, so that a test measuring the client's memory does not
// count them.
func Send(payload []byte) func(net.Conn, *Server) {
	return func(c net.Conn, _ *Server) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(payload); err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}
}

// Trickle writes data one byte every interval, the way a tarpit does.
func Trickle(data string, every time.Duration) func(net.Conn, *Server) {
	return func(c net.Conn, _ *Server) {
		end := time.Now().Add(30 * time.Second)
		c.SetWriteDeadline(end)
		for i := 0; i < len(data); i++ {
			if _, err := c.Write([]byte{data[i]}); err != nil {
				return
			}
			// Wait by reading, so that a client that hangs up (or talks) ends it.
			c.SetReadDeadline(time.Now().Add(every))
			if _, err := c.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
		c.SetReadDeadline(end)
		io.Copy(io.Discard, c)
	}
}

// TrickleAfterGreeting greets normally and trickles its reply to EHLO.
func TrickleAfterGreeting(reply string, every time.Duration) func(net.Conn, *Server) {
	return func(c net.Conn, s *Server) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte("220 tarpit.test ESMTP\r\n"))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return
		}
		Trickle(reply, every)(c, s)
	}
}

// StartTLSThenPlain advertises STARTTLS, accepts it with 220, and then
// answers the client's TLS hello with a plain-text EHLO reply, as a broken
// middlebox or a downgrade attempt would.
func StartTLSThenPlain() func(net.Conn, *Server) {
	return func(c net.Conn, _ *Server) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		c.Write([]byte("220 fake.test ESMTP\r\n"))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
			case "EHLO":
				c.Write([]byte("250-fake.test\r\n250 STARTTLS\r\n"))
			case "STARTTLS":
				c.Write([]byte("220 2.0.0 Ready to start TLS\r\n"))
				r.Read(make([]byte, 512)) // the ClientHello
				c.Write([]byte("250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"))
				io.Copy(io.Discard, c)
				return
			default:
				c.Write([]byte("502 5.5.2 Error\r\n"))
			}
		}
	}
}

// ResetMidHandshake reads the client's TLS hello and resets the connection
// (TCP RST) instead of answering it; with starttls it first plays the clear
// text part up to the 220 to STARTTLS.
func ResetMidHandshake(starttls bool) func(net.Conn, *Server) {
	return func(c net.Conn, _ *Server) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		if starttls {
			c.Write([]byte("220 fake.test ESMTP\r\n"))
			for done := false; !done; {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(strings.ToUpper(line), "STARTTLS") {
					c.Write([]byte("220 2.0.0 Ready to start TLS\r\n"))
					done = true
				} else {
					c.Write([]byte("250-fake.test\r\n250 STARTTLS\r\n"))
				}
			}
		}
		if _, err := r.Read(make([]byte, 512)); err != nil {
			return
		}
		c.(*net.TCPConn).SetLinger(0)
	}
}

// IssueChain issues leaf under a chain of depth intermediate CAs below ca,
// and returns it with the whole chain (leaf first, as a server sends it).
func (ca *CA) IssueChain(t T, depth int, leaf Leaf) tls.Certificate {
	t.Helper()
	parent, parentKey := ca.Cert, ca.Key
	var intermediates [][]byte
	for i := range depth {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(int64(100 + i)),
			Subject:               pkix.Name{CommonName: fmt.Sprintf("smtptest intermediate %d", i+1)},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(365 * 24 * time.Hour),
			IsCA:                  true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		if parent, err = x509.ParseCertificate(der); err != nil {
			t.Fatal(err)
		}
		parentKey = key
		intermediates = append([][]byte{der}, intermediates...)
	}
	sub := &CA{Cert: parent, Key: parentKey}
	cert := sub.Issue(t, leaf)
	cert.Certificate = append(cert.Certificate, intermediates...)
	return cert
}
