package prober

import (
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/smtp-exporter/smtp_exporter/config"
)

// Redacted replaces a credential wherever the exporter would show it: in a
// result, a log, /config. One marker, so one grep finds every place.
const Redacted = config.Redacted

// Caps on server-controlled strings a result keeps, so that a hostile server
// cannot make one result (or a history of them) large: Go's HostnameError
// alone lists every SAN of a certificate.
const (
	// MaxErrorBytes caps Error, each of Warnings, AlsoFailed and TLS.VerifyError.
	MaxErrorBytes = 512
	// MaxLabelBytes caps a label value made of server-controlled text.
	MaxLabelBytes = 1024
	// maxTranscriptLineBytes caps one transcript line.
	maxTranscriptLineBytes = 512
)

// cutMarker ends a string that was cut to its cap.
const cutMarker = "…"

// plainPayload is the base64 AUTH PLAIN payload (RFC 4616) for user and password.
func plainPayload(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}

// secretForms are the password in every form the prober sends it: as is,
// base64 (AUTH LOGIN) and inside the base64 AUTH PLAIN payload, each also as
// sanitizing would render it. A hostile or careless server may quote what
// it received in a reply, which would carry it into the transcript, the
// error, the logs and the debug output. (The server's free text is dropped
// altogether for a module with credentials, see codeOnly; these forms guard
// what is left, such as a certificate's names.)
func secretForms(user, password string) []string {
	if password == "" {
		return nil
	}
	forms := []string{
		plainPayload(user, password),
		base64.StdEncoding.EncodeToString([]byte(password)),
		password,
	}
	if s := sanitizeText(password); s != password {
		forms = append(forms, s)
	}
	return forms
}

// clean is the one way a server-controlled string (reply text, certificate
// fields, verification errors, errors that quote them) reaches a result
// field, a log, a label or a page: sanitized first (so that what is redacted
// is what is shown), then redacted, then capped at limit bytes (so that no cut
// can leave part of a secret behind).
func (p *conversation) clean(s string, limit int) string {
	return capText(p.redact(sanitizeText(s)), limit)
}

// redact hides the module's password in text that may come from the server.
func (p *conversation) redact(text string) string {
	for _, s := range p.secrets {
		if strings.Contains(text, s) {
			text = strings.ReplaceAll(text, s, Redacted)
		}
	}
	return text
}

// Sanitize makes text that holds no secret (a request parameter, a note)
// safe for labels, logs and terminals: valid UTF-8, no control or format characters,
// at most limit bytes of it, then the cut marker when cut. Server text in a
// probe goes through clean instead, which redacts between the two steps.
func Sanitize(s string, limit int) string { return capText(sanitizeText(s), limit+len(cutMarker)) }

// CleanLabel is the last guard on a label value: sanitized (one invalid
// byte would fail the whole scrape, and an invisible format character
// would make two series look alike) and capped.
func CleanLabel(s string) string { return capText(sanitizeText(s), MaxLabelBytes) }

// sanitizeText replaces invalid UTF-8, control and format characters with U+FFFD.
func sanitizeText(s string) string {
	if !needsSanitizing(s) {
		return s // what servers send almost always: no copy needed
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unsafeRune(r) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// needsSanitizing says whether s holds invalid UTF-8 or a character unsafeRune refuses.
// Text that went through clean already (cut marker and all) does not, so
// cleaning it again costs no copy.
func needsSanitizing(s string) bool {
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeRune: C0 and C1 controls and DEL, which would move a terminal's
// cursor or break a log line, and the format characters (Unicode category
// Cf), which are invisible: U+202E turns the text after it around, U+200B
// splits a word unseen, so that "mx.example.com" on a page need not be
// the name a log holds, nor a password's redacted form what is shown.
func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r > 0xa0 && unicode.Is(unicode.Cf, r))
}

// capText cuts s to at most limit bytes, marker included, at a character
// boundary. The cut is a copy: a slice would keep the whole string (a 240 KB
// verification error, say) alive for as long as the result lives.
func capText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := limit - len(cutMarker)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n < 0 {
		n = 0
	}
	return strings.Clone(s[:n]) + cutMarker
}

// textNotKept ends an error whose server text was left out.
const textNotKept = " (the server's text is not kept: the module has credentials)"

// codeOnly is what the transcript keeps of a server line for a module
// with credentials: the reply code and, when the line has one, the
// enhanced status code (RFC 3463), as "535 5.7.8"; for an EHLO line
// (ehloLine: not the first of the reply) its keyword, with the SASL
// mechanisms of AUTH, as "250-AUTH PLAIN LOGIN". The free text is dropped,
// so no echo of the password, in any encoding or split across lines, is
// kept.
func codeOnly(line string, ehloLine bool) string {
	code, more, text, err := parseReplyLine(line)
	if err != nil {
		return "(a line that is not a reply; its text is not kept for a module with credentials)"
	}
	sep := " "
	if more {
		sep = "-"
	}
	out := itoa3(code)
	if ehloLine {
		if words := ehloWords(text); words != "" {
			return out + sep + words
		}
	}
	if status := enhancedStatus(text); status != "" {
		out += sep + status
	} else if more {
		out += sep
	}
	return out
}

// ehloWords is what an EHLO line keeps without its free text: the keyword,
// and for AUTH the mechanism names (both upper case, ESMTP keyword syntax);
// "" when the line has no valid keyword.
func ehloWords(text string) string {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return ""
	}
	keyword := strings.ToUpper(fields[0])
	params := fields[1:]
	if k, v, ok := strings.Cut(keyword, "="); ok && k == "AUTH" {
		keyword, params = k, append([]string{v}, params...)
	}
	if !validKeyword(keyword) {
		return ""
	}
	if keyword == "SIZE" && len(params) == 1 && isDigits(params[0]) && len(params[0]) <= 20 {
		return keyword + " " + params[0]
	}
	if keyword != "AUTH" {
		return keyword
	}
	words := []string{keyword}
	for _, m := range params {
		if m = strings.ToUpper(m); validKeyword(m) && len(words) <= maxAuthMechanisms {
			words = append(words, m)
		}
	}
	return strings.Join(words, " ")
}

// replyStatus is a reply as codeOnly keeps it: "535 5.7.8".
func replyStatus(r Reply) string {
	out := itoa3(r.Code)
	if len(r.Lines) > 0 {
		if status := enhancedStatus(r.Lines[0]); status != "" {
			out += " " + status
		}
	}
	return out
}

// enhancedStatus returns the enhanced status code that begins text, if any:
// class "." subject "." detail, with class 2, 4 or 5 and one to three digits
// for the others.
func enhancedStatus(text string) string {
	end := strings.IndexByte(text, ' ')
	if end < 0 {
		end = len(text)
	}
	s := text[:end]
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return ""
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return ""
			}
		}
	}
	return s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func itoa3(code int) string {
	return string([]byte{byte('0' + code/100%10), byte('0' + code/10%10), byte('0' + code%10)})
}
