package report

import (
	"encoding/json"
	"io"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/reasons"
)

// The views' entry points: each takes a probe's outcome of either kind, a
// single target's *prober.Result or a mail domain's *maildomain.Result,
// so that the handler, the history and the probe command call one
// function whatever they probed.

// Write writes the report of a probe: for a single target its verdict,
// phases, EHLO, TLS, DANE, posture, reverse DNS and transcript; for a mail
// domain its verdict, MX records, a table of its (MX host, address) pairs,
// MTA-STS and TLS-RPT, then each pair's own report. The verdict comes
// again at the end, where a terminal leaves it in sight.
func Write(w io.Writer, o prober.Outcome, opts Options) {
	switch r := o.(type) {
	case *maildomain.Result:
		writeDomain(w, r, opts)
	case *prober.Result:
		writeTarget(w, r, opts)
	}
}

// WriteJSON writes the outcome as one indented JSON document. Its field
// names are the JSON tags of prober.Result and maildomain.Result,
// documented in docs/probe-output.md.
func WriteJSON(w io.Writer, o prober.Outcome) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Scripts and people read "<redacted>" better than "\u003credacted\u003e".
	enc.SetEscapeHTML(false)
	return enc.Encode(o)
}

// Verdict is the probe in one line: success with what was found (and
// with warnings, when there are any), or the failure reason with its
// meaning and a hint.
func Verdict(o prober.Outcome) string {
	switch r := o.(type) {
	case *maildomain.Result:
		return domainVerdict(r)
	case *prober.Result:
		return targetVerdict(r)
	}
	return ""
}

// Warnings lists in words what a probe found wrong without failing. Of a
// single target: its warnings, a certificate within 21 days of expiry, TLS
// older than 1.2. Of a mail domain: its own warnings, then each pair's, as
// "MX ADDRESS: words".
func Warnings(o prober.Outcome) []string {
	switch r := o.(type) {
	case *maildomain.Result:
		return domainWarnings(r)
	case *prober.Result:
		return targetWarnings(r)
	}
	return nil
}

// FailureWords is the failure reason of a failed probe in plain words
// ("" on success).
func FailureWords(o prober.Outcome) string {
	var words string
	switch r := o.(type) {
	case *maildomain.Result:
		if r.Failure != "" {
			words, _ = reasons.ExplainDomain(r.Failure)
		}
	case *prober.Result:
		if r.Failure != "" {
			words, _ = reasons.Explain(r.Failure, r.Port)
		}
	}
	return words
}
