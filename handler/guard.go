package handler

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/config"
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
		Help: "Probe requests refused without probing, by reason: target_not_allowed and private_address (allowed_targets, HTTP 403), concurrency_limit (--probe.max-concurrent, HTTP 503).",
	}, []string{"reason"})
	for _, reason := range []string{config.RefusedNotAllowed, config.RefusedPrivateAddress, RefusedConcurrencyLimit} {
		c.WithLabelValues(reason)
	}
	return c
}

// Limiter bounds the number of probes running at once. Beyond the bound a
// request is refused at once rather than queued: a queued probe would only
// start after Prometheus' scrape timeout had eaten into its time.
type Limiter struct {
	max     int64
	running atomic.Int64
}

// NewLimiter returns a limiter for limit concurrent probes (0: no bound) and
// registers smtp_exporter_probes_max_concurrent with reg.
func NewLimiter(limit int, reg prometheus.Registerer) *Limiter {
	if reg != nil {
		g := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtp_exporter_probes_max_concurrent",
			Help: "The limit on probes running at once (--probe.max-concurrent; 0 means none).",
		})
		g.Set(float64(limit))
		reg.MustRegister(g)
	}
	return &Limiter{max: int64(limit)}
}

// TryAcquire takes a slot if one is free; a nil limiter always has one.
func (l *Limiter) TryAcquire() bool {
	if l == nil || l.max <= 0 {
		return true
	}
	if l.running.Add(1) > l.max {
		l.running.Add(-1)
		return false
	}
	return true
}

// Release frees the slot TryAcquire took.
func (l *Limiter) Release() {
	if l == nil || l.max <= 0 {
		return
	}
	l.running.Add(-1)
}

func (h *ProbeHandler) tooMany(w http.ResponseWriter, logger *slog.Logger) {
	h.Metrics.refused.WithLabelValues(RefusedConcurrencyLimit).Inc()
	logger.Debug("Probe refused: too many probes running", "max_concurrent", h.Limit.max)
	http.Error(w, fmt.Sprintf("too many probes running: the limit of %d (--probe.max-concurrent) is reached; try again later", h.Limit.max),
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
