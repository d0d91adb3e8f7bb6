package collector

import (
	"testing"

	"github.com/smtp-exporter/smtp_exporter/egress"
	"github.com/smtp-exporter/smtp_exporter/internal/promlint"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

// egressSnapshot is a vantage with port 25 blocked over IPv4 (two of two
// canaries time out) and open over IPv6, and 587 covered but not tried yet.
func egressSnapshot() egress.Snapshot {
	tr := egress.NewTracker(2)
	k4 := egress.Key{Port: 25, Family: "ip4"}
	k6 := egress.Key{Port: 25, Family: "ip6"}
	for range 3 {
		tr.Record("canary1.example.net:25", k4, egress.Attempt{Outcome: egress.OutcomeConnectTimeout})
		tr.Record("192.0.2.10:25", k4, egress.Attempt{Outcome: egress.OutcomeConnectTimeout})
	}
	tr.Record("canary1.example.net:25", k6, egress.Attempt{Outcome: egress.OutcomeOK})
	tr.Cover("mail.example.net:587", egress.Key{Port: 587, Family: "ip4"})
	return tr.Snapshot()
}

func TestEgressGolden(t *testing.T) {
	_, got := renderCollector(t, NewEgress(egressSnapshot))
	compareGolden(t, "egress", got)
	promtool := testtool.Need(t, "promtool", "promtool")
	if findings, err := promlint.Check(promtool, got); err != nil || findings != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, findings)
	}
}

// Without canaries, /metrics has no egress series at all.
func TestEgressNone(t *testing.T) {
	mfs, _ := renderCollector(t, NewEgress(func() egress.Snapshot { return egress.Snapshot{} }))
	if len(mfs) != 0 {
		t.Errorf("%d metric families without canaries, want none", len(mfs))
	}
}
