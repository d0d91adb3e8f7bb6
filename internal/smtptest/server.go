package smtptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the behaviour of a well-behaved fake SMTP server. Fields left
// zero get the behaviour of a plain, friendly server.
type Config struct {
	// Greeting is the whole greeting, CR LF terminated lines included
	// (default "220 fake.test ESMTP smtptest\r\n").
	Greeting string
	// Extensions follow the first EHLO line (default PIPELINING, SIZE 10240000, 8BITMIME).
	Extensions []string
	// StartTLS, when set, advertises STARTTLS and upgrades with this config.
	StartTLS *tls.Config
	// Implicit, when set, speaks TLS from the first byte with this config.
	Implicit *tls.Config
	// AuthMechanisms are advertised on encrypted sessions (and on clear
	// text too when AuthBeforeTLS is set).
	AuthMechanisms []string
	AuthBeforeTLS  bool
	// Users are the accepted username/password pairs.
	Users map[string]string
	// EHLOReply and StartTLSReply, when set, replace the normal replies.
	EHLOReply     string
	StartTLSReply string
	// AfterStartTLS is written right after the 220 to STARTTLS, in clear text.
	AfterStartTLS string
	// InjectionVulnerable keeps the clear-text bytes a client pipelined
	// after STARTTLS and reads them as commands inside TLS: the STARTTLS
	// command injection of CVE-2011-0411.
	InjectionVulnerable bool
	// AuthEcho makes a refused AUTH quote the credentials back, in base64
	// and decoded, as a hostile server may to get them into logs.
	AuthEcho bool
	// Hold, when set, holds every connection before the greeting until it
	// is closed, like a tarpit that greets in the end (30 seconds at most).
	Hold <-chan struct{}
	// MailReply replaces the reply to MAIL FROM (default 250).
	MailReply string
	// Recipients, when set, are the replies to RCPT TO by address; an
	// address not in it gets 550. Nil accepts every recipient.
	Recipients map[string]string
	// AuthReply, when set, writes the reply to refused credentials (CR LF
	// terminated lines included), for servers that try to get the password
	// past redaction: padded, split across lines, re-encoded.
	AuthReply func(initial, user, pass string) string
}

// Server is a fake SMTP server on 127.0.0.1.
type Server struct {
	Addr string

	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	// accepted counts connections, so tests can tell none was made.
	accepted atomic.Int64
	// Seen collects the last maxSeen client lines the server read (AUTH
	// payloads included); bounded so that a soak test's fakes don't grow.
	seen []string
	// remotes are the client addresses of the last maxSeen connections.
	remotes []string
}

// NewServer starts a well-behaved server; it stops when the test ends.
func NewServer(t T, cfg Config) *Server {
	return NewRawServer(t, func(c net.Conn, s *Server) { s.converse(c, cfg) })
}

// NewRawServer starts a server that hands each connection to handle, for
// misbehaviour; it stops when the test ends.
func NewRawServer(t T, handle func(net.Conn, *Server)) *Server {
	t.Helper()
	return NewRawServerAt(t, "127.0.0.1", handle)
}

// NewServerAt is NewServer on another loopback address (127.0.0.2, ...),
// for tests of what DNS says about the address: 127.0.0.1 has names in
// /etc/hosts, which Go's resolver reads before asking DNS.
func NewServerAt(t T, ip string, cfg Config) *Server {
	return NewRawServerAt(t, ip, func(c net.Conn, s *Server) { s.converse(c, cfg) })
}

// NewRawServerAt is NewRawServer on another loopback address.
func NewRawServerAt(t T, ip string, handle func(net.Conn, *Server)) *Server {
	t.Helper()
	if a, err := netip.ParseAddr(ip); err != nil || !a.IsLoopback() {
		t.Fatalf("test servers listen on loopback only, not %q", ip)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln, handle)
}

