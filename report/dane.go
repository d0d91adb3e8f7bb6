package report

import (
	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// dane writes the DANE section: the TLSA name, whether the answer was
// DNSSEC-secure, the status, and each record with what it matched or why
// it did not.
func (x *writer) dane(r *prober.Result) {
	d := r.DANE
	if d == nil {
		return
	}
	x.heading("DANE (RFC 7672), module dane: " + clean(d.Mode))
	if d.Name != "" {
		x.line("  TLSA name:   %s (asked %s)", clean(d.Name), clean(d.Server))
		x.line("  DNSSEC:      %s", secureWords(d.Secure))
	}
	status := string(d.Status)
	if status == "" {
		status = "not checked"
	}
	colour := yellow
	switch d.Status {
	case dane.StatusValidated:
		colour = green
	case dane.StatusFailed, dane.StatusBogus:
		colour = red
	}
	x.line("  status:      %s: %s", x.paint(colour+bold, status), clean(d.Detail))
	if d.Matched != nil {
		x.line("  matched:     %s (%s)", clean(d.Matched.String()), dane.UsageName(d.Matched.Usage))
	}
	for i, c := range d.Verdicts {
		verdict := "no match"
		switch {
		case c.Matched:
			verdict = x.paint(green, "MATCH")
		case !c.Usable:
			verdict = "unusable"
		}
		x.line("  [%d] %s", i, clean(c.Record.String()))
		x.line("      %s (%s): %s", verdict, dane.UsageName(c.Record.Usage), clean(c.Why))
	}
}

func secureWords(secure bool) string {
	if secure {
		return "secure (the resolver set the AD bit)"
	}
	return "not secure (no AD bit)"
}
