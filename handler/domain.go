package handler

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/smtp-exporter/smtp_exporter/collector"
	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/report"
)

// DomainProber runs one domain probe; tests replace it.
type DomainProber func(ctx context.Context, domain, moduleName string, module *config.Module, logger *slog.Logger, opts prober.Options) *maildomain.Result

// parseDomain is the target's mail domain, for a module with an mx
// section, or why it is none: the 400 tells what to give instead.
func parseDomain(target prober.Target, moduleName string) (string, error) {
	domain, err := maildomain.ParseName(target)
	if err != nil {
		return "", fmt.Errorf("module %q probes mail domains: %s", trim(moduleName), prober.Sanitize(err.Error(), 2*maxParamLength))
	}
	return domain, nil
}

// serveDomain runs a domain probe and writes its metrics or its report.
func (h *ProbeHandler) serveDomain(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request) {
	ctx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	opts := h.Options
	if req.allowList != nil {
		opts.AllowList = req.allowList
	}
	logger := h.Logger.With("target", req.domain, "module", req.moduleName)
	probe := h.DomainProber
	if probe == nil {
		probe = maildomain.Probe
	}
	h.Metrics.inFlight.Inc()
	result := probe(ctx, req.domain, req.moduleName, req.module, logger, opts)
	h.Metrics.inFlight.Dec()
	outcome := "failure"
	if result.Success {
		outcome = "success"
	}
	h.Metrics.probes.WithLabelValues(req.moduleName, outcome).Inc()
	h.Metrics.duration.WithLabelValues(req.moduleName).Observe(result.Duration.Seconds())
	if h.OnDomainResult != nil {
		h.OnDomainResult(result)
	}
	if req.debug {
		var buf bytes.Buffer
		report.WriteDomain(&buf, result, report.Options{Now: time.Now()})
		buf.WriteString("\nMetrics that would have been returned:\n")
		_ = collector.WriteDomainText(&buf, result) // a bytes.Buffer takes every write
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
		return
	}
	if format := expfmt.NegotiateAccept(r.Header, acceptedFormats...); format.FormatType() == expfmt.TypeTextPlain {
		w.Header().Set("Content-Type", string(format))
		if err := collector.WriteDomainText(w, result); err != nil {
			logger.Debug("Writing the probe's metrics failed", "err", err)
		}
		return
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collector.NewDomain(result))
	promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorLog:           slog.NewLogLogger(logger.Handler(), slog.LevelError),
		DisableCompression: true,
	}).ServeHTTP(w, r)
}
