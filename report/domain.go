package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/reasons"
)

// domainVerdict is a domain probe in one line; a success with warnings
// says so, and of what kinds (the report's Also: lines say them in full).
func domainVerdict(d *maildomain.Result) string {
	addrs, good := d.Counts()
	if d.Success && d.Null {
		return fmt.Sprintf("OK: the domain publishes a null MX, as expected: it sends mail only (%s)", d.Duration.Round(time.Millisecond))
	}
	if d.Success {
		ok := "OK"
		if kinds := d.Summary().WarningReasons; len(kinds) > 0 {
			ok = "OK, with warnings (" + strings.Join(kinds, " ") + ")"
		}
		return fmt.Sprintf("%s: %d of %d addresses of %d MX host(s) accept mail (success: %s) in %s",
			ok, good, addrs, len(d.Hosts), d.Rule, d.Duration.Round(time.Millisecond))
	}
	words, hint := reasons.ExplainDomain(d.Failure)
	s := fmt.Sprintf("FAILED (%s): %s", d.Failure, words)
	if d.Failure == maildomain.ReasonAddressFailed {
		s = fmt.Sprintf("FAILED (%s): %d of %d addresses accept mail (success: %s)", d.Failure, good, addrs, d.Rule)
	}
	if hint != "" {
		s += "; " + hint
	}
	return s
}

// writeDomain writes the report of a domain probe: the verdict, the MX
// records, a table of every (MX host, address) pair, then each pair's own
// report with its transcript, and the verdict again at the end.
func writeDomain(w io.Writer, d *maildomain.Result, opts Options) {
	if opts.Now.IsZero() {
		opts.Now = d.Start
	}
	x := &writer{w: w, color: opts.Color}
	x.line(x.bold("Probe of mail domain %s with module %s"), clean(d.Domain), clean(d.Module))
	secure := ""
	if d.MXSecure {
		secure = ", DNSSEC-validated (AD)"
	}
	if v := d.ResolverValidates(); v != nil && *v {
		secure += "; the server validates DNSSEC"
	} else if v != nil {
		secure += "; the server does NOT validate DNSSEC"
	}
	x.line("DNS server %s, MX lookup %s%s, started %s", clean(d.DNSServer), millis(d.MXLookup), secure, d.Start.UTC().Format(time.RFC3339))
	x.verdict(d)
	for _, warn := range d.Warnings {
		x.line("Also:    %s", x.paint(yellow, clean(warn.Text)))
	}

	x.heading("MX records")
	switch {
	case d.Null:
		x.line("  0 .   (null MX: no mail accepted)")
	case d.Implicit:
		x.line("  none: the domain itself is the mail host (implicit MX)")
	case len(d.Hosts) == 0:
		x.line("  none found")
	}
	for _, h := range d.Hosts {
		note := ""
		switch {
		case !h.Probed:
			note = "  (not probed: beyond max_hosts or max_pairs)"
		case h.Error != "":
			note = "  (" + clean(h.Error) + ")"
		}
		x.line("  %-5d %s%s", h.Preference, clean(h.Name), note)
	}

	if len(d.Pairs) > 0 {
		x.heading("Addresses")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  MX\tPREF\tADDRESS\tVERDICT\tREASON\tTLS\tCERT DAYS LEFT\tTIME")
		for _, p := range d.Pairs {
			r := p.Result
			verdict, reason := "ok", "-"
			if r.Success && len(r.Warnings) > 0 {
				var reasons []string
				for _, w := range r.Warnings {
					reasons = append(reasons, string(w.Reason))
				}
				verdict, reason = "ok, warned", "warnings: "+strings.Join(reasons, " ")
			}
			if !r.Success {
				verdict = "FAILED"
				words, _ := reasons.Explain(r.Failure, r.Port)
				reason = fmt.Sprintf("%s: %s", r.Failure, words)
			}
			tlsVersion, days := "-", "-"
			if r.TLS != nil {
				tlsVersion = r.TLS.Version.String()
				if len(r.TLS.Certificates) > 0 {
					days = fmt.Sprintf("%.1f", r.TLS.Certificates[0].NotAfter.Sub(opts.Now).Hours()/24)
				}
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(p.MX), p.Preference, addrText(p), verdict, clean(reason),
				tlsVersion, days, millis(r.Duration))
		}
		tw.Flush()
	}

	x.mtaSTS(d)

	for i, p := range d.Pairs {
		// A pair never dialed has no report beyond its row in the table.
		if !p.Probed() || i < opts.FirstPair || opts.PairReports > 0 && i >= opts.FirstPair+opts.PairReports {
			continue
		}
		addr := p.Address.String()
		x.line("")
		x.line("%s", x.bold(strings.Repeat("=", 8)+" "+clean(p.MX)+" "+addr+" "+strings.Repeat("=", 8)))
		writeTarget(w, p.Result, opts)
	}
	x.line("")
	x.verdict(d)
}

// PairCount is how many (MX host, address) pairs a mail domain's outcome
// has, 0 for a single target's: for a view that shows the pairs' reports
// in parts (Options.FirstPair).
func PairCount(o prober.Outcome) int {
	if d, ok := o.(*maildomain.Result); ok {
		return len(d.Pairs)
	}
	return 0
}

func domainWarnings(d *maildomain.Result) []string {
	var out []string
	for _, w := range d.Warnings {
		out = append(out, w.Text)
	}
	for _, p := range d.Pairs {
		for _, w := range targetWarnings(p.Result) {
			out = append(out, p.MX+" "+addrText(p)+": "+w)
		}
	}
	return out
}

// addrText is a pair's address as the report writes it.
func addrText(p *maildomain.Pair) string {
	if !p.Address.IsValid() {
		return "(none)"
	}
	return p.Address.String()
}
