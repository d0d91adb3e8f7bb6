package egress

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// Options are the parts of the runner that tests replace.
type Options struct {
	// Dial opens the canaries' connections (nil: net.Dialer).
	Dial DialFunc
	// Resolver resolves canaries named by host name (nil: the system's).
	Resolver *net.Resolver
	// Roots verify expect_certificate_name (nil: the system's roots).
	Roots  *x509.CertPool
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Runner tries each canary of the egress section once per interval, on its
// own, whatever the targets and scrapes, and keeps the state of every
// (port, family) the canaries cover. It is safe for concurrent use.
type Runner struct {
	opts Options
	try  attempter

	mu      sync.Mutex
	cfg     *config.Egress
	tracker *Tracker
	workers map[string]*worker // by target
	wg      sync.WaitGroup
}

type worker struct {
	canary config.Canary
	cancel context.CancelFunc
	done   chan struct{}
}

// NewRunner returns a runner with no canaries: Apply starts them.
func NewRunner(opts Options) *Runner {
	opts = opts.withDefaults()
	return &Runner{
		opts:    opts,
		try:     attempter{dial: opts.Dial, roots: opts.Roots},
		tracker: NewTracker(config.DefaultEgressQuorum),
		workers: map[string]*worker{},
	}
}

// Apply puts an egress section into use (nil: none), after a load or a
// reload. Canaries it keeps, tried the same way at the same interval, keep
// their history and counters; removed ones are forgotten; the others start
// with a first attempt now.
func (r *Runner) Apply(e *config.Egress) {
	stopped := r.apply(e)
	// Waited for outside the lock: a round that finishes meanwhile needs
	// it, and drops its outcome as it is no longer the canary's worker.
	for _, w := range stopped {
		<-w.done
	}
}

func (r *Runner) apply(e *config.Egress) (stopped []*worker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keep []config.Canary
	if e != nil {
		keep = e.Canaries
	}
	sameTiming := r.cfg != nil && e != nil && r.cfg.Interval == e.Interval && r.cfg.Timeout == e.Timeout
	for target, w := range r.workers {
		i := slices.IndexFunc(keep, func(c config.Canary) bool { return c.Equal(w.canary) })
		if i < 0 || !sameTiming {
			w.cancel()
			stopped = append(stopped, w)
			delete(r.workers, target)
		}
		if i < 0 {
			r.tracker.Forget(target)
		}
	}
	r.cfg = e
	if e == nil {
		return stopped
	}
	r.tracker.SetQuorum(e.Quorum)
	for i := range e.Canaries {
		c := e.Canaries[i]
		if _, running := r.workers[c.Target]; running {
			continue
		}
		if c.Addr().IsValid() || c.IPProtocol != "" {
			// An address, or a name limited to one family, covers it from
			// the start; a host name covers the families it resolves to,
			// once it has.
			r.tracker.Cover(c.Target, Key{Port: c.Port(), Family: c.Families()[0]})
		}
		ctx, cancel := context.WithCancel(context.Background())
		w := &worker{canary: c, cancel: cancel, done: make(chan struct{})}
		r.workers[c.Target] = w
		r.wg.Add(1)
		go r.work(ctx, w, e.Interval, e.Timeout)
	}
	return stopped
}

// Stop ends every canary's attempts and waits for them.
func (r *Runner) Stop() {
	r.Apply(nil)
	r.wg.Wait()
}

// Verdict returns the state of port over family; false when no canary
// covers them.
func (r *Runner) Verdict(port int, family string) (Verdict, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracker.Verdict(Key{Port: port, Family: family})
}

// Snapshot copies out every verdict and canary status.
func (r *Runner) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracker.Snapshot()
}

