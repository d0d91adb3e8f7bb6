// Package report renders a probe result, of a single target or of a mail
// domain, for people: the text that the probe command prints, that
// /probe?debug=true shows above the metrics and that the history page links
// to, and the JSON document of the probe command. It reads only the result,
// so every surface shows the same facts (and the same redactions: AUTH
// payloads never reach the result).
package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// maxFieldBytes bounds any one string from the result in the report; the
// prober bounds them already, this keeps the report safe on its own.
const maxFieldBytes = 2048

// Options change how a report looks, never what it says.
type Options struct {
	// Now is the clock "days left" is counted from (zero: the probe's start).
	Now time.Time
	// Color adds ANSI colours, for a terminal only.
	Color bool
	// FirstPair and PairReports choose which pairs of a domain get their
	// own report after the table (which lists them all): PairReports from
	// the FirstPair-th (0: all of them), so that a page can show a domain
	// of many pairs in parts.
	FirstPair, PairReports int
}

// writeTarget writes the report of a single target: verdict, phases, EHLO
// before and after TLS, TLS and certificates, transcript, and the verdict
// again at the end, where a terminal leaves it in sight.
func writeTarget(w io.Writer, r *prober.Result, opts Options) {
	if opts.Now.IsZero() {
		opts.Now = r.Start
	}
	x := &writer{w: w, color: opts.Color}

	x.line(x.bold("Probe of %s with module %s"), clean(r.Target), clean(r.Module))
	started := ""
	if !r.Start.IsZero() {
		started = "started " + r.Start.UTC().Format(time.RFC3339)
	}
	if r.IP.IsValid() {
		x.line("Address %s (IPv%d), %s", r.IP, r.IPProtocol, started)
	} else if started != "" {
		x.line("Started %s", strings.TrimPrefix(started, "started "))
	}
	x.verdict(r)
	for _, w := range r.Warnings {
		x.line("Warning: %s", x.paint(yellow, clean(string(w.Reason)+": "+w.Message)))
	}
	for _, also := range r.AlsoFailed {
		x.line("Also:    %s", x.paint(yellow, clean(also)))
	}

	x.heading("Phases")
	for _, ph := range r.Phases {
		if !ph.Reached {
			continue
		}
		code := ""
		if ph.ReplyCode != 0 {
			code = fmt.Sprintf("  reply %d", ph.ReplyCode)
		}
		x.line("  %-14s %10s%s", ph.Phase, millis(ph.Duration), code)
	}
	x.line("  %-14s %10s", "total", millis(r.Duration))

	x.ehlo(r)
	if r.AuthConfigured {
		x.line("")
		switch {
		case r.AuthSuccess:
			x.line("AUTH with the module's credentials: %s (%s)", x.paint(green, "accepted"), r.AuthMechanism)
		case r.AuthMechanism != "":
			x.line("AUTH with the module's credentials: %s (%s)", x.paint(red, "not accepted"), r.AuthMechanism)
		default:
			x.line("AUTH with the module's credentials: not tried")
		}
	}
	x.tls(r, opts.Now)
	x.dane(r)
	x.posture(r)
	x.injection(r)
	x.reverseDNS(r)

	x.heading("Transcript")
	for _, l := range r.Transcript {
		from := l.From
		switch from {
		case "C":
			from = x.paint(cyan, "C:")
		case "S":
			from = "S:"
		default:
			from = x.paint(dim, "* ")
		}
		text := clean(l.Text)
		if l.Check != "" {
			// An extra connection of a posture check.
			text = x.paint(dim, "["+l.Check+"]") + " " + text
		}
		x.line("  %10s %s %s", "+"+millis(l.At), from, text)
	}
	x.line("")
	x.verdict(r)
}

// writer carries the destination and whether to colour.
type writer struct {
	w     io.Writer
	color bool
}

func (x *writer) line(format string, args ...any) {
	fmt.Fprintf(x.w, format+"\n", args...)
}

func (x *writer) heading(title string) {
	x.line("\n%s", x.bold(title+":"))
}

