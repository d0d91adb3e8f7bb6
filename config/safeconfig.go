package config

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SafeConfig holds the live configuration and swaps it atomically on reload.
// A failed reload keeps the old configuration.
type SafeConfig struct {
	mu  sync.RWMutex
	cfg *Config

	// Where the config comes from: a file, or the built-in document.
	path     string
	fallback []byte

	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
	reloadsTotal    *prometheus.CounterVec
}

// NewSafeConfig returns a holder that loads path, or the built-in document
// when path is empty. Its reload metrics are registered with reg.
func NewSafeConfig(path string, builtin []byte, reg prometheus.Registerer) *SafeConfig {
	sc := &SafeConfig{
		path:     path,
		fallback: builtin,
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtp_exporter_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful (1) or not (0).",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtp_exporter_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload, in seconds since the Unix epoch.",
		}),
		reloadsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smtp_exporter_config_reloads_total",
			Help: "Configuration reload attempts, by result (success or failure).",
		}, []string{"result"}),
	}
	sc.reloadsTotal.WithLabelValues("success")
	sc.reloadsTotal.WithLabelValues("failure")
	if reg != nil {
		reg.MustRegister(sc.reloadSuccess, sc.reloadTimestamp, sc.reloadsTotal)
	}
	return sc
}

// Source names where the configuration is read from, for logs.
func (sc *SafeConfig) Source() string {
	if sc.path == "" {
		return "built-in config.example.yml"
	}
	return sc.path
}

// Reload reads the configuration again. On error the running configuration
// stays in place and the error says why.
func (sc *SafeConfig) Reload() error {
	var (
		cfg *Config
		err error
	)
	if sc.path == "" {
		cfg, err = Parse(sc.fallback)
	} else {
		cfg, err = Load(sc.path)
	}
	if err != nil {
		sc.reloadSuccess.Set(0)
		sc.reloadsTotal.WithLabelValues("failure").Inc()
		return fmt.Errorf("loading %s: %w", sc.Source(), err)
	}
	sc.mu.Lock()
	sc.cfg = cfg
	sc.mu.Unlock()
	sc.reloadSuccess.Set(1)
	sc.reloadTimestamp.Set(float64(time.Now().Unix()))
	sc.reloadsTotal.WithLabelValues("success").Inc()
	return nil
}

// Get returns the current configuration. Callers must not modify it.
func (sc *SafeConfig) Get() *Config {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	return sc.cfg
}

// FileCheckInterval is how often WatchFiles looks for rotated files: often
// enough that a rotated password is in use within seconds, never per probe.
const FileCheckInterval = 5 * time.Second

// WatchFiles re-reads the running configuration's password, CA, client
// certificate and key files every interval until ctx ends, putting changed
// ones into use without a reload (see Config.RefreshFiles).
func (sc *SafeConfig) WatchFiles(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if cfg := sc.Get(); cfg != nil {
				cfg.RefreshFiles(logger)
			}
		}
	}
}
