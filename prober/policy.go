package prober

import (
	"net/netip"
)

// TargetPolicy decides which targets a probe may connect to, so that the
// exporter cannot be turned into a scanner of the networks behind it.
// config.AllowedTargets implements it.
type TargetPolicy interface {
	// AllowName is asked before host is resolved, so that a name no
	// address could make allowed is not even looked up.
	AllowName(host string) error
	// AllowAddr is asked with the address that is then dialed, so that a
	// name resolving to a forbidden address is refused too, and nothing can
	// change the address between the check and the connection.
	AllowAddr(host string, addr netip.Addr) error
}

func (p *probe) allowName(host string) bool {
	if p.opts.Policy == nil {
		return true
	}
	return p.allowed(p.opts.Policy.AllowName(host))
}

func (p *probe) allowAddr(host string, addr netip.Addr) bool {
	if p.opts.Policy == nil {
		return true
	}
	return p.allowed(p.opts.Policy.AllowAddr(host, addr))
}

func (p *probe) allowed(err error) bool {
	if err == nil {
		return true
	}
	p.res.Refused = err
	p.note("refused: %v", err)
	return false
}
