package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
)

// domainExplanations say what a domain's failure means, and what to check.
var domainExplanations = map[maildomain.Reason]explanation{
	maildomain.ReasonResolve: {
		"the domain's MX records could not be looked up",
		"check the domain's name and its DNS servers (dig MX <domain> @<server>); NXDOMAIN means the domain does not exist",
	},
	maildomain.ReasonNullMX: {
		"the domain publishes a null MX (RFC 7505): it accepts no mail",
		"if the domain should receive mail, replace the \"MX 0 .\" record with the mail hosts",
	},
	maildomain.ReasonNoAddress: {
		"no MX host has an address: mail cannot be delivered",
		"give the MX hosts A/AAAA records, or point the MX records at hosts that have them",
	},
	maildomain.ReasonAddressFailed: {
		"some MX addresses fail",
		"the table shows which (MX host, address) pairs fail and why; senders retry other addresses, but a dead one delays mail",
	},
	maildomain.ReasonMTASTSInvalid: {
		"the domain publishes an MTA-STS record, but no usable policy",
		"check the policy by hand (curl -sv https://mta-sts.<domain>/.well-known/mta-sts.txt): HTTP 200, text/plain, a certificate valid for mta-sts.<domain>, no redirect; senders keep their cached policy until max_age runs out",
	},
	maildomain.ReasonDNSSECBogus: {
		"the domain's DNS answers fail DNSSEC validation: validating senders (most large providers) cannot deliver, they queue the mail and bounce it after days",
		"check the zone's signatures and DS records (dig +dnssec MX <domain>; with +cd it answers; delv MX <domain>; https://dnsviz.net); expired RRSIGs from a signer that stopped are the usual cause",
	},
	maildomain.ReasonNXDomain: {
		"the domain does not exist (NXDOMAIN): senders bounce its mail at once",
		"check the spelling, the registration (whois: expired?) and the delegation at the parent zone (dig +trace NS <domain>)",
	},
	maildomain.ReasonResolverFailed: {
		"the exporter's own DNS server fails, a known-good name too: the domain is not being watched, and may be fine",
		"fix the exporter's resolver (dns.server of the module, or /etc/resolv.conf): dig SOA <known_good_name> @<server>; on a network without the internet set dns.known_good_name to one of your zones",
	},
	maildomain.ReasonMTASTSNotEnforced: {
		"the module requires MTA-STS in enforce mode, and the domain has no _mta-sts record or a policy in testing or none mode: MTA-STS protects none of its mail",
		"publish the _mta-sts TXT record and a policy with mode: enforce at https://mta-sts.<domain>/.well-known/mta-sts.txt (and a new id in the record)",
	},
	maildomain.ReasonNullMXMissing: {
		"the module expects a null MX (a domain that sends mail only), and the domain does not publish exactly that",
		"publish \"<domain>. MX 0 .\" as its only MX record (RFC 7505), or probe the domain with a module that expects it to receive mail",
	},
	maildomain.ReasonMTASTSViolation: {
		"the MTA-STS policy is in enforce mode, and an MX host or its certificate does not comply: MTA-STS senders do not deliver to it",
		"add the MX host to the policy's mx lines (and change the record's id), or give the MX a certificate valid for its name with TLS 1.2 or later",
	},
}

// ExplainDomain returns a domain failure reason in words and a hint.
func ExplainDomain(reason maildomain.Reason) (words, hint string) {
	e, ok := domainExplanations[reason]
	if !ok {
		return string(reason), ""
	}
	return e.words, e.hint
}

// DomainVerdict is a domain probe in one line.
func DomainVerdict(d *maildomain.Result) string {
	addrs, good := d.Counts()
	if d.Success && d.Null {
		return fmt.Sprintf("OK: the domain publishes a null MX, as expected: it sends mail only (%s)", d.Duration.Round(time.Millisecond))
	}
	if d.Success {
		return fmt.Sprintf("OK: %d of %d addresses of %d MX host(s) accept mail (success: %s) in %s",
			good, addrs, len(d.Hosts), d.Rule, d.Duration.Round(time.Millisecond))
	}
	words, hint := ExplainDomain(d.Failure)
	s := fmt.Sprintf("FAILED (%s): %s", d.Failure, words)
	if d.Failure == maildomain.ReasonAddressFailed {
		s = fmt.Sprintf("FAILED (%s): %d of %d addresses accept mail (success: %s)", d.Failure, good, addrs, d.Rule)
	}
	if hint != "" {
		s += "; " + hint
	}
	return s
}

// WriteDomainJSON writes the domain result as one indented JSON document.
func WriteDomainJSON(w io.Writer, d *maildomain.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

// WriteDomain writes the report of a domain probe: the verdict, the MX
// records, a table of every (MX host, address) pair, then each pair's own
// report with its transcript, and the verdict again at the end.
func WriteDomain(w io.Writer, d *maildomain.Result, opts Options) {
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
	x.domainVerdict(d)
	for _, warn := range d.Warnings {
		x.line("Also:    %s", x.paint(yellow, clean(warn)))
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
			note = "  (not probed: beyond max_hosts)"
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
				words, _ := Explain(r.Failure, r.Port)
				reason = fmt.Sprintf("%s: %s", r.Failure, words)
			}
			tlsVersion, days := "-", "-"
			if r.TLS != nil {
				tlsVersion = r.TLS.Version.String()
				if len(r.TLS.Certificates) > 0 {
					days = fmt.Sprintf("%.1f", r.TLS.Certificates[0].NotAfter.Sub(opts.Now).Hours()/24)
				}
			}
			addr := "(none)"
			if p.Address.IsValid() {
				addr = p.Address.String()
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(p.MX), p.Preference, addr, verdict, clean(reason),
				tlsVersion, days, millis(r.Duration))
		}
		tw.Flush()
	}

	x.mtaSTS(d)

	for _, p := range d.Pairs {
		addr := "no address"
		if p.Address.IsValid() {
			addr = p.Address.String()
		}
		x.line("")
		x.line("%s", x.bold(strings.Repeat("=", 8)+" "+clean(p.MX)+" "+addr+" "+strings.Repeat("=", 8)))
		Write(w, p.Result, opts)
	}
	x.line("")
	x.domainVerdict(d)
}

func (x *writer) domainVerdict(d *maildomain.Result) {
	colour := green
	if !d.Success {
		colour = red
	}
	x.line("Verdict: %s", x.paint(colour+bold, clean(DomainVerdict(d))))
	if !d.Success && d.Error != "" {
		x.line("Error:   %s", clean(d.Error))
	}
}