// verdict writes the verdict line of either kind of probe, and the error
// of a failed one.
func (x *writer) verdict(o prober.Outcome) {
	s := o.Summary()
	colour := green
	switch {
	case !s.Success:
		colour = red
	case len(Warnings(o)) > 0:
		colour = yellow
	}
	x.line("Verdict: %s", x.paint(colour+bold, clean(Verdict(o))))
	if !s.Success && s.Error != "" {
		x.line("Error:   %s", clean(s.Error))
	}
	// Each egress state once: a domain's pairs share their vantage's.
	seen := map[prober.EgressInfo]bool{}
	for _, r := range o.Conversations() {
		if e := r.Egress; e != nil && !seen[*e] {
			seen[*e] = true
			x.egress(e)
		}
	}
}

func (x *writer) ehlo(r *prober.Result) {
	implicit := r.TLS != nil && r.EHLOTLS == nil && !r.Phase(prober.PhaseStartTLS).Reached
	first := "EHLO before TLS"
	switch {
	case implicit:
		first = "EHLO inside implicit TLS"
	case r.TLS == nil:
		first = "EHLO without TLS"
	}
	x.ehloReply(first, r.EHLO)
	if r.EHLO != nil && !implicit {
		x.line("  STARTTLS advertised: %s; AUTH before TLS: %s", yesNo(r.StartTLSAdvertised), yesNo(r.AuthBeforeTLS))
	}
	x.ehloReply("EHLO after STARTTLS", r.EHLOTLS)
}

func (x *writer) ehloReply(title string, e *prober.EHLOInfo) {
	if e == nil {
		return
	}
	if e.Domain != "" { // a module with credentials keeps no server name
		title += " (server " + clean(e.Domain) + ")"
	}
	x.heading(title)
	for _, ext := range e.Extensions {
		x.line("  %s", clean(strings.TrimSpace(ext.Keyword+" "+strings.Join(ext.Params, " "))))
	}
	mechs := "none"
	if len(e.AuthMechanisms) > 0 {
		mechs = clean(strings.Join(e.AuthMechanisms, ", "))
	}
	x.line("  AUTH mechanisms: %s", mechs)
}

func (x *writer) tls(r *prober.Result, now time.Time) {
	t := r.TLS
	if t == nil {
		// Only a conversation that got as far as EHLO could have had TLS.
		if r.EHLO == nil || r.Phase(prober.PhaseTLSHandshake).Reached {
			return
		}
		x.heading("TLS")
		x.line("  none: the session stayed in clear text")
		return
	}
	x.heading("TLS")
	x.line("  version:     %s", t.Version)
	x.line("  cipher:      %s", t.Cipher)
	if t.ServerName != "" {
		x.line("  server name: %s", clean(t.ServerName))
	}
	if t.Verified {
		x.line("  certificate: %s", x.paint(green, "verified (chain and host name)"))
	} else {
		x.line("  certificate: %s: %s", x.paint(red, "NOT verified"), clean(t.VerifyError))
	}
	x.line("  chain as presented, leaf first:")
	for i, c := range t.Certificates {
		x.line("  [%d] subject:  %s", i, clean(c.Subject))
		x.line("      issuer:   %s", clean(c.Issuer))
		if len(c.SANs) > 0 {
			more := ""
			if c.SANsNotReported > 0 {
				more = fmt.Sprintf(" (and %d more)", c.SANsNotReported)
			}
			x.line("      SANs:     %s%s", clean(strings.Join(c.SANs, ", ")), more)
		}
		x.line("      valid:    %s to %s, %s", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), x.daysLeft(c, now))
		x.line("      serial:   %s", c.SerialNumber)
		x.line("      sha256:   %s", c.FingerprintSHA256)
		x.line("      key:      %s", x.keyText(c))
		x.line("      signed:   %s", x.signatureText(c))
	}
	if n := t.ChainCertificates; n > len(t.Certificates) {
		x.line("  (%d certificates presented, the first %d shown)", n, len(t.Certificates))
	}
	switch o := t.OCSP; {
	case o == nil:
		x.line("  OCSP:        none stapled")
	case !o.Valid:
		x.line("  OCSP:        %s: %s", x.paint(red, "stapled, NOT valid (status ignored)"), clean(o.Error))
	default:
		status := o.Status
		switch o.Status {
		case prober.OCSPGood:
			status = x.paint(green, status)
		case prober.OCSPRevoked:
			status = x.paint(red, "REVOKED at "+o.RevokedAt.UTC().Format(time.RFC3339))
		default:
			status = x.paint(yellow, status)
		}
		next := "no next update given"
		if !o.NextUpdate.IsZero() {
			next = "next update " + o.NextUpdate.UTC().Format(time.RFC3339)
		}
		x.line("  OCSP:        stapled, signed by the issuer: %s, %s", status, next)
	}
}

