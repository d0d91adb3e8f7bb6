package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/egress"
)

// The exporter's own egress series, on /metrics: one state per (port,
// family) the canaries cover, and each canary's health.
var (
	egressStateDesc = prometheus.NewDesc("smtp_exporter_egress_state",
		"The egress state of this host for a port and address family, by its canaries: 1 for the current state (open, blocked, throttled, intercepted or unknown), 0 for the others.",
		[]string{"port", "family", "state"}, nil)
	canaryUpDesc = prometheus.NewDesc("smtp_exporter_egress_canary_up",
		"Whether the canary's last attempt over this family got the greeting (and certificate) it should (0 before its first attempt).",
		[]string{"canary", "port", "family"}, nil)
	canaryAttemptsDesc = prometheus.NewDesc("smtp_exporter_egress_canary_attempts_total",
		"Attempts at the canary over this family.",
		[]string{"canary", "port", "family"}, nil)
	canaryFailuresDesc = prometheus.NewDesc("smtp_exporter_egress_canary_failures_total",
		"Failed attempts at the canary over this family, by reason.",
		[]string{"canary", "port", "family", "reason"}, nil)
)

// EgressCollector exposes the egress runner's state on /metrics.
type EgressCollector struct {
	snapshot func() egress.Snapshot
}

// NewEgress returns the collector of the states snapshot returns.
func NewEgress(snapshot func() egress.Snapshot) *EgressCollector {
	return &EgressCollector{snapshot: snapshot}
}

// Describe sends the egress descriptors.
func (c *EgressCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{egressStateDesc, canaryUpDesc, canaryAttemptsDesc, canaryFailuresDesc} {
		ch <- d
	}
}

// Collect sends every state and canary series; a port and family no canary
// covers has none.
func (c *EgressCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for _, v := range s.Verdicts {
		port := strconv.Itoa(v.Port)
		for _, st := range egress.States {
			ch <- prometheus.MustNewConstMetric(egressStateDesc, prometheus.GaugeValue, boolValue(v.State == st), port, v.Family, string(st))
		}
	}
	for _, cs := range s.Canaries {
		port := strconv.Itoa(cs.Port)
		ch <- prometheus.MustNewConstMetric(canaryUpDesc, prometheus.GaugeValue, boolValue(cs.Up), cs.Canary, port, cs.Family)
		ch <- prometheus.MustNewConstMetric(canaryAttemptsDesc, prometheus.CounterValue, float64(cs.Attempts), cs.Canary, port, cs.Family)
		for _, o := range egress.FailureOutcomes {
			ch <- prometheus.MustNewConstMetric(canaryFailuresDesc, prometheus.CounterValue, float64(cs.Failures[o]), cs.Canary, port, cs.Family, string(o))
		}
	}
}
