package maildomain

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// testModule builds a module from YAML fields (indented under the module).
func testModule(t *testing.T, fields string) *config.Module {
	t.Helper()
	var doc strings.Builder
	doc.WriteString("modules:\n  test:\n")
	for l := range strings.SplitSeq(strings.TrimSpace(fields), "\n") {
		doc.WriteString("    " + strings.TrimSpace(l) + "\n")
	}
	cfg, err := config.Parse([]byte(doc.String()))
	if err != nil {
		t.Fatalf("module config: %v\n%s", err, doc.String())
	}
	return cfg.Modules["test"]
}

// mustName is the domain a test probes, parsed as /probe parses it.
func mustName(t *testing.T, s string) string {
	t.Helper()
	target, err := prober.ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	name, err := ParseName(target)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// addrText is an address as a test table writes it: "" for none.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func transcriptText(r *prober.Result) string {
	var b strings.Builder
	for _, l := range r.Transcript {
		fmt.Fprintf(&b, "  %s: %s\n", l.From, l.Text)
	}
	return b.String()
}

func warningTexts(ws []Warning) string {
	texts := make([]string, len(ws))
	for i, w := range ws {
		texts[i] = w.Text
	}
	return strings.Join(texts, "\n")
}

// warningOf returns the texts of the warnings of one kind.
func warningOf(ws []Warning, kind string) string {
	var texts []string
	for _, w := range ws {
		if w.Kind == kind {
			texts = append(texts, w.Text)
		}
	}
	return strings.Join(texts, "\n")
}
