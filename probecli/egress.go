package probecli

import (
	"context"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/egress"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// egressCheck tries, once and while the probe runs, the config's canaries
// for port: the command cannot wait intervals, so a single round decides
// (a failed connect of quorum canaries is a block; a throttle cannot be
// told). It returns a function that waits for the round and gives the
// state of a family, nil when no canary covers the port (or the command
// was told not to try them).
func (c *Command) egressCheck(ctx context.Context, cfg *config.Config, port int) func(family string) *prober.EgressInfo {
	none := func(string) *prober.EgressInfo { return nil }
	if c.NoEgress || cfg.Egress == nil {
		return none
	}
	e := *cfg.Egress
	e.Canaries = nil
	for _, can := range cfg.Egress.Canaries {
		if can.Port() == port {
			e.Canaries = append(e.Canaries, can)
		}
	}
	if len(e.Canaries) == 0 {
		return none
	}
	done := make(chan egress.Snapshot, 1)
	go func() { done <- egress.Once(ctx, &e, c.EgressOptions) }()
	var verdicts map[string]egress.Verdict
	return func(family string) *prober.EgressInfo {
		if verdicts == nil {
			verdicts = map[string]egress.Verdict{}
			for _, v := range (<-done).Verdicts {
				verdicts[v.Family] = v
			}
		}
		v, ok := verdicts[family]
		if !ok {
			return nil
		}
		return v.Info()
	}
}
