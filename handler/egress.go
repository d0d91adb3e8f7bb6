package handler

import (
	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// EgressState says what the exporter's egress canaries say of a port and
// address family (nil: no canary covers them); egress.Runner.Info is one.
type EgressState func(port int, family string) *prober.EgressInfo

// addEgress puts the vantage's egress state on every conversation of a
// probe, so that its metrics, report and history say whether a failure
// may be the path's.
func (h *ProbeHandler) addEgress(o prober.Outcome, module *config.Module) {
	if h.Egress == nil {
		return
	}
	for _, r := range o.Conversations() {
		r.Egress = h.Egress(r.Port, r.Family(module.IPProtocol))
	}
}
