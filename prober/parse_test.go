package prober

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
)

func TestReadReply(t *testing.T) {
	long := strings.Repeat("y", 500)
	cases := []struct {
		in        string
		keep      func(string) string // nil: every line as read
		wantCode  int
		wantLines []string
		wantErr   string
	}{
		{in: "220 mail.example.com ESMTP\r\n", wantCode: 220, wantLines: []string{"mail.example.com ESMTP"}},
		{in: "220-first\r\n220-second\r\n220 last\r\n", wantCode: 220, wantLines: []string{"first", "second", "last"}},
		{in: "250\r\n", wantCode: 250, wantLines: []string{""}},
		{in: "250 bare LF\n", wantCode: 250, wantLines: []string{"bare LF"}},
		{in: "554 5.7.1 no\r\n", wantCode: 554, wantLines: []string{"5.7.1 no"}},
		{in: "", wantErr: "EOF"},
		{in: "220-first\r\n", wantErr: "unexpected EOF"},
		{in: "220 no newline", wantErr: "unexpected EOF"},
		{in: "22\r\n", wantErr: `malformed reply line "22"`},
		{in: "abc hello\r\n", wantErr: `malformed reply line "abc hello": no reply code`},
		{in: "999 nine\r\n", wantErr: "reply code 999 out of range 200-599"},
		{in: "120 wait\r\n", wantErr: "reply code 120 out of range 200-599"},
		{in: "220_x\r\n", wantErr: `malformed reply line "220_x": code not followed by space or dash`},
		{in: "220-a\r\n250 b\r\n", wantErr: "reply code changed from 220 to 250 within one reply"},
		{in: "220 " + strings.Repeat("x", MaxReplyLineBytes) + "\r\n", wantErr: fmt.Sprintf("reply line longer than %d bytes", MaxReplyLineBytes)},
		{in: strings.Repeat("250-x\r\n", MaxReplyLines+1), wantErr: fmt.Sprintf("reply has more than %d lines", MaxReplyLines)},
		{in: "HTTP/1.1 200 OK\r\n", wantErr: `malformed reply line "HTTP/1.1 200 OK": no reply code`},
		// What keep returns is what the reply holds; at most
		// MaxKeptReplyBytes of lines but the last; the read limits count
		// the lines as sent.
		{
			in: "250-" + strings.Repeat("x", 1500) + "\r\n250 END\r\n", keep: func(l string) string { return l[:min(len(l), 100)] },
			wantCode: 250, wantLines: []string{strings.Repeat("x", 96), "END"},
		},
		{
			in:       strings.Repeat("250-"+long+"\r\n", 20) + "250 END\r\n",
			wantCode: 250, wantLines: append(slices.Repeat([]string{long}, MaxKeptReplyBytes/len(long)), "END"),
		},
		{
			in: strings.Repeat("250-"+strings.Repeat("z", 1000)+"\r\n", 20) + "250 END\r\n", keep: func(l string) string { return l[:5] },
			wantErr: fmt.Sprintf("reply longer than %d bytes", MaxReplyBytes),
		},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%.30q", tc.in), func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), MaxReplyLineBytes)
			reply, err := ReadReply(r, tc.keep)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "code", reply.Code, tc.wantCode)
			expect(t, "lines", strings.Join(reply.Lines, "|"), strings.Join(tc.wantLines, "|"))
		})
	}
}

func TestParseEHLO(t *testing.T) {
	reply := Reply{Code: 250, Lines: []string{
		"mx.example.com Hello prober [192.0.2.1]",
		"SIZE 35882577",
		"8bitmime",
		"AUTH LOGIN PLAIN XOAUTH2",
		"AUTH=LOGIN",
		"STARTTLS",
		"ENHANCEDSTATUSCODES",
		"PIPELINING",
		"bad\x00keyword",
		"",
		"SMTPUTF8",
	}}
	info := ParseEHLO(reply)
	expect(t, "domain", info.Domain, "mx.example.com")
	var keywords []string
	for _, e := range info.Extensions {
		keywords = append(keywords, e.Keyword)
	}
	expect(t, "keywords", strings.Join(keywords, " "), "SIZE 8BITMIME AUTH STARTTLS ENHANCEDSTATUSCODES PIPELINING SMTPUTF8")
	expect(t, "mechanisms", strings.Join(info.AuthMechanisms, " "), "LOGIN PLAIN XOAUTH2")
	expect(t, "size", info.SizeLimit, int64(35882577))
	expect(t, "has STARTTLS", info.Has("STARTTLS"), true)
	expect(t, "has CHUNKING", info.Has("CHUNKING"), false)
}

func TestParseEHLOBounds(t *testing.T) {
	lines := []string{"flood.test"}
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("X-EXT%d %s", i, strings.Repeat("p ", 100)))
	}
	lines = append(lines, "AUTH "+strings.Repeat("MECH ", 10)+"\xff\xfe")
	info := ParseEHLO(Reply{Code: 250, Lines: lines})
	expect(t, "extensions kept", len(info.Extensions), maxExtensions)
	for _, e := range info.Extensions {
		if len(e.Params) > maxExtensionParams {
			t.Fatalf("%s has %d params", e.Keyword, len(e.Params))
		}
	}
	info = ParseEHLO(Reply{Code: 250, Lines: []string{"x", "AUTH PLAIN \xff\xfe LOGIN", "SIZE -5", "SIZE notanumber"}})
	expect(t, "mechanisms", strings.Join(info.AuthMechanisms, " "), "PLAIN LOGIN")
	expect(t, "size", info.SizeLimit, int64(0))
}

