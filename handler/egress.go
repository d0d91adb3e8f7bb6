package handler

import (
	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// EgressState says what the exporter's egress canaries say of a port and
// address family (nil: no canary covers them); egress.Runner.Info is one.
type EgressState func(port int, family string) *prober.EgressInfo

// addEgress puts the vantage's egress state on a result, so that its
// metrics, report and history say whether a failure may be the path's.
func (h *Probe) addEgress(r *prober.Result, module *config.Module) {
	if h.Egress == nil || r == nil {
		return
	}
	r.Egress = h.Egress(r.Port, r.Family(module.IPProtocol))
}

// addDomainEgress does it for every pair of a domain probe.
func (h *Probe) addDomainEgress(d *prober.DomainResult, module *config.Module) {
	for _, p := range d.Pairs {
		h.addEgress(p.Result, module)
	}
}
