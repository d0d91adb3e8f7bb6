package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
)

func TestDefaultServerLimits(t *testing.T) {
	s := newHTTPServer(http.NotFoundHandler(), defaultServerLimits, runningConfig(t, time.Second))
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 || defaultServerLimits.write <= 0 {
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
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }), limits, runningConfig(t, time.Second))
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

// runningConfig is a config whose longest module timeout is longest.
func runningConfig(t *testing.T, longest time.Duration) func() *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("modules:\n  short:\n    timeout: 100ms\n  long:\n    timeout: %s\n", longest)))
	if err != nil {
		t.Fatal(err)
	}
	return func() *config.Config { return cfg }
}

func TestLongestProbe(t *testing.T) {
	if got := longestProbe(runningConfig(t, 7*time.Second)()); got != 7*time.Second {
		t.Errorf("longest probe %s, want 7s", got)
	}
}

// TestServerWriteDeadline: a reply that comes after the longest probe still
// goes out whole to a client that reads, and a client that never reads is
// let go: the handler's write fails instead of blocking for ever.
func TestServerWriteDeadline(t *testing.T) {
	const longest = 300 * time.Millisecond
	limits := defaultServerLimits
	limits.write = 2 * time.Second
	big := strings.Repeat("x", 256<<10)
	writeErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(longest) // a probe that runs to its module's timeout
		io.WriteString(w, big)
	})
	mux.HandleFunc("/flood", func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("y", 64<<10))
		for range 1024 { // 64 MiB, far past any socket buffer
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(mux, limits, runningConfig(t, longest))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != big {
		t.Fatalf("the reply after the longest probe: %d of %d bytes, %v", len(body), len(big), err)
	}

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	c.Write([]byte("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"))
	// The client never reads.
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("64 MiB went to a client that never reads")
		}
	case <-time.After(time.Minute):
		t.Fatal("the handler is still blocked writing to a client that never reads")
	}
}