// NewServerOn starts a well-behaved server on addr, a loopback host:port
// (servers on several addresses sharing one port, as a mail domain's MX
// addresses do); the error is the listen's, so a caller can try another
// port.
func NewServerOn(t T, addr string, cfg Config) (*Server, error) {
	return NewRawServerOn(t, addr, func(c net.Conn, s *Server) { s.converse(c, cfg) })
}

// NewRawServerOn is NewRawServer on addr, as NewServerOn.
func NewRawServerOn(t T, addr string, handle func(net.Conn, *Server)) (*Server, error) {
	t.Helper()
	if ap, err := netip.ParseAddrPort(addr); err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("test servers listen on loopback only, not %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serve(t, ln, handle), nil
}

func serve(t T, ln net.Listener, handle func(net.Conn, *Server)) *Server {
	s := &Server{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			if len(s.remotes) < maxSeen {
				s.remotes = append(s.remotes, c.RemoteAddr().String())
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() {
				defer func() {
					c.Close()
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
				}()
				handle(c, s)
			})
		}
	})
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and every connection it holds.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Accepted returns how many connections the server has accepted.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// maxSeen bounds the lines Seen keeps.
const maxSeen = 1000

// Seen returns the client lines the server has read, the last 1000 at most.
func (s *Server) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// Remotes returns the client addresses of the connections accepted (the
// first 1000).
func (s *Server) Remotes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.remotes...)
}

func (s *Server) record(line string) {
	s.mu.Lock()
	if len(s.seen) >= maxSeen {
		s.seen = append(s.seen[:0], s.seen[len(s.seen)-maxSeen/2:]...)
	}
	s.seen = append(s.seen, line)
	s.mu.Unlock()
}

// Converse plays the well-behaved server of cfg on one connection of a raw
// server, for servers that treat some connections differently.
func (s *Server) Converse(c net.Conn, cfg Config) { s.converse(c, cfg) }

// converse plays a friendly SMTP server until QUIT or an error.
func (s *Server) converse(c net.Conn, cfg Config) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	encrypted := false
	if cfg.Implicit != nil {
		tc := tls.Server(c, cfg.Implicit)
		if err := tc.Handshake(); err != nil {
			return
		}
		c, encrypted = tc, true
	}
	r := bufio.NewReader(c)
	greeting := cfg.Greeting
	if greeting == "" {
		greeting = "220 fake.test ESMTP smtptest\r\n"
	}
	if cfg.Hold != nil {
		select {
		case <-cfg.Hold:
		case <-time.After(30 * time.Second):
			return
		}
	}
	if _, err := c.Write([]byte(greeting)); err != nil {
		return
	}
	if !strings.HasPrefix(greeting, "220") {
		// A server refusing the client answers QUIT and nothing else.
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			s.record(strings.TrimRight(line, "\r\n"))
			if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
				c.Write([]byte("221 2.0.0 Bye\r\n"))
				return
			}
			c.Write([]byte("503 5.5.1 Go away\r\n"))
		}
	}
	exts := cfg.Extensions
	if exts == nil {
		exts = []string{"PIPELINING", "SIZE 10240000", "8BITMIME"}
	}
	reply := func(s string) bool { _, err := c.Write([]byte(s)); return err == nil }
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.record(line)
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if cfg.EHLOReply != "" {
				reply(cfg.EHLOReply)
				continue
			}
			lines := []string{"fake.test Hello " + arg}
			lines = append(lines, exts...)
			if cfg.StartTLS != nil && !encrypted {
				lines = append(lines, "STARTTLS")
			}
			if len(cfg.AuthMechanisms) > 0 && (encrypted || cfg.AuthBeforeTLS) {
				lines = append(lines, "AUTH "+strings.Join(cfg.AuthMechanisms, " "))
			}
			var b strings.Builder
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				b.WriteString("250" + sep + l + "\r\n")
			}
			reply(b.String())
		case "STARTTLS":
			if cfg.StartTLSReply != "" {
				reply(cfg.StartTLSReply)
				continue
			}
			if cfg.StartTLS == nil || encrypted {
				reply("502 5.5.1 Not supported\r\n")
				continue
			}
			reply("220 2.0.0 Ready to start TLS\r\n" + cfg.AfterStartTLS)
			var pipelined []byte
			if cfg.InjectionVulnerable {
				b, _ := r.Peek(r.Buffered())
				pipelined = bytes.Clone(b)
			}
			tc := tls.Server(c, cfg.StartTLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, encrypted = tc, true
			r = bufio.NewReader(io.MultiReader(bytes.NewReader(pipelined), c))
		case "AUTH":
			if !s.auth(c, r, arg, cfg) {
				return
			}
		case "QUIT":
			reply("221 2.0.0 Bye\r\n")
			return
		case "NOOP", "RSET":
			reply("250 2.0.0 OK\r\n")
		case "MAIL":
			if cfg.MailReply != "" {
				reply(cfg.MailReply)
				continue
			}
			reply("250 2.1.0 Ok\r\n")
		case "RCPT":
			if cfg.Recipients == nil {
				reply("250 2.1.5 Ok\r\n")
				continue
			}
			_, addr, _ := strings.Cut(arg, ":")
			addr = strings.Trim(addr, "<>")
			if r, ok := cfg.Recipients[addr]; ok {
				reply(r)
			} else {
				reply("550 5.1.1 <" + addr + ">: Recipient address rejected: User unknown\r\n")
			}
		default:
			reply("502 5.5.2 Command not recognized\r\n")
		}
	}
}

