package prober

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The fuzz targets below read what a hostile server or client controls.
// Their seed corpora are in testdata/fuzz/<name>/; scripts/fuzz.sh runs
// each for a few seconds in CI, and `go test` replays the seeds.

// FuzzReadReply: whatever bytes a server sends, ReadReply ends with a
// reply within the bounds or an error that classifies as a protocol error
// or a closed connection.
func FuzzReadReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), MaxReplyLineBytes)
		for range 64 {
			lines := 0
			reply, err := ReadReply(r, func(l string) string { lines++; return l })
			if lines > MaxReplyLines {
				t.Fatalf("%d lines read for one reply", lines)
			}
			if err != nil {
				var perr *ProtocolError
				if !errors.As(err, &perr) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %v is neither a protocol error nor an end of input", err)
				}
				if perr != nil && !utf8.ValidString(perr.Msg) {
					t.Fatalf("error message is not valid UTF-8: %q", perr.Msg)
				}
				return
			}
			if reply.Code < 200 || reply.Code > 599 {
				t.Fatalf("reply code %d accepted", reply.Code)
			}
			if len(reply.Lines) == 0 || len(reply.Lines) > MaxReplyLines {
				t.Fatalf("%d lines in a reply", len(reply.Lines))
			}
			for _, l := range reply.Lines {
				if len(l) > MaxReplyLineBytes {
					t.Fatalf("line of %d bytes", len(l))
				}
			}
		}
	})
}

// FuzzParseEHLO: whatever an EHLO reply holds, only well-formed keywords
// and mechanisms come out (they become label values), within the bounds,
// and every string is valid UTF-8 without control characters.
func FuzzParseEHLO(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		info := ParseEHLO(Reply{Code: 250, Lines: strings.Split(text, "\n")})
		if len(info.Extensions) > maxExtensions {
			t.Fatalf("%d extensions", len(info.Extensions))
		}
		if len(info.AuthMechanisms) > maxAuthMechanisms {
			t.Fatalf("%d mechanisms", len(info.AuthMechanisms))
		}
		checkClean(t, "domain", info.Domain, maxDomainBytes)
		seen := map[string]bool{}
		for _, e := range info.Extensions {
			if !validKeyword(e.Keyword) || seen[e.Keyword] {
				t.Fatalf("keyword %q: invalid or repeated", e.Keyword)
			}
			seen[e.Keyword] = true
			if len(e.Params) > maxExtensionParams {
				t.Fatalf("%d params", len(e.Params))
			}
			for _, p := range e.Params {
				checkClean(t, "param", p, maxParamBytes)
			}
		}
		mechs := map[string]bool{}
		for _, m := range info.AuthMechanisms {
			if !validKeyword(m) || mechs[m] {
				t.Fatalf("mechanism %q: invalid or repeated", m)
			}
			mechs[m] = true
		}
		if info.SizeLimit < 0 {
			t.Fatalf("size limit %d", info.SizeLimit)
		}
		for line := range strings.SplitSeq(text, "\n") {
			checkClean(t, "sanitized line", Sanitize(line, 64), 64)
		}
	})
}

// FuzzParseTarget: a target a client sends is either refused or becomes a
// host and port with nothing else in it, which renders and parses back to
// the same target.
func FuzzParseTarget(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		target, err := ParseTarget(s)
		if err != nil {
			return
		}
		if target.Host == "" || target.Port < 0 || target.Port > 65535 {
			t.Fatalf("ParseTarget(%q) = %+v", s, target)
		}
		if strings.ContainsFunc(target.Host, func(r rune) bool {
			return !(r == '.' || r == '-' || r == '_' || r == ':' || r == '%' ||
				r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			t.Fatalf("ParseTarget(%q): host %q has a character no host has", s, target.Host)
		}
		again, err := ParseTarget(target.String())
		if err != nil || again != target {
			t.Fatalf("ParseTarget(%q) = %+v renders as %q, which parses as %+v, %v", s, target, target.String(), again, err)
		}
	})
}

// checkClean fails unless s is valid UTF-8 without control or format characters and
// at most limit bytes plus the ellipsis Sanitize appends.
func checkClean(t *testing.T, what, s string, limit int) {
	t.Helper()
	if !utf8.ValidString(s) || len(s) > limit+len("…") {
		t.Fatalf("%s %q: invalid UTF-8 or %d bytes", what, s, len(s))
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) {
			t.Fatalf("%s %q has a control or format character", what, s)
		}
	}
}
