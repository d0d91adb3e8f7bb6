// Package report renders a probe result for people: the text that
// /probe?debug=true and the probe command print. It reads only the result,
// so every surface shows the same facts (and the same redactions).
package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// Text writes the human-readable report of a result. now is the clock that
// "days left" is counted from.
func Text(w io.Writer, r *prober.Result, now time.Time) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }

	p("Probe of %s with module %s\n", r.Target, r.Module)
	if r.IP != "" {
		p("Address: %s (IPv%d)\n", r.IP, r.IPProtocol)
	}
	p("Result: %s\n", Verdict(r))
	for _, warn := range r.Warnings {
		p("Also: %s\n", warn)
	}

	p("\nPhases:\n")
	for _, ph := range r.Phases {
		if !ph.Reached {
			continue
		}
		code := ""
		if ph.ReplyCode != 0 {
			code = fmt.Sprintf("  reply %d", ph.ReplyCode)
		}
		p("  %-14s %9.3fms%s\n", ph.Phase, float64(ph.Duration.Microseconds())/1000, code)
	}
	p("  %-14s %9.3fms\n", "total", float64(r.Duration.Microseconds())/1000)

	writeEHLO(w, "EHLO", r.EHLO)
	writeEHLO(w, "EHLO after STARTTLS", r.EHLOTLS)
	if r.EHLO != nil {
		p("STARTTLS advertised: %s; AUTH before TLS: %s\n", yesNo(r.StartTLSAdvertised), yesNo(r.AuthBeforeTLS))
	}
	if r.AuthConfigured {
		p("AUTH with the module's credentials: %s", yesNo(r.AuthSuccess))
		if r.AuthMechanism != "" {
			p(" (%s)", r.AuthMechanism)
		}
		p("\n")
	}

	if t := r.TLS; t != nil {
		p("\nTLS: %s, %s, server name %q\n", t.Version, t.Cipher, t.ServerName)
		if t.Verified {
			p("Certificate: verified\n")
		} else {
			p("Certificate: NOT verified: %s\n", t.VerifyError)
		}
		for i, c := range t.Certificates {
			p("  [%d] subject: %s\n", i, c.Subject)
			p("      issuer:  %s\n", c.Issuer)
			if len(c.SANs) > 0 {
				p("      SANs:    %s\n", strings.Join(c.SANs, ", "))
			}
			p("      valid:   %s to %s (%s)\n", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), daysLeft(c.NotAfter, now))
			p("      serial:  %s\n", c.SerialNumber)
			p("      sha256:  %s\n", c.FingerprintSHA256)
		}
	}

	p("\nTranscript:\n")
	for _, l := range r.Transcript {
		p("%9.3fms %s: %s\n", float64(l.At.Microseconds())/1000, l.From, l.Text)
	}
}

// Verdict is the result in one line: success, or the reason in words.
func Verdict(r *prober.Result) string {
	if r.Success {
		return fmt.Sprintf("SUCCESS in %s", r.Duration.Round(time.Millisecond))
	}
	return fmt.Sprintf("FAILED (%s): %s", r.Failure, r.Error)
}

func writeEHLO(w io.Writer, title string, e *prober.EHLOInfo) {
	if e == nil {
		return
	}
	fmt.Fprintf(w, "\n%s (%s):\n", title, e.Domain)
	for _, x := range e.Extensions {
		fmt.Fprintf(w, "  %s %s\n", x.Keyword, strings.Join(x.Params, " "))
	}
}

func daysLeft(t, now time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		return fmt.Sprintf("expired %.1f days ago", -d.Hours()/24)
	}
	return fmt.Sprintf("%.1f days left", d.Hours()/24)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