func (s *Server) auth(c net.Conn, r *bufio.Reader, arg string, cfg Config) bool {
	mech, initial, _ := strings.Cut(arg, " ")
	readLine := func() (string, bool) {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		line = strings.TrimRight(line, "\r\n")
		s.record(line)
		return line, true
	}
	decode := func(s string) string {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "\x00invalid"
		}
		return string(b)
	}
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if initial == "" {
			c.Write([]byte("334 \r\n"))
			var ok bool
			if initial, ok = readLine(); !ok {
				return false
			}
		}
		parts := strings.Split(decode(initial), "\x00")
		if len(parts) == 3 {
			user, pass = parts[1], parts[2]
		}
	case "LOGIN":
		c.Write([]byte("334 VXNlcm5hbWU6\r\n"))
		u, ok := readLine()
		if !ok {
			return false
		}
		c.Write([]byte("334 UGFzc3dvcmQ6\r\n"))
		p, ok := readLine()
		if !ok {
			return false
		}
		user, pass = decode(u), decode(p)
	default:
		c.Write([]byte("504 5.5.4 Unrecognized authentication type\r\n"))
		return true
	}
	var reply string
	switch want, ok := cfg.Users[user]; {
	case ok && want == pass:
		reply = "235 2.7.0 Authentication successful\r\n"
	case cfg.AuthReply != nil:
		reply = cfg.AuthReply(initial, user, pass)
	case cfg.AuthEcho:
		reply = "535 5.7.8 Rejected " + initial + " user " + user + " password " + pass + "\r\n"
	default:
		reply = "535 5.7.8 Authentication credentials invalid\r\n"
	}
	_, err := c.Write([]byte(reply))
	return err == nil
}

// NewServersOnOnePort starts a server on each loopback address of addrs,
// all on one port, as a mail domain's MX addresses share the port of its
// module; handle gives each address's handler. It tries ports until one
// is free on every address, and returns it with the servers, in the order
// of addrs.
func NewServersOnOnePort(t T, addrs []string, handle func(addr string) func(net.Conn, *Server)) (int, []*Server, error) {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			return 0, nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		var started []*Server
		for _, a := range addrs {
			s, err := NewRawServerOn(t, net.JoinHostPort(a, strconv.Itoa(port)), handle(a))
			if err != nil {
				break
			}
			started = append(started, s)
		}
		if len(started) == len(addrs) {
			return port, started, nil
		}
		for _, s := range started {
			s.Close()
		}
	}
	return 0, nil, fmt.Errorf("no port free on every address of %v", addrs)
}
