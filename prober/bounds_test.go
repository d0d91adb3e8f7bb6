package prober

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// TestReplyTranscript: of a long reply the transcript shows the first lines
// up to maxReplyTranscriptBytes, says how many it left out, then shows the
// last; a short reply is shown whole.
func TestReplyTranscript(t *testing.T) {
	long := strings.Repeat("y", 500)
	cases := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "short",
			in:   "250-mx.example\r\n250-STARTTLS\r\n250 SIZE 1000\r\n",
			want: []string{"S 250-mx.example", "S 250-STARTTLS", "S 250 SIZE 1000"},
		},
		{
			name: "long",
			in:   strings.Repeat("250-"+long+"\r\n", 10) + "250 END\r\n",
			want: []string{
				"S 250-" + long, "S 250-" + long, "S 250-" + long, "S 250-" + long,
				"* 6 more lines of this reply (3024 bytes) left out of the transcript", "S 250 END",
			},
		},
		{
			name: "long lines cut",
			in:   "250-" + strings.Repeat("x", 1000) + "\r\n250 END\r\n",
			want: []string{"S 250-" + strings.Repeat("x", maxTranscriptLineBytes-4-len(cutMarker)) + cutMarker, "S 250 END"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &conversation{ctx: context.Background(), result: &Result{}, opts: Options{Now: time.Now}, logger: slog.New(slog.DiscardHandler)}
			if _, err := p.readReplyOf("", bufio.NewReaderSize(strings.NewReader(tc.in), MaxReplyLineBytes)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range p.result.Transcript {
				got = append(got, l.From+" "+l.Text)
			}
			expect(t, "transcript", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		})
	}
}

// recordConn hands out what it holds as fast as asked, as a socket with
// everything already received would.
type recordConn struct {
	net.Conn
	r io.Reader
}

func (c recordConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// TestTLSReadsStopAtRecords: reading under a TLS client, no read crosses
// the end of a record, whatever the socket hands over at a time and
// whatever the reader asks for, and every byte comes through in order.
func TestTLSReadsStopAtRecords(t *testing.T) {
	var stream bytes.Buffer
	var ends []int
	for _, n := range []int{0, 1, 100, 16384, 5, 511, 512, 513, 16640, 2} {
		stream.Write([]byte{23, 3, 3, byte(n >> 8), byte(n)})
		stream.Write(bytes.Repeat([]byte{byte(n)}, n))
		ends = append(ends, stream.Len())
	}
	sent := stream.Bytes()
	sockets := map[string]func(io.Reader) io.Reader{
		"all at once":    func(r io.Reader) io.Reader { return r },
		"a byte a time":  iotest.OneByteReader,
		"half of it":     iotest.HalfReader,
		"7 bytes a time": func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 7} },
	}
	for name, socket := range sockets {
		for _, size := range []int{40000, 517, 3} {
			t.Run(fmt.Sprintf("%s, reads of %d", name, size), func(t *testing.T) {
				c := &tlsReads{Conn: recordConn{r: socket(bytes.NewReader(sent))}, done: true}
				var got []byte
				buf := make([]byte, size)
				for {
					n, err := c.Read(buf)
					start := len(got)
					got = append(got, buf[:n]...)
					for _, end := range ends {
						if start < end && end < len(got) {
							t.Fatalf("a read of bytes %d to %d crossed the record end at %d", start, len(got), end)
						}
					}
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(got, sent) {
					t.Fatalf("read %d bytes, not the %d sent", len(got), len(sent))
				}
			})
		}
	}
}

// chunkReader hands over at most n bytes a read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(b []byte) (int, error) { return c.r.Read(b[:min(len(b), c.n)]) }

// TestTLSReadsHandshakeLimit: during the handshake the reads stop at
// maxHandshakeBytes with an error that says why; after it, they do not.
func TestTLSReadsHandshakeLimit(t *testing.T) {
	record := append([]byte{22, 3, 3, 0x40, 0}, make([]byte, 0x4000)...)
	stream := bytes.Repeat(record, 3)
	for _, done := range []bool{false, true} {
		c := &tlsReads{Conn: recordConn{r: bytes.NewReader(stream)}, done: done}
		n, err := io.Copy(io.Discard, struct{ io.Reader }{c})
		if done {
			if err != nil || n != int64(len(stream)) {
				t.Errorf("after the handshake: read %d of %d bytes, err %v", n, len(stream), err)
			}
			continue
		}
		if !errors.Is(err, errHandshakeTooLarge) || n != maxHandshakeBytes {
			t.Errorf("during the handshake: read %d bytes, err %v; want %d and errHandshakeTooLarge", n, err, maxHandshakeBytes)
		}
	}
}

// TestVerifyErrorText: Go's text when it is short; when the certificate's
// names would make it long, whole names up to the bound and how many more.
func TestVerifyErrorText(t *testing.T) {
	short := &x509.Certificate{DNSNames: []string{"a.example", "b.example"}}
	var many []string
	for i := range 99 {
		many = append(many, fmt.Sprintf("%02d-%s.example", i, strings.Repeat("x", 270)))
	}
	long := &x509.Certificate{DNSNames: many}
	got := verifyErrorText(x509.HostnameError{Certificate: short, Host: "mx.example"})
	expect(t, "short", got, x509.HostnameError{Certificate: short, Host: "mx.example"}.Error())

	got = verifyErrorText(fmt.Errorf("wrapped: %w", x509.HostnameError{Certificate: long, Host: "mx.example"}))
	if len(got) > 2*MaxErrorBytes+100 {
		t.Errorf("%d bytes of text", len(got))
	}
	if !strings.HasPrefix(got, "x509: certificate is valid for "+many[0]+", "+many[1]+", "+many[2]) ||
		!strings.HasSuffix(got, fmt.Sprintf(" and %d more names, not mx.example", 99-3)) {
		t.Errorf("text %q", got)
	}
	other := errors.New("x509: certificate signed by unknown authority")
	expect(t, "other", verifyErrorText(other), other.Error())
}
