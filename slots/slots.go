// Package slots bounds the SMTP conversations the exporter holds at once,
// across all requests (--probe.max-concurrent). A single-target probe is
// one conversation; a domain probe holds one slot per conversation it has
// on the wire, so that its fan-out counts as what it costs: sockets,
// goroutines, memory, and connections to other people's servers.
//
// A request takes its first slot with TryAcquire, and is refused at once
// when none is free: a queued probe would start after its scrape timeout
// had eaten into its time. A domain probe's further conversations wait for
// slots with Acquire, within its deadline, while its first slot keeps it
// moving. The package knows nothing of HTTP, SMTP or Prometheus.
package slots

import (
	"context"
)

// Pool is a number of slots. A nil *Pool, or one of New(0), never runs
// out.
type Pool struct {
	// tokens holds a value per slot taken; its capacity is the limit.
	tokens chan struct{}
}

// New returns a pool of limit slots; 0 or less: no limit.
func New(limit int) *Pool {
	if limit <= 0 {
		return &Pool{}
	}
	return &Pool{tokens: make(chan struct{}, limit)}
}

// Limit is the number of slots (0: no limit).
func (p *Pool) Limit() int {
	if p == nil {
		return 0
	}
	return cap(p.tokens)
}

// InUse is the number of slots taken now (0 for a pool without a limit,
// which does not count).
func (p *Pool) InUse() int {
	if p == nil {
		return 0
	}
	return len(p.tokens)
}

// TryAcquire takes a slot if one is free, without waiting.
func (p *Pool) TryAcquire() bool {
	if p == nil || p.tokens == nil {
		return true
	}
	select {
	case p.tokens <- struct{}{}:
		return true
	default:
		return false
	}
}

// Acquire takes a slot, waiting for one until ctx ends; then it returns
// ctx's error and has taken nothing. Waiters get slots in about the order
// they came.
func (p *Pool) Acquire(ctx context.Context) error {
	if p == nil || p.tokens == nil {
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.tokens <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release frees a slot taken by TryAcquire or Acquire.
func (p *Pool) Release() {
	if p == nil || p.tokens == nil {
		return
	}
	<-p.tokens
}
