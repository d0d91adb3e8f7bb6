package prober

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The marks a firewall's SMTP inspection leaves on a session. Cisco ASA and
// FTD (`inspect esmtp`, on by default) mask the greeting with asterisks,
// keeping the code and a few characters, and rewrite each character of an
// EHLO keyword they do not allow to X: STARTTLS becomes XXXXXXXA, so the
// client sees a server without TLS.

// MaskedGreeting reports whether a greeting's text is masked: mostly
// asterisks, which no mail server writes in its banner.
func MaskedGreeting(lines []string) bool {
	stars, other := 0, 0
	for _, l := range lines {
		for _, c := range l {
			switch {
			case c == '*':
				stars++
			case c != ' ':
				other++
			}
		}
	}
	return stars >= 6 && stars >= other
}

// StrippedStartTLS returns the EHLO keyword that stands where STARTTLS was
// rewritten (XXXXXXXA), or "" when the reply has none.
func StrippedStartTLS(e *EHLOInfo) string {
	if e == nil {
		return ""
	}
	for _, x := range e.Extensions {
		if len(x.Keyword) == len("STARTTLS") && strings.Count(x.Keyword, "X") >= len("STARTTLS")-1 {
			return x.Keyword
		}
	}
	return ""
}

// GreetingText is a reply as the server sent it, codes included: "220-a"
// and "220 b" joined by a newline.
func GreetingText(r Reply) string {
	var b strings.Builder
	code := strconv.Itoa(r.Code)
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(code)
		if i < len(r.Lines)-1 {
			b.WriteByte('-')
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	return b.String()
}

// noStartTLS says why a session offers no STARTTLS: the server does not,
// or a firewall's SMTP inspection on the path rewrote it.
func (p *conversation) noStartTLS(ehlo *EHLOInfo) (Reason, error) {
	keyword := StrippedStartTLS(ehlo)
	if keyword == "" {
		return ReasonStartTLSNotAdvertised, errors.New("server does not advertise STARTTLS and the module requires it")
	}
	masked := ""
	if p.maskedGreeting {
		masked = ", and the greeting is masked with asterisks"
	}
	return ReasonStartTLSStripped, fmt.Errorf("the EHLO reply has %s where STARTTLS belongs%s: "+
		"a firewall's SMTP inspection on the path strips STARTTLS, so the session stays in clear text", keyword, masked)
}

// ClassifyDialError says why a TCP connect failed, in the words of the
// connect failure reasons (connect_refused, connect_timeout, ...).
func ClassifyDialError(err error) Reason { return classifyDialError(err) }