// keyText is a certificate's key, flagged when it is weak.
func (x *writer) keyText(c prober.CertInfo) string {
	s := c.KeyType
	if c.KeyBits > 0 {
		s = fmt.Sprintf("%s %d bits", c.KeyType, c.KeyBits)
	}
	if c.KeyType == "rsa" && c.KeyBits < 2048 {
		return x.paint(red, s+" (weak: under 2048)")
	}
	return s
}

// signatureText is a certificate's signature algorithm, flagged when weak.
func (x *writer) signatureText(c prober.CertInfo) string {
	a := c.SignatureAlgorithm
	if strings.Contains(a, "SHA1") || strings.HasPrefix(a, "MD") {
		return x.paint(red, a+" (weak: no client trusts it)")
	}
	return a
}

// posture lists the TLS posture checks (tls_posture).
func (x *writer) posture(r *prober.Result) {
	if r.Posture == nil {
		return
	}
	x.heading("TLS posture (extra connections)")
	for _, c := range r.Posture {
		var s string
		switch {
		case !c.Conclusive:
			s = x.paint(yellow, "not conclusive") + ": " + clean(c.Error)
		case c.Accepted:
			s = x.paint(red, "ACCEPTED") + fmt.Sprintf(" (%s, %s)", c.Version, c.Cipher)
		default:
			s = x.paint(green, "refused") + ": " + clean(c.Error)
		}
		x.line("  %-13s %s", c.Check+":", s)
	}
}

// reverseDNS shows what DNS says of the address (reverse_dns).
func (x *writer) reverseDNS(r *prober.Result) {
	d := r.ReverseDNS
	if d == nil {
		return
	}
	x.heading("Reverse DNS")
	if !d.Conclusive {
		x.line("  %s: %s", x.paint(yellow, "not conclusive"), clean(d.Error))
	} else {
		ptr := "none"
		if len(d.PTR) > 0 {
			ptr = clean(strings.Join(d.PTR, ", "))
		}
		x.line("  PTR of %s: %s", r.IP, ptr)
		if d.FCrDNS {
			x.line("  FCrDNS:      %s (%s resolves back)", x.paint(green, "yes"), clean(strings.Join(d.ConfirmedPTR, ", ")))
		} else {
			x.line("  FCrDNS:      %s", x.paint(red, "no: no PTR name resolves back to the address"))
		}
	}
	if r.BannerHostname != "" {
		match := ""
		if d.Conclusive {
			match = ", " + map[bool]string{true: "one of the PTR names", false: x.paint(yellow, "not a PTR name")}[d.BannerMatchesPTR]
		}
		x.line("  greeting name: %s%s", clean(r.BannerHostname), match)
	}
}

// daysLeft warns in colour a month before expiry, the usual renewal window.
func (x *writer) daysLeft(c prober.CertInfo, now time.Time) string {
	switch left := c.NotAfter.Sub(now); {
	case now.Before(c.NotBefore):
		return x.paint(red, fmt.Sprintf("NOT VALID YET (for %.1f more days)", c.NotBefore.Sub(now).Hours()/24))
	case left < 0:
		return x.paint(red, fmt.Sprintf("EXPIRED %.1f days ago", -left.Hours()/24))
	case left < 30*24*time.Hour:
		return x.paint(yellow, fmt.Sprintf("%.1f days left", left.Hours()/24))
	default:
		return fmt.Sprintf("%.1f days left", left.Hours()/24)
	}
}

// ANSI colours.
const (
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	reset  = "\x1b[0m"
)

func (x *writer) paint(code, s string) string {
	if !x.color {
		return s
	}
	return code + s + reset
}

func (x *writer) bold(s string) string { return x.paint(bold, s) }

// millis renders a duration as milliseconds with microsecond precision.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000)
}

// clean makes a string from the result safe for a terminal: the prober
// sanitizes what servers send, but errors from the TLS stack quote
// certificate names, which a server chooses.
func clean(s string) string { return prober.Sanitize(s, maxFieldBytes) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
