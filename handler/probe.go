// Package handler owns the exporter's HTTP surface: /probe and its query
// validation, the exporter's own probe metrics, /config, /-/reload and
// /-/healthy. It wires the prober, maildomain, collector and report
// packages together.
package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
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

// maxParamLength bounds module and debug query values.
const maxParamLength = 128

// acceptedFormats are the formats /probe negotiates: OpenMetrics is not
// among them, so Prometheus' usual Accept header gets the text format.
var acceptedFormats = expfmt.DefaultAcceptedFormats()

// Metrics are the exporter's own metrics about the probes it runs.
type Metrics struct {
	probes   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	refused  *prometheus.CounterVec
}

// NewMetrics creates and registers the probe metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smtp_exporter_probes_total",
			Help: "Probes run, by module and result (success or failure).",
		}, []string{"module", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smtp_exporter_probe_duration_seconds",
			Help:    "How long probes took, by module, in seconds.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"module"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtp_exporter_probes_in_flight",
			Help: "Probes running right now.",
		}),
		refused: newRefusedCounter(),
	}
	if reg != nil {
		reg.MustRegister(m.probes, m.duration, m.inFlight, m.refused)
	}
	return m
}

// Prober runs one probe of a single target; tests replace it.
type Prober func(ctx context.Context, target prober.Target, moduleName string, module *config.Module, logger *slog.Logger, opts prober.Options) *prober.Result

// DomainProber runs one probe of a mail domain; tests replace it.
type DomainProber func(ctx context.Context, domain, moduleName string, module *config.Module, logger *slog.Logger, opts prober.Options) *maildomain.Result

// ProbeHandler serves /probe: it parses the request, runs the probe of a
// single target or of a mail domain, and writes its metrics or its report.
type ProbeHandler struct {
	Config        *config.SafeConfig
	Logger        *slog.Logger
	Metrics       *Metrics
	TimeoutOffset time.Duration
	// Prober defaults to prober.Probe, DomainProber to maildomain.Probe.
	Prober       Prober
	DomainProber DomainProber
	// Options are handed to every probe (tests set a Resolver); the
	// allow-list is added from the config.
	Options prober.Options
	// Limit bounds the probes running at once (nil: no bound).
	Limit *Limiter
	// OnResult, when set, is handed every finished probe, of either kind
	// (for the history page).
	OnResult func(prober.Outcome)
	// Egress, when set, adds the egress canaries' state to every result.
	Egress EgressState
}

// request is a validated /probe request.
type request struct {
	target     prober.Target // with the port to dial
	domain     string        // the mail domain, for a module with an mx section
	moduleName string
	module     *config.Module
	debug      bool
	timeout    time.Duration
	allowList  prober.AllowList
	logger     *slog.Logger
}

// ServeHTTP answers /probe in three steps, as snmp_exporter's handler does:
// parse and validate the request (400 on any mistake), run the probe, write
// its metrics (or the debug report).
func (h *ProbeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The browser's word and the limit come before anything else, so that a
	// flood costs no more than a header lookup and an atomic add each.
	if err := crossSite(r, true); err != nil {
		h.Metrics.refused.WithLabelValues(RefusedCrossSite).Inc()
		h.Logger.Debug("Probe refused: sent by a page of another site", "origin", trim(r.Header.Get("Origin")), "sec_fetch_site", trim(r.Header.Get("Sec-Fetch-Site")))
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if !h.Limit.TryAcquire() {
		h.tooMany(w, h.Logger)
		return
	}
	defer h.Limit.Release()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "/probe answers GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	req, err := h.parse(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.module.IsDomain() && req.allowList != nil {
		// The domain meets the allow-list before any lookup, as a single
		// target's name does: a name no pattern allows costs no question.
		if err := req.allowList.AllowName(req.domain); err != nil {
			h.forbid(w, err, req.logger)
			return
		}
	}
	outcome := h.run(r.Context(), req)
	if err := outcome.Summary().Refused; err != nil {
		h.forbid(w, err, req.logger)
		return
	}
	h.write(w, r, req, outcome)
}

// parse validates the query and the scrape timeout header against the
// current config; its errors are the text of a 400.
func (h *ProbeHandler) parse(r *http.Request) (*request, error) {
	cfg := h.Config.Get()
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	req, err := parseRequest(query, cfg)
	if err != nil {
		return nil, err
	}
	req.timeout, err = probeTimeout(r.Header, req.module.Timeout, h.TimeoutOffset)
	if err != nil {
		return nil, err
	}
	if cfg.AllowedTargets != nil {
		req.allowList = cfg.AllowedTargets
	}
	target := req.target.String()
	if req.module.IsDomain() {
		target = req.domain
	}
	req.logger = h.Logger.With("target", target, "module", req.moduleName)
	return req, nil
}

// run probes a single target or a mail domain, by the module, and counts
// the probe in the exporter's own metrics. A target the allow-list refused
// is not a probe and is not counted.
func (h *ProbeHandler) run(ctx context.Context, req *request) prober.Outcome {
	ctx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	opts := h.Options
	if req.allowList != nil {
		opts.AllowList = req.allowList
	}

	h.Metrics.inFlight.Inc()
	var outcome prober.Outcome
	if req.module.IsDomain() {
		probe := h.DomainProber
		if probe == nil {
			probe = maildomain.Probe
		}
		// The request holds one conversation slot (ServeHTTP took it);
		// the fan-out takes one more for each further conversation.
		opts.Slots = h.Limit.Slots()
		outcome = probe(ctx, req.domain, req.moduleName, req.module, req.logger, opts)
	} else {
		probe := h.Prober
		if probe == nil {
			probe = prober.Probe
		}
		outcome = probe(ctx, req.target, req.moduleName, req.module, req.logger, opts)
	}
	h.Metrics.inFlight.Dec()
	s := outcome.Summary()
	if s.Refused != nil {
		return outcome
	}
	h.addEgress(outcome, req.module)
	result := "failure"
	if s.Success {
		result = "success"
	}
	h.Metrics.probes.WithLabelValues(req.moduleName, result).Inc()
	h.Metrics.duration.WithLabelValues(req.moduleName).Observe(s.Duration.Seconds())
	if h.OnResult != nil {
		h.OnResult(outcome)
	}
	return outcome
}

