package docs

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/reasons"
)

// Generated lists the files, relative to docs/, that have generated
// sections.
var Generated = []string{"metrics.md"}

// sections are the generated sections by name: a file holds each between
// "<!-- begin generated: NAME ... -->" and "<!-- end generated: NAME -->".
var sections = map[string]func() string{
	"probe-reasons":  probeReasons,
	"domain-reasons": domainReasons,
}

const (
	beginMarker = "<!-- begin generated: "
	endMarker   = "<!-- end generated: "
	// beginTail follows a section's name on its begin line.
	beginTail = " (go generate ./docs writes it from reasons/reasons.go: do not edit) -->\n"
)

// Generate returns a Markdown file with its generated sections written
// anew. A section begun and not ended, or of a name it does not know, is
// an error.
func Generate(md []byte) ([]byte, error) {
	var out bytes.Buffer
	rest := md
	for {
		i := bytes.Index(rest, []byte(beginMarker))
		if i < 0 {
			out.Write(rest)
			return out.Bytes(), nil
		}
		out.Write(rest[:i])
		rest = rest[i+len(beginMarker):]
		name, _, _ := strings.Cut(string(rest), " ")
		render, ok := sections[name]
		if !ok {
			return nil, fmt.Errorf("unknown generated section %q", name)
		}
		end := endMarker + name + " -->\n"
		j := bytes.Index(rest, []byte(end))
		if j < 0 {
			return nil, fmt.Errorf("generated section %q has no end line %q", name, strings.TrimSpace(end))
		}
		out.WriteString(beginMarker + name + beginTail)
		out.WriteString(render())
		out.WriteString(end)
		rest = rest[j+len(end):]
	}
}

// probeReasons is the table of the reasons of one SMTP conversation.
func probeReasons() string { return reasonTable(maildomain.PairReasons, reasons.Of, "any module") }

// domainReasons is the table of the reasons of a mail domain.
func domainReasons() string {
	return reasonTable(maildomain.Reasons, reasons.OfDomain, "any `mx` module")
}

// reasonTable lists reasons in the order of the code's list, each with its
// meaning, the modules that report it (always: any of them), and its hint.
func reasonTable[R ~string](list []R, of func(R) reasons.Meaning, always string) string {
	var rows [][]string
	for _, r := range list {
		m := of(r)
		rows = append(rows, []string{"`" + string(r) + "`", m.Words, when(m, always), m.Hint})
	}
	return table([]string{"reason", "meaning", "when", "what to check"}, rows)
}

// when says which modules can report a reason, and when it only warns.
func when(m reasons.Meaning, always string) string {
	var parts []string
	if m.Only != "" {
		parts = append(parts, m.Only)
	} else {
		parts = append(parts, always)
	}
	if m.Warns != "" {
		parts = append(parts, "a warning "+m.Warns)
	}
	return strings.Join(parts, "; ")
}

// table writes a Markdown table. The table's texts are for terminals too,
// so what Markdown would read as HTML is escaped here.
func table(head []string, rows [][]string) string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + markdownCell(c) + " |")
		}
		b.WriteString("\n")
	}
	line(head)
	b.WriteString(strings.Repeat("|---", len(head)) + "|\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

var cellEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", `\|`)

func markdownCell(s string) string { return cellEscaper.Replace(s) }