// work tries the canary now and then once per interval until cancelled. A
// round takes at most timeout, which config keeps within the interval, so
// no attempt ever overlaps the next.
func (r *Runner) work(ctx context.Context, w *worker, interval, timeout time.Duration) {
	defer r.wg.Done()
	defer close(w.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	families := map[string]bool{}
	for {
		r.round(ctx, w, timeout, families)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// round makes one attempt at the canary over each family it covers, at
// the same time, and records them.
func (r *Runner) round(ctx context.Context, w *worker, timeout time.Duration, families map[string]bool) {
	c := &w.canary
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := attemptAll(rctx, &r.try, r.opts.Resolver, c, families)
	if ctx.Err() != nil {
		return // stopped or replaced by a reload: not an outcome
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.workers[c.Target] != w {
		return
	}
	for _, res := range results {
		key := Key{Port: c.Port(), Family: res.family}
		before, known := r.tracker.Verdict(key)
		after := r.tracker.Record(c.Target, key, res.attempt)
		r.opts.Logger.Debug("Egress canary attempt", "canary", c.Target, "port", key.Port, "family", key.Family,
			"outcome", res.attempt.Outcome, "lossy", res.attempt.Lossy, "detail", res.attempt.Detail)
		if !known || before.State != after.State {
			level := slog.LevelInfo
			if after.State != StateOpen && after.State != StateUnknown {
				level = slog.LevelWarn
			}
			r.opts.Logger.Log(ctx, level, "Egress state changed", "port", key.Port, "family", key.Family,
				"from", before.State, "to", after.State, "detail", after.Detail())
		}
	}
}

type familyResult struct {
	family  string
	attempt Attempt
}

// attemptAll resolves the canary (a host name, each time: its addresses
// may move) and tries the first address of each family it covers. A
// family it had before and no longer resolves to is a failure to resolve,
// not a silent end of coverage; families maps what it had.
func attemptAll(ctx context.Context, t *attempter, res *net.Resolver, c *config.Canary, families map[string]bool) []familyResult {
	addrs := map[string]netip.Addr{}
	var resolveErr error
	if a := c.Addr(); a.IsValid() {
		addrs[c.Families()[0]] = a
	} else {
		found, err := res.LookupNetIP(ctx, "ip", c.Host())
		resolveErr = err
		for _, a := range found {
			a = a.Unmap()
			f := familyOf(a)
			if _, ok := addrs[f]; !ok && slices.Contains(c.Families(), f) {
				addrs[f] = a
			}
		}
	}
	var out []familyResult
	for _, f := range c.Families() {
		if _, ok := addrs[f]; ok {
			families[f] = true
			continue
		}
		if families[f] || c.IPProtocol == f {
			detail := fmt.Sprintf("%s has no %s address", c.Host(), f)
			if resolveErr != nil {
				detail = fmt.Sprintf("resolving %s: %v", c.Host(), resolveErr)
			}
			out = append(out, familyResult{f, Attempt{Outcome: OutcomeResolve, Detail: detail}})
		}
	}
	results := make(chan familyResult, len(addrs))
	for f, a := range addrs {
		go func() { results <- familyResult{f, t.try(ctx, c, a)} }()
	}
	for range addrs {
		out = append(out, <-results)
	}
	slices.SortFunc(out, func(a, b familyResult) int { return compareKeys(Key{Family: a.family}, Key{Family: b.family}) })
	return out
}

func familyOf(a netip.Addr) string {
	if a.Is4() {
		return "ip4"
	}
	return "ip6"
}

// Once tries every canary of e once, at the same time, and returns what a
// single round says (the probe command, which cannot wait for intervals):
// a failed connect of quorum canaries is a block; a throttle cannot be
// seen. It takes e.Timeout at most.
func Once(ctx context.Context, e *config.Egress, opts Options) Snapshot {
	opts = opts.withDefaults()
	t := attempter{dial: opts.Dial, roots: opts.Roots}
	tracker := NewOneShotTracker(e.Quorum)
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	type canaryResults struct {
		canary  *config.Canary
		results []familyResult
	}
	done := make(chan canaryResults, len(e.Canaries))
	for i := range e.Canaries {
		c := &e.Canaries[i]
		go func() { done <- canaryResults{c, attemptAll(ctx, &t, opts.Resolver, c, map[string]bool{})} }()
	}
	for range e.Canaries {
		cr := <-done
		for _, res := range cr.results {
			tracker.Record(cr.canary.Target, Key{Port: cr.canary.Port(), Family: res.family}, res.attempt)
		}
	}
	return tracker.Snapshot()
}

// Info is the verdict for port and family as a probe result carries it
// (nil when no canary covers them).
func (r *Runner) Info(port int, family string) *prober.EgressInfo {
	v, ok := r.Verdict(port, family)
	if !ok {
		return nil
	}
	return v.Info()
}

// Info is the verdict as a probe result carries it.
func (v Verdict) Info() *prober.EgressInfo {
	return &prober.EgressInfo{Port: v.Port, Family: v.Family, State: string(v.State), Detail: v.Detail()}
}
