package prober

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on what a server may send, so that a hostile or broken server
// cannot make the probe use unbounded memory. RFC 5321 allows 512 octets
// per reply line; real servers stay far below these.
const (
	MaxReplyLineBytes = 2048
	MaxReplyLines     = 128
	// MaxReplyBytes bounds one reply's text, all lines together: a probe
	// in flight holds the reply it is reading, and 128 lines of 2 KB
	// would be 256 KB of it. Real replies are well under 1 KB.
	MaxReplyBytes = 16 << 10
	// MaxKeptReplyBytes bounds the text a Reply holds: lines past it, but
	// the last, are read and left out (the transcript says so). Nothing
	// real comes near it: a long EHLO reply is 500 bytes.
	MaxKeptReplyBytes = 4 << 10
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
type ProtocolError struct {
	// Msg says what is wrong, quoting the server's text when there is one.
	Msg string
	// Bare says it without the server's text, for a module with credentials.
	Bare string
}

func (e *ProtocolError) Error() string { return e.Msg }

func protocolErrorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &ProtocolError{Msg: msg, Bare: msg}
}

// protocolErrorQuoting is a ProtocolError that quotes the server's text
// between before and after. The text is quoted as is (sanitized, neither
// escaped nor cut): escaping as %q does would turn a password holding '"'
// or '\' into a form redaction no longer finds, and a cut before redaction
// would leave part of it. The probe's clean does both, in that order.
func protocolErrorQuoting(before, text, after string) error {
	return &ProtocolError{Msg: before + ` "` + sanitizeText(text) + `"` + after, Bare: before + after}
}

// ReadReply reads one (possibly multi-line) reply from r. Each line read
// is passed to keep, which returns what the reply holds of it (nil keeps
// every line as read): the probe cleans and cuts lines there and copies them
// to its transcript, so that a reply of long lines costs what is kept, not
// what was read. It never buffers more than the reader's size per line,
// reads more than MaxReplyLines lines and MaxReplyBytes bytes, nor holds
// more than MaxKeptReplyBytes.
func ReadReply(r *bufio.Reader, keep func(line string) string) (Reply, error) {
	var reply Reply
	lines, size, kept := 0, 0, 0
	for {
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) && len(reply.Lines) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return reply, err
		}
		read := len(line)
		if keep != nil {
			line = keep(line)
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return reply, err
		}
		if lines++; lines == 1 {
			reply.Code = code
		} else if code != reply.Code {
			return reply, protocolErrorf("reply code changed from %d to %d within one reply", reply.Code, code)
		}
		if !more {
			reply.Lines = append(reply.Lines, text)
			return reply, nil
		}
		if kept += len(text); kept <= MaxKeptReplyBytes || len(reply.Lines) == 0 {
			reply.Lines = append(reply.Lines, text)
		}
		if lines >= MaxReplyLines {
			return reply, protocolErrorf("reply has more than %d lines", MaxReplyLines)
		}
		if size += read - min(read, 4); size > MaxReplyBytes {
			return reply, protocolErrorf("reply longer than %d bytes", MaxReplyBytes)
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
		return protocolErrorQuoting("not an SMTP reply:", string(buffered), "")
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
		return 0, false, "", protocolErrorQuoting("malformed reply line", line, "")
	}
	for i := range 3 {
		c := line[i]
		if c < '0' || c > '9' {
			return 0, false, "", protocolErrorQuoting("malformed reply line", line, ": no reply code")
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
		return 0, false, "", protocolErrorQuoting("malformed reply line", line, ": code not followed by space or dash")
	}
	return code, more, line[4:], nil
}
