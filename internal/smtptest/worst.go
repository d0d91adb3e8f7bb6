package smtptest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// Worst is the most memory-hungry server of the test suite, for the bounds
// of a probe against hostile servers and the bench's RSS row: each reply
// is as long as a probe accepts (prober.MaxReplyBytes, in lines of 500
// bytes), its certificate as large as the probe's TLS handshake limit lets
// in (28 KB of long names that do not verify for the probe's name, so that
// Go's HostnameError lists them all), and it never answers QUIT. Hold keeps
// each probe in flight, in the middle of the EHLO reply after STARTTLS,
// until Release or its duration passes.
type Worst struct {
	*Server
	// Held counts connections stalled in the EHLO reply after STARTTLS.
	Held    atomic.Int64
	release chan struct{}
	closed  atomic.Bool
}

// WorstLeaf is a certificate of about kb kilobytes of 99 long names, none
// of them localhost: it never verifies for the probe, Go's HostnameError
// lists them all (it only counts 100 or more), and they are more than a
// result keeps.
func WorstLeaf(kb int) Leaf {
	const names = 99
	var l Leaf
	for i := range names {
		l.DNSNames = append(l.DNSNames, fmt.Sprintf("%03d-%s.example", i, strings.Repeat("x", kb*1000/names-12)))
	}
	return l
}

// NewWorst starts the worst server with a certificate from ca; hold is how
// long each connection stalls in the EHLO reply after STARTTLS (0: not at
// all) unless Release comes first.
func NewWorst(t T, ca *CA, hold time.Duration) *Worst {
	t.Helper()
	w := &Worst{release: make(chan struct{})}
	cfg := ServerTLS(ca.Issue(t, WorstLeaf(28)))
	// Long replies: as many bytes as a reply may have,
	// after the lines that keep the probe going (STARTTLS, AUTH).
	long := func(code string, head ...string) string {
		var b strings.Builder
		for _, h := range head {
			b.WriteString(code + "-" + h + "\r\n")
		}
		// 31 lines of 500 bytes and the rest: just under 16 KiB of text,
		// in lines a probe keeps whole (it cuts lines at RFC 5321's 512).
		for i := range 31 {
			fmt.Fprintf(&b, "%s-%03d %s\r\n", code, i, strings.Repeat("y", 490))
		}
		b.WriteString(code + " END\r\n")
		return b.String()
	}
	greeting := long("220", "worst.test ESMTP")
	ehlo := long("250", "worst.test", "STARTTLS")
	ehloTLS := long("250", "worst.test", "AUTH PLAIN LOGIN")
	// The last line of the EHLO reply after STARTTLS is held back.
	cut := strings.LastIndex(ehloTLS[:len(ehloTLS)-2], "\r\n") + 2
	w.Server = NewRawServer(t, func(c net.Conn, s *Server) {
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		if _, err := c.Write([]byte(greeting)); err != nil {
			return
		}
		r := bufio.NewReader(c)
		expect := func(verb string) bool {
			line, err := r.ReadString('\n')
			return err == nil && strings.HasPrefix(strings.ToUpper(line), verb)
		}
		if !expect("EHLO") || !writeAll(c, ehlo) || !expect("STARTTLS") || !writeAll(c, "220 2.0.0 go ahead\r\n") {
			return
		}
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		r = bufio.NewReader(tc)
		if !expect("EHLO") || !writeAll(tc, ehloTLS[:cut]) {
			return
		}
		if hold > 0 {
			w.Held.Add(1)
			select {
			case <-w.release:
			case <-time.After(hold):
			}
			w.Held.Add(-1)
		}
		if !writeAll(tc, ehloTLS[cut:]) {
			return
		}
		// QUIT (or anything else) is read and never answered.
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
		}
	})
	t.Cleanup(w.Release)
	return w
}

// Release lets every held connection go on.
func (w *Worst) Release() {
	if w.closed.CompareAndSwap(false, true) {
		close(w.release)
	}
}

func writeAll(c net.Conn, s string) bool {
	_, err := c.Write([]byte(s))
	return err == nil
}