// write answers with the probe's metrics, or with the report and the
// metrics as text for debug=true.
func (h *ProbeHandler) write(w http.ResponseWriter, r *http.Request, req *request, outcome prober.Outcome) {
	if req.debug {
		writeDebug(w, outcome, req.logger)
		return
	}
	// The text format, Prometheus' default, is written straight from the
	// result: a registry per probe cost a plain probe more CPU than its
	// SMTP conversation (docs/performance.md). Other formats (protobuf)
	// go through a registry.
	if format := expfmt.NegotiateAccept(r.Header, acceptedFormats...); format.FormatType() == expfmt.TypeTextPlain {
		w.Header().Set("Content-Type", string(format))
		if err := collector.WriteText(w, outcome); err != nil {
			req.logger.Debug("Writing the probe's metrics failed", "err", err)
		}
		return
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collector.New(outcome))
	promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(req.logger.Handler(), slog.LevelError),
		// A probe's answer is a few kilobytes, once per scrape: gzip took
		// a quarter of a plain probe's CPU time for it (docs/performance.md).
		DisableCompression: true,
	}).ServeHTTP(w, r)
}

// parseRequest validates the query string; its errors are the text of a 400.
func parseRequest(q url.Values, cfg *config.Config) (*request, error) {
	for key := range q {
		switch key {
		case "target", "module", "debug":
		default:
			return nil, fmt.Errorf("unknown parameter %q: /probe takes target, module and debug", trim(key))
		}
	}
	single := func(name string) (string, error) {
		vs := q[name]
		switch {
		case len(vs) > 1:
			return "", fmt.Errorf("parameter %q is given %d times; give it once", name, len(vs))
		case len(vs) == 0:
			return "", nil
		}
		return vs[0], nil
	}
	targetStr, err := single("target")
	if err != nil {
		return nil, err
	}
	if targetStr == "" {
		return nil, errors.New("target parameter is missing: use /probe?target=host:port, for example /probe?target=mx.example.com:25")
	}
	target, err := prober.ParseTarget(targetStr)
	if err != nil {
		return nil, err
	}
	req := &request{}

	debugStr, err := single("debug")
	if err != nil {
		return nil, err
	}
	switch debugStr {
	case "", "false":
	case "true":
		req.debug = true
	default:
		return nil, fmt.Errorf("debug parameter %q is not true or false", trim(debugStr))
	}

	moduleName, err := single("module")
	if err != nil {
		return nil, err
	}
	choice, err := cfg.ChooseModule(config.ModuleRequest{
		Target: targetStr, Port: target.Port, Module: moduleName,
		ModuleFlag: "module=NAME", Quote: trim,
	})
	if err != nil {
		return nil, err
	}
	if choice.Module.IsDomain() {
		// Before the module's port is added: a domain has none of its own.
		if req.domain, err = parseDomain(target, choice.Name); err != nil {
			return nil, err
		}
	}
	target.Port = choice.Port
	req.target, req.moduleName, req.module = target, choice.Name, choice.Module
	return req, nil
}

// parseDomain is the target's mail domain, for a module with an mx
// section, or why it is none: the 400 tells what to give instead.
func parseDomain(target prober.Target, moduleName string) (string, error) {
	domain, err := maildomain.ParseName(target)
	if err != nil {
		return "", fmt.Errorf("module %q probes mail domains: %s", trim(moduleName), prober.Sanitize(err.Error(), 2*maxParamLength))
	}
	return domain, nil
}

// probeTimeout is the module's timeout, shortened to fit Prometheus' scrape
// timeout minus offset so that the answer arrives before Prometheus gives up.
func probeTimeout(h http.Header, moduleTimeout, offset time.Duration) (time.Duration, error) {
	v := h.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return moduleTimeout, nil
	}
	seconds, err := strconv.ParseFloat(v, 64)
	if errors.Is(err, strconv.ErrRange) {
		err = nil // too big or too small for a float64 is still a number, handled below
	}
	if err != nil || math.IsNaN(seconds) {
		return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds header %q is not a number", trim(v))
	}
	if seconds <= 0 || seconds > 1e6 {
		// Nonsense from a proxy: the module's own timeout still bounds the probe.
		return moduleTimeout, nil
	}
	scrape := time.Duration(seconds * float64(time.Second))
	if scrape > offset {
		scrape -= offset
	}
	return min(scrape, moduleTimeout), nil
}

func writeDebug(w http.ResponseWriter, outcome prober.Outcome, logger *slog.Logger) {
	var buf bytes.Buffer
	report.Write(&buf, outcome, report.Options{Now: time.Now()})
	buf.WriteString("\nMetrics that would have been returned:\n")
	_ = collector.WriteText(&buf, outcome) // a bytes.Buffer takes every write
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := w.Write(buf.Bytes()); err != nil {
		logger.Debug("Writing the debug output failed", "err", err)
	}
}

// trim shortens user input quoted in an error message.
func trim(s string) string {
	return prober.Sanitize(s, maxParamLength)
}
