package prober

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// errWouldWait stands for a server that sends nothing more: a reader that
// returns it shows that ReadReply asked for more bytes instead of deciding.
var errWouldWait = errors.New("read past what the server sent: the probe would wait for its deadline")

type silentAfter struct{ r io.Reader }

func (s silentAfter) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		return n, errWouldWait
	}
	return n, err
}

// TestReadReplyDecidesEarly checks that bytes which cannot begin a reply
// end the read at once, without waiting for a line end that may never
// come, while the beginning of a real reply is waited for.
func TestReadReplyDecidesEarly(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr string // "" : ReadReply must wait for more
	}{
		{"binary noise", "\x00\x01\x02\xff\xfe", "not an SMTP reply: \"\uFFFD\uFFFD\uFFFD\uFFFD\""},
		{"TLS record", "\x16\x03\x01\x00\xa5\x01\x00", "not an SMTP reply: \"" + strings.Repeat("\uFFFD", 7) + "\""},
		{"SSH banner without line end yet", "SSH-2.0-OpenSSH_9.2", `not an SMTP reply: "SSH-2.0-OpenSSH_9.2"`},
		{"code out of range", "6", `not an SMTP reply: "6"`},
		{"letter in the code", "2x", `not an SMTP reply: "2x"`},
		{"code not followed by space or dash", "220_", `not an SMTP reply: "220_"`},
		{"second line of a reply goes wrong", "220-first\r\nxx", `not an SMTP reply: "xx"`},
		{"nothing yet", "", ""},
		{"start of a code", "2", ""},
		{"code without separator yet", "220", ""},
		{"greeting without line end yet", "220 mail.example.com ESMTP", ""},
		{"continuation without line end yet", "220-first\r\n220", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(silentAfter{strings.NewReader(tc.in)}, MaxReplyLineBytes)
			_, err := ReadReply(r, nil)
			if tc.wantErr == "" {
				if !errors.Is(err, errWouldWait) {
					t.Fatalf("err = %v, want ReadReply to wait for more bytes", err)
				}
				return
			}
			if _, ok := errors.AsType[*ProtocolError](err); !ok {
				t.Fatalf("err = %v, want a protocol error before reading further", err)
			}
			if err.Error() != tc.wantErr {
				t.Errorf("err = %q, want %q", err, tc.wantErr)
			}
		})
	}
}

// onceThenEOF fails its first read with err and reads EOF afterwards, as a
// socket does after a reset.
type onceThenEOF struct {
	err  error
	done bool
}

func (o *onceThenEOF) Read([]byte) (int, error) {
	if o.done {
		return 0, io.EOF
	}
	o.done = true
	return 0, o.err
}

func TestReadReplyKeepsTheFirstReadError(t *testing.T) {
	for _, want := range []error{syscall.ECONNRESET, os.ErrDeadlineExceeded} {
		r := bufio.NewReaderSize(&onceThenEOF{err: want}, MaxReplyLineBytes)
		if _, err := ReadReply(r, nil); !errors.Is(err, want) {
			t.Errorf("err = %v, want %v: the first failed read decides the reason", err, want)
		}
	}
}
