package report

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/reasons"
)

// targetVerdict is a single target's probe in one line: success with what
// was found, or the failure reason with its meaning and a hint.
func targetVerdict(r *prober.Result) string {
	if r.Success {
		if warns := targetWarnings(r); len(warns) > 0 {
			return "OK, with warnings: " + strings.Join(warns, "; ") + ". Seen: " + summary(r)
		}
		return "OK: " + summary(r)
	}
	words, hint := reasons.Explain(r.Failure, r.Port)
	if r.Failure == prober.ReasonDANEFailed && !r.Encrypted {
		// No certificate to match: the records are not what broke.
		hint = noTLSForDANEHint(r)
	}
	s := fmt.Sprintf("FAILED (%s): %s", r.Failure, words)
	if hint != "" {
		s += "; " + hint
	}
	return s
}

// noTLSForDANEHint is the hint of a DANE failure without a TLS session.
func noTLSForDANEHint(r *prober.Result) string {
	if r.EHLO != nil && !r.StartTLSAdvertised {
		return "the server no longer offers STARTTLS, so there is no certificate to match: turn TLS back on (Postfix: smtpd_tls_security_level = may, and readable certificate and key files); the TLSA records are not the problem"
	}
	return "no TLS session was established, so there is no certificate to match: fix the STARTTLS or handshake failure the transcript shows; the TLSA records are not the problem"
}

// summary says what a successful probe saw, in the order it happened.
func summary(r *prober.Result) string {
	var parts []string
	if ph := r.Phase(prober.PhaseBanner); ph != nil && ph.ReplyCode != 0 {
		parts = append(parts, fmt.Sprintf("greeting %d", ph.ReplyCode))
	}
	switch {
	case r.TLS != nil && r.Phase(prober.PhaseStartTLS).Reached:
		parts = append(parts, "STARTTLS to "+r.TLS.Version.String())
	case r.TLS != nil:
		parts = append(parts, "implicit "+r.TLS.Version.String())
	default:
		parts = append(parts, "no TLS")
	}
	if r.TLS != nil {
		if r.TLS.Verified {
			parts = append(parts, "certificate verified")
		} else {
			parts = append(parts, "certificate NOT verified")
		}
	}
	if r.AuthConfigured && r.AuthSuccess {
		parts = append(parts, "AUTH "+r.AuthMechanism+" accepted")
	} else if mechs := r.LastEHLO(); mechs != nil && len(mechs.AuthMechanisms) > 0 {
		parts = append(parts, "AUTH offered ("+strings.Join(mechs.AuthMechanisms, " ")+")")
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" in %s", r.Duration.Round(time.Millisecond))
}

// certificateWarnDays is when the verdict starts to mention expiry, as the
// SMTPCertificateExpiringSoon alert does.
const certificateWarnDays = 21

// targetWarnings lists in words what a probe of a single target found
// wrong without failing: its warnings, a certificate within 21 days of
// expiry, and TLS older than 1.2.
func targetWarnings(r *prober.Result) []string {
	var out []string
	for _, w := range r.Warnings {
		words, _ := reasons.Explain(w.Reason, r.Port)
		out = append(out, fmt.Sprintf("%s (%s)", words, w.Reason))
	}
	if ic := r.Injection; ic != nil && ic.Result == prober.InjectionVulnerable {
		out = append(out, "the server answers inside TLS commands sent in clear text with STARTTLS (CVE-2011-0411: a man in the middle can inject commands)")
	}
	if t := r.TLS; t != nil {
		if t.Version < tls.VersionTLS12 {
			out = append(out, t.Version.String()+" is older than TLS 1.2")
		}
		if !r.Start.IsZero() && !t.LastChainExpiry.IsZero() {
			if left := t.LastChainExpiry.Sub(r.Start); left >= 0 && left < certificateWarnDays*24*time.Hour {
				out = append(out, fmt.Sprintf("a certificate expires in %.0f days (%s)",
					left.Hours()/24, t.LastChainExpiry.UTC().Format(time.DateOnly)))
			}
		}
	}
	return out
}
