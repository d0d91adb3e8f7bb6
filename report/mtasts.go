package report

import (
	"strings"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
)

// mtaSTS writes the MTA-STS and TLS-RPT section of a domain report: the
// record, the policy fetch and policy, and each MX host's and pair's
// compliance.
func (x *writer) mtaSTS(d *maildomain.Result) {
	m := d.MTASTS
	if m == nil {
		return
	}
	x.heading("MTA-STS (RFC 8461)")
	switch {
	case !m.RecordFound && m.RecordError == "":
		x.line("  record:  none at _mta-sts.%s: the domain has no MTA-STS", clean(d.Domain))
	case m.RecordValid:
		x.line("  record:  %s (id %s, %s)", clean(m.Record), clean(m.RecordID), secureWords(m.RecordSecure))
	default:
		x.line("  record:  %s: %s", x.paint(red, "INVALID"), clean(m.RecordError))
		if m.Record != "" {
			x.line("           %s", clean(m.Record))
		}
	}
	if f := m.Fetch; f != nil {
		status := x.paint(green, "fetched")
		if f.Err != "" {
			status = x.paint(red, "FAILED: ") + clean(f.Err)
		}
		x.line("  policy:  %s %s", clean(f.URL), status)
		if f.StatusCode != 0 {
			x.line("           HTTP %d, Content-Type %q, %s", f.StatusCode, clean(f.ContentType), millis(f.Duration))
		}
		if !f.CertNotAfter.IsZero() {
			x.line("           certificate of the policy host valid until %s", f.CertNotAfter.UTC().Format("2006-01-02T15:04:05Z"))
		}
		if f.CertError != "" {
			x.line("           certificate: %s", clean(f.CertError))
		}
	}
	if p := m.Policy; p != nil {
		x.line("  mode:    %s, max_age %d s, mx %s", p.Mode, p.MaxAge, clean(strings.Join(p.MX, ", ")))
		for _, w := range p.Warnings {
			x.line("           %s", x.paint(yellow, clean(w)))
		}
		for _, h := range m.MX {
			if h.Match {
				x.line("  MX %s matches %s", clean(h.Host), clean(h.Pattern))
			} else {
				x.line("  MX %s %s", clean(h.Host), x.paint(red, "matches no mx pattern"))
			}
		}
		for _, c := range m.Pairs {
			verdict := x.paint(green, "complies")
			if !c.Compliant {
				verdict = x.paint(red, "DOES NOT COMPLY")
			}
			x.line("  %s %s: %s: %s", clean(c.MX), c.Address, verdict, clean(c.Why))
		}
	}
	x.heading("TLS-RPT (RFC 8460)")
	switch {
	case m.TLSRPTValid:
		x.line("  record:  %s", clean(m.TLSRPT))
		x.line("  reports: %s", clean(strings.Join(m.TLSRPTRUA, ", ")))
	case m.TLSRPT != "":
		x.line("  record:  %s: %s", x.paint(red, "INVALID"), clean(m.TLSRPTError))
		x.line("           %s", clean(m.TLSRPT))
	default:
		x.line("  record:  none (%s)", clean(m.TLSRPTError))
	}
}
