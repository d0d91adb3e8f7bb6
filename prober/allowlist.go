package prober

import (
	"net/netip"
)

// AllowList decides which targets a probe may connect to, so that the
// exporter cannot be turned into a scanner of the networks behind it.
// config.AllowedTargets (allowed_targets) implements it.
type AllowList interface {
	// AllowName is asked before host is resolved, so that a name no
	// address could make allowed is not even looked up.
	AllowName(host string) error
	// AllowAddr is asked with the address that is then dialed, so that a
	// name resolving to a forbidden address is refused too, and nothing can
	// change the address between the check and the connection.
	AllowAddr(host string, addr netip.Addr) error
}

func (p *conversation) allowName(host string) bool {
	if p.opts.AllowList == nil {
		return true
	}
	return p.allowed(p.opts.AllowList.AllowName(host))
}

func (p *conversation) allowAddr(host string, addr netip.Addr) bool {
	if p.opts.AllowList == nil {
		return true
	}
	return p.allowed(p.opts.AllowList.AllowAddr(host, addr))
}

func (p *conversation) allowed(err error) bool {
	if err == nil {
		return true
	}
	p.result.Refused = err
	p.note("refused: %v", err)
	return false
}
