package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaultServerLimits(t *testing.T) {
	s := newHTTPServer(http.NotFoundHandler(), defaultServerLimits)
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("an unbounded server: %+v", defaultServerLimits)
	}
	if s.ReadHeaderTimeout > s.ReadTimeout {
		t.Errorf("header timeout %s is longer than the request timeout %s", s.ReadHeaderTimeout, s.ReadTimeout)
	}
}

// TestServerCutsOffSlowClients runs the exporter's server construction
// with short limits (the real ones are seconds to minutes) against clients
// that hold connections open: each is disconnected by the server. The
// client's own deadline only bounds the test if the server never acts.
func TestServerCutsOffSlowClients(t *testing.T) {
	limits := serverLimits{readHeader: 200 * time.Millisecond, read: 400 * time.Millisecond, idle: 300 * time.Millisecond, maxHeaderBytes: 4096}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }), limits)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cases := []struct {
		name string
		// client talks to the server; the server must then close the connection.
		client func(t *testing.T, c net.Conn, r *bufio.Reader)
		// wantStatus is the status line the server answers before closing ("" for none).
		wantStatus string
	}{
		{
			name: "headers trickled one byte at a time",
			client: func(t *testing.T, c net.Conn, _ *bufio.Reader) {
				c.Write([]byte("GET /probe?target=a:25 HTTP/1.1\r\nHost: x\r\n"))
				for range 100 {
					if _, err := c.Write([]byte("X")); err != nil {
						return // cut off
					}
					time.Sleep(50 * time.Millisecond)
				}
			},
		},
		{
			name:   "connects and sends nothing",
			client: func(*testing.T, net.Conn, *bufio.Reader) {},
		},
		{
			name: "kept alive and left idle",
			client: func(t *testing.T, c net.Conn, r *bufio.Reader) {
				c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			},
		},
		{
			name: "oversized headers",
			client: func(t *testing.T, c net.Conn, _ *bufio.Reader) {
				c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 10000) + "\r\n\r\n"))
			},
			wantStatus: "HTTP/1.1 431 Request Header Fields Too Large",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			tc.client(t, c, r)
			if tc.wantStatus != "" {
				line, _ := r.ReadString('\n')
				if strings.TrimSpace(line) != tc.wantStatus {
					t.Fatalf("status line %q, want %q", line, tc.wantStatus)
				}
			}
			// Drain until the server closes; a client-side timeout means it never did.
			_, err = io.Copy(io.Discard, r)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the server kept the connection open")
			}
		})
	}
}