func TestParseTarget(t *testing.T) {
	cases := []struct {
		in       string
		host     string
		port     int
		wantErr  string
		rendered string
	}{
		{in: "mx.example.com:25", host: "mx.example.com", port: 25, rendered: "mx.example.com:25"},
		{in: "mx.example.com", host: "mx.example.com", rendered: "mx.example.com"},
		{in: "127.0.0.1:587", host: "127.0.0.1", port: 587, rendered: "127.0.0.1:587"},
		{in: "[::1]:465", host: "::1", port: 465, rendered: "[::1]:465"},
		{in: "[2001:db8::1]", host: "2001:db8::1", rendered: "[2001:db8::1]"},
		{in: "2001:db8::1", host: "2001:db8::1", rendered: "[2001:db8::1]"},
		{in: "", wantErr: "target is empty"},
		{in: "smtp://mx.example.com:25", wantErr: `target "smtp://mx.example.com:25" looks like a URL; give host:port, for example mx.example.com:25`},
		{in: "mx.example.com/25", wantErr: `target "mx.example.com/25" has a character '/' that cannot be in host:port`},
		{in: "user@mx.example.com", wantErr: `target "user@mx.example.com" has a character '@' that cannot be in host:port`},
		{in: "mx example", wantErr: `target "mx example" has a character ' ' that cannot be in host:port`},
		{in: "mx.example.com:0", wantErr: `target "mx.example.com:0": port "0" is not a number from 1 to 65535`},
		{in: "mx.example.com:70000", wantErr: `target "mx.example.com:70000": port "70000" is not a number from 1 to 65535`},
		{in: "mx.example.com:", wantErr: `target "mx.example.com:": port "" is not a number from 1 to 65535`},
		{in: ":25", wantErr: `target ":25" has no host`},
		{in: "-bad-.example:25", wantErr: `target "-bad-.example:25": "-bad-.example" is not a valid host name`},
		{in: "a..b:25", wantErr: `target "a..b:25": "a..b" is not a valid host name`},
		{in: "[::1", wantErr: `target "[::1" has an unclosed [`},
		{in: "[mx.example.com]:25", wantErr: `target "[mx.example.com]:25": "mx.example.com" in brackets is not an IPv6 address`},
		{in: "2001:db8::1:25:x", wantErr: `target "2001:db8::1:25:x": put an IPv6 address in brackets, like [2001:db8::1]:25`},
		{in: strings.Repeat("a", 300), wantErr: "target is longer than 270 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "host", got.Host, tc.host)
			expect(t, "port", got.Port, tc.port)
			expect(t, "rendered", got.String(), tc.rendered)
		})
	}
}

func TestClassifyErrors(t *testing.T) {
	op := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	dial := []struct {
		err  error
		want Reason
	}{
		{op(syscall.ECONNREFUSED), ReasonConnectRefused},
		{op(syscall.EHOSTUNREACH), ReasonConnectUnreachable},
		{op(syscall.ENETUNREACH), ReasonConnectUnreachable},
		{op(syscall.EACCES), ReasonConnectUnreachable},
		{op(os.ErrDeadlineExceeded), ReasonConnectTimeout},
		{op(syscall.ECONNRESET), ReasonConnectionReset},
	}
	for _, tc := range dial {
		expect(t, tc.err.Error(), classifyDialError(tc.err), tc.want)
	}
	io := []struct {
		err  error
		want Reason
	}{
		{io.EOF, ReasonConnectionClosed},
		{io.ErrUnexpectedEOF, ReasonConnectionClosed},
		{op(syscall.ECONNRESET), ReasonConnectionReset},
		{op(syscall.EPIPE), ReasonConnectionReset},
		{op(os.ErrDeadlineExceeded), ReasonBannerTimeout},
		{fmt.Errorf("x: %w", &ProtocolError{Msg: "bad"}), ReasonProtocolError},
		{errors.New("something else"), ReasonConnectionClosed},
	}
	for _, tc := range io {
		expect(t, tc.err.Error(), classifyIOError(tc.err, ReasonBannerTimeout), tc.want)
	}
}

func TestSanitize(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 64, "plain"},
		{"tab\there", 64, "tab\uFFFDhere"},
		{"nul\x00", 64, "nul\uFFFD"},
		{"bad \xff utf8", 64, "bad \uFFFD utf8"},
		{"esc \x1b[31m", 64, "esc \uFFFD[31m"},
		{"C1 \u0085 \u009b", 64, "C1 \uFFFD \uFFFD"},
		// Format characters (Cf): invisible, and they reorder or split text.
		{"moc.elpmaxe.xm\u202e", 64, "moc.elpmaxe.xm\uFFFD"},
		{"mx.exam\u200bple.com", 64, "mx.exam\uFFFDple.com"},
		{"\ufeffBOM \u2066isolate\u2069 \u00adsoft \U000E0001tag", 64, "\uFFFDBOM \uFFFDisolate\uFFFD \uFFFDsoft \uFFFDtag"},
		// Printable text outside ASCII is kept.
		{"Grüße, 日本 \u00a0nbsp", 64, "Grüße, 日本 \u00a0nbsp"},
		// At most max bytes of text, then the marker; cut at a character boundary.
		{strings.Repeat("a", 20), 10, strings.Repeat("a", 10) + "…"},
		{strings.Repeat("ä", 10), 11, strings.Repeat("ä", 5) + "…"},
		{strings.Repeat("a", 10), 10, strings.Repeat("a", 10)},
	}
	for _, tc := range cases {
		got := Sanitize(tc.in, tc.max)
		expect(t, fmt.Sprintf("%q", tc.in), got, tc.want)
		if !utf8.ValidString(got) {
			t.Errorf("%q: not valid UTF-8", got)
		}
	}
}
