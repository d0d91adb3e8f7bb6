package prober

import (
	"slices"
	"time"
)

// Outcome is a finished probe as the views see it, whatever its kind: a
// single target's *Result, or a mail domain's *maildomain.Result. The
// handler, the history, the probe command, the report and the collector
// are each written once against it; what differs by kind (the report's
// body, the series) is chosen inside report and collector.
type Outcome interface {
	Summary() Summary
	// Conversations are the SMTP conversations the probe held or tried:
	// the result itself, or each pair's, so that what is true of every
	// conversation (the vantage's egress state) is added in one loop.
	Conversations() []*Result
}

// Summary is what every view shows of a probe, whatever its kind.
type Summary struct {
	// Target is host:port for a single target, the domain for a mail domain.
	Target   string
	Module   string
	Start    time.Time
	Duration time.Duration
	Success  bool
	// Failure is the failure reason ("" on success): a Reason of a single
	// target, a maildomain.Reason of a mail domain.
	Failure string
	// Error is the failure in words, with detail.
	Error string
	// Refused is set when the allow-list refused a single target before
	// any connection: no probe ran. (A mail domain is never refused: its
	// refused pairs fail with target_not_allowed.)
	Refused error
	// WarningReasons are the short names of the problems found that did
	// not fail the probe, each once, in the order found: a single target's
	// warning reasons; a mail domain's own warnings' kinds, then its
	// pairs' warning reasons.
	WarningReasons []string
}

// Summary implements Outcome.
func (r *Result) Summary() Summary {
	s := Summary{
		Target: r.Target, Module: r.Module, Start: r.Start, Duration: r.Duration,
		Success: r.Success, Failure: string(r.Failure), Error: r.Error, Refused: r.Refused,
	}
	for _, w := range r.Warnings {
		if !slices.Contains(s.WarningReasons, string(w.Reason)) {
			s.WarningReasons = append(s.WarningReasons, string(w.Reason))
		}
	}
	return s
}

// Conversations implements Outcome: a single target is one conversation.
func (r *Result) Conversations() []*Result { return []*Result{r} }
