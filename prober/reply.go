package prober

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits on what a server may send, so that a hostile or broken server
// cannot make the probe use unbounded memory. RFC 5321 allows 512 octets
// per reply line; real servers stay far below these.
const (
	MaxReplyLineBytes = 2048
	MaxReplyLines     = 128
)

// Reply is one SMTP reply: a code and the text of each line.
type Reply struct {
	Code  int
	Lines []string
}

// Text returns the reply text, lines joined by spaces.
func (r Reply) Text() string { return strings.Join(r.Lines, " ") }

// ProtocolError is a reply that is not SMTP: garbage, an overlong line, a
// malformed code or too many lines.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

func protocolErrorf(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// ReadReply reads one (possibly multi-line) reply from r. Each raw line is
// passed to onLine, for the transcript. It never buffers more than the
// reader's size per line nor more than MaxReplyLines lines.
func ReadReply(r *bufio.Reader, onLine func(string)) (Reply, error) {
	var reply Reply
	for {
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) && len(reply.Lines) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return reply, err
		}
		if onLine != nil {
			onLine(line)
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return reply, err
		}
		if reply.Lines == nil {
			reply.Code = code
		} else if code != reply.Code {
			return reply, protocolErrorf("reply code changed from %d to %d within one reply", reply.Code, code)
		}
		reply.Lines = append(reply.Lines, text)
		if !more {
			return reply, nil
		}
		if len(reply.Lines) >= MaxReplyLines {
			return reply, protocolErrorf("reply has more than %d lines", MaxReplyLines)
		}
	}
}

// readLine returns one line without its CR LF (a bare LF is accepted).
func readLine(r *bufio.Reader) (string, error) {
	if err := notAReply(r); err != nil {
		return "", err
	}
	b, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(b) > MaxReplyLineBytes {
		return "", protocolErrorf("reply line longer than %d bytes", MaxReplyLineBytes)
	}
	if err != nil {
		if len(b) > 0 && errors.Is(err, io.EOF) {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte{'\r'})
	return string(b), nil
}

// notAReply waits for the first bytes of a line and fails as soon as they
// cannot begin a reply ("250 ", "220-", "354\r\n") while its line end has
// not come yet: binary noise or another protocol's handshake (TLS, SSH)
// without a line feed would otherwise hold the probe until its deadline.
// A whole line already received is left to parseReplyLine, which says
// what is wrong.
func notAReply(r *bufio.Reader) error {
	for n := 1; n <= 4; n++ {
		b, err := r.Peek(n)
		if err != nil {
			// bufio hands a read error out once: Peek has taken it, so it is
			// returned here (a reset read again would look like a clean EOF).
			if len(b) > 0 && errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		c := b[n-1]
		if c == '\n' {
			return nil
		}
		if replyPrefixByte(n-1, c) {
			continue
		}
		buffered, _ := r.Peek(r.Buffered())
		if bytes.IndexByte(buffered, '\n') >= 0 {
			return nil
		}
		return protocolErrorf("not an SMTP reply: %q", Sanitize(string(buffered), 64))
	}
	return nil
}

// replyPrefixByte says whether c may be byte i of a reply line: a code
// from 200 to 599, then a space, a dash or the line end.
func replyPrefixByte(i int, c byte) bool {
	switch i {
	case 0:
		return c >= '2' && c <= '5'
	case 1, 2:
		return c >= '0' && c <= '9'
	default:
		return c == ' ' || c == '-' || c == '\r'
	}
}

// parseReplyLine splits "250-text" into its code, whether more lines
// follow, and the text.
func parseReplyLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", protocolErrorf("malformed reply line %q", Sanitize(line, 64))
	}
	for i := range 3 {
		c := line[i]
		if c < '0' || c > '9' {
			return 0, false, "", protocolErrorf("malformed reply line %q: no reply code", Sanitize(line, 64))
		}
		code = code*10 + int(c-'0')
	}
	if line[0] < '2' || line[0] > '5' {
		return 0, false, "", protocolErrorf("reply code %d out of range 200-599", code)
	}
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", protocolErrorf("malformed reply line %q: code not followed by space or dash", Sanitize(line, 64))
	}
	return code, more, line[4:], nil
}

// Sanitize makes server-sent text safe for labels, logs and terminals:
// valid UTF-8, no control characters, at most limit bytes.
func Sanitize(s string, limit int) string {
	if len(s) <= limit && printableASCII(s) {
		return s // what servers send almost always: no copy needed
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = '\uFFFD'
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
