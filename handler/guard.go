package handler

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/slots"
)

// maxQueryBytes bounds a /probe query string: a 270-byte target, a module
// name and debug, percent-encoded, fit with room to spare.
const maxQueryBytes = 2048

// RefusedConcurrencyLimit labels probes refused because --probe.max-concurrent
// were already running; the other reasons come from config.
const RefusedConcurrencyLimit = "concurrency_limit"

func newRefusedCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smtp_exporter_probes_refused_total",
		Help: "Probe requests refused without probing, by reason: target_not_allowed and private_address (allowed_targets, HTTP 403), concurrency_limit (--probe.max-concurrent, HTTP 503), cross_site (sent by a browser for a page of another site, HTTP 403).",
	}, []string{"reason"})
	for _, reason := range []string{config.RefusedNotAllowed, config.RefusedPrivateAddress, RefusedConcurrencyLimit, RefusedCrossSite} {
		c.WithLabelValues(reason)
	}
	return c
}

// Limiter is --probe.max-concurrent: the SMTP conversations in flight
// across all requests (see package slots). A request takes its first slot
// before anything else and is refused at once (503) when none is free:
// a queued probe would only start after Prometheus' scrape timeout had
// eaten into its time. A domain probe takes one more slot for each
// conversation it holds beside its first (prober.Options.Slots).
type Limiter struct {
	pool *slots.Pool
}

// NewLimiter returns a limiter for limit conversations at once (0: no
// bound) and registers smtp_exporter_probes_max_concurrent and
// smtp_exporter_conversations_in_flight with reg.
func NewLimiter(limit int, reg prometheus.Registerer) *Limiter {
	l := &Limiter{pool: slots.New(limit)}
	if reg != nil {
		g := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtp_exporter_probes_max_concurrent",
			Help: "The limit on SMTP conversations at once, across all probes (--probe.max-concurrent; 0 means none).",
		})
		g.Set(float64(limit))
		reg.MustRegister(g, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smtp_exporter_conversations_in_flight",
			Help: "SMTP conversations held right now, across all probes (a domain probe holds one per pair it is talking to); 0 when --probe.max-concurrent is 0.",
		}, func() float64 { return float64(l.pool.InUse()) }))
	}
	return l
}

// TryAcquire takes a request's first slot if one is free; a nil limiter
// always has one.
func (l *Limiter) TryAcquire() bool { return l.Slots().TryAcquire() }

// Release frees the slot TryAcquire took.
func (l *Limiter) Release() { l.Slots().Release() }

// Slots is the pool behind the limiter, which a domain probe takes its
// further slots from (nil for a nil limiter: no bound).
func (l *Limiter) Slots() *slots.Pool {
	if l == nil {
		return nil
	}
	return l.pool
}

func (h *ProbeHandler) tooMany(w http.ResponseWriter, logger *slog.Logger) {
	h.Metrics.refused.WithLabelValues(RefusedConcurrencyLimit).Inc()
	limit := h.Limit.Slots().Limit()
	logger.Debug("Probe refused: too many conversations in flight", "max_concurrent", limit)
	http.Error(w, fmt.Sprintf("too many probes running: the limit of %d SMTP conversations (--probe.max-concurrent) is reached; try again later", limit),
		http.StatusServiceUnavailable)
}

// forbid answers a target the allow-list refused. It is not a probe result:
// nothing was probed, so there are no probe metrics to return.
func (h *ProbeHandler) forbid(w http.ResponseWriter, err error, logger *slog.Logger) {
	reason := config.RefusedNotAllowed
	if refused, ok := errors.AsType[*config.RefusedError](err); ok {
		reason = refused.Reason
	}
	h.Metrics.refused.WithLabelValues(reason).Inc()
	logger.Debug("Probe refused by allowed_targets", "reason", reason, "err", err)
	http.Error(w, err.Error(), http.StatusForbidden)
}

// parseQuery parses a /probe query string strictly: url.Values from
// r.URL.Query() silently drops malformed pairs, which would turn
// "target=%zz" into a misleading "target is missing".
func parseQuery(raw string) (url.Values, error) {
	if len(raw) > maxQueryBytes {
		return nil, fmt.Errorf("query string is %d bytes long; /probe takes at most %d", len(raw), maxQueryBytes)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("malformed query string: %w", err)
	}
	return q, nil
}
