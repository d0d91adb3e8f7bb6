package maildomain

import (
	"fmt"
	"strings"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// Bounds on the text a domain result keeps, as prober bounds a single
// result's: a hostile zone or policy host chooses all of it (a 61 KB
// policy made a 581 KB error), and a result lives on in the history.
const (
	// maxWarnings bounds the domain's own warnings (each cut at
	// prober.MaxErrorBytes); the last one says how many more there were.
	maxWarnings = 16
	// maxPolicyBodyBytes bounds the policy text kept: real policies are
	// under 1 KiB; the fetch reads up to mtasts.MaxPolicySize to judge it.
	maxPolicyBodyBytes = 2 << 10
	// maxPolicyPatterns and maxPolicyWarnings bound the policy's mx
	// patterns and warnings kept (all of them are matched against).
	maxPolicyPatterns = 32
	maxPolicyWarnings = 8
	// maxRUAs bounds the TLS-RPT report addresses kept.
	maxRUAs = 8
	// maxListed is how many items an error or warning lists before it
	// says how many more there are.
	maxListed = 4
)

// clean is the one way text a domain probe found (DNS, a policy host, its
// pairs' errors) reaches its result: sanitized (control and format
// characters), cut at prober.MaxErrorBytes.
func clean(s string) string { return prober.Sanitize(s, prober.MaxErrorBytes) }

// listed joins items for an error or warning: the first maxListed, then
// how many more.
func listed(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(items)-maxListed)
}

// bound makes the result's text fit the bounds above, once it is complete.
func (d *fanOut) bound() {
	r := d.result
	r.Error = clean(r.Error)
	if n := len(r.Warnings); n > maxWarnings {
		r.Warnings = append(r.Warnings[:maxWarnings-1], Warning{Kind: WarningMore, Text: fmt.Sprintf("and %d more warnings", n-maxWarnings+1)})
	}
	for i := range r.Warnings {
		r.Warnings[i].Text = clean(r.Warnings[i].Text)
	}
	for i := range r.Hosts {
		r.Hosts[i].Name = clean(r.Hosts[i].Name)
		r.Hosts[i].Error = clean(r.Hosts[i].Error)
	}
	if m := r.MTASTS; m != nil {
		m.bound()
	}
}

func (m *MTASTSResult) bound() {
	for _, s := range []*string{&m.Record, &m.RecordID, &m.RecordError, &m.TLSRPT, &m.TLSRPTError} {
		*s = clean(*s)
	}
	if len(m.TLSRPTRUA) > maxRUAs {
		m.TLSRPTRUA = m.TLSRPTRUA[:maxRUAs]
	}
	for i := range m.TLSRPTRUA {
		m.TLSRPTRUA[i] = clean(m.TLSRPTRUA[i])
	}
	if f := m.Fetch; f != nil {
		for _, s := range []*string{&f.URL, &f.ContentType, &f.CertError, &f.Err} {
			*s = clean(*s)
		}
		f.Body = cleanLines(f.Body, maxPolicyBodyBytes)
	}
	if p := m.Policy; p != nil {
		p.Version = clean(p.Version)
		if n := len(p.MX); n > maxPolicyPatterns {
			p.MX = p.MX[:maxPolicyPatterns:maxPolicyPatterns]
			m.PatternsLeftOut = n - maxPolicyPatterns
		}
		for i := range p.MX {
			p.MX[i] = clean(p.MX[i])
		}
		if n := len(p.Warnings); n > maxPolicyWarnings {
			p.Warnings = append(p.Warnings[:maxPolicyWarnings-1:maxPolicyWarnings-1], fmt.Sprintf("and %d more warnings", n-maxPolicyWarnings+1))
		}
		for i := range p.Warnings {
			p.Warnings[i] = clean(p.Warnings[i])
		}
	}
	for i := range m.MX {
		m.MX[i].Pattern = clean(m.MX[i].Pattern)
	}
	for _, c := range m.Pairs {
		c.Why = clean(c.Why)
	}
}

// cleanLines is text of several lines (a policy) sanitized line by line
// and cut at about limit bytes, at a line's end.
func cleanLines(s string, limit int) string {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		l = prober.Sanitize(l, prober.MaxErrorBytes)
		if b.Len()+len(l) > limit {
			fmt.Fprintf(&b, "(%d more lines, %d bytes in all)", len(lines)-i, len(s))
			break
		}
		b.WriteString(l)
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
