package smtptest

import (
	"bytes"
	"net"
)

// ASA plays the well-behaved server of cfg behind a Cisco ASA's ESMTP
// inspection (on by default): the greeting masked with asterisks but for
// its code and digits, and STARTTLS in the EHLO reply rewritten to
// XXXXXXXA, so that the client sees a server without TLS.
func ASA(cfg Config) func(net.Conn, *Server) {
	return func(c net.Conn, s *Server) { s.converse(&asaConn{Conn: c}, cfg) }
}

type asaConn struct {
	net.Conn
	greeted bool
}

func (a *asaConn) Write(b []byte) (int, error) {
	out := bytes.ReplaceAll(b, []byte("STARTTLS"), []byte("XXXXXXXA"))
	if !a.greeted {
		a.greeted = true
		out = maskGreeting(out)
	}
	if _, err := a.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// maskGreeting keeps each line's code, digits, spaces and line ends, and
// writes an asterisk for every other byte, as the ASA's mask-banner does:
// "220 mx.example.org ESMTP Postfix 3.7" becomes "220 ************************3*7".
func maskGreeting(b []byte) []byte {
	out := bytes.Clone(b)
	col := 0
	for i, c := range out {
		switch {
		case c == '\r' || c == '\n':
			col = -1
		case col >= 4 && c != ' ' && (c < '0' || c > '9'):
			out[i] = '*'
		}
		col++
	}
	return out
}

// Serve serves handle on a listener the test made itself, such as one in
// a network namespace of its own (every other server here listens on
// loopback); it stops when the test ends.
func Serve(t T, ln net.Listener, handle func(net.Conn, *Server)) *Server {
	t.Helper()
	return serve(t, ln, handle)
}
