// Command smtp_exporter probes SMTP ports and mail domains (MX hosts, DANE,
// MTA-STS) on Prometheus' request and reports what happened as metrics.
// main only wires flags, logging, configuration reloads and HTTP routes; the
// work lives in config, prober, maildomain, collector, report and handler.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/smtp-exporter/smtp_exporter/collector"
	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/egress"
	"github.com/smtp-exporter/smtp_exporter/handler"
	"github.com/smtp-exporter/smtp_exporter/history"
	"github.com/smtp-exporter/smtp_exporter/probecli"
)

// builtinConfig is the configuration used when no --config.file is given.
//
//go:embed config.example.yml
var builtinConfig []byte

const exporterName = "smtp_exporter"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	versionFromBuild()
	app := kingpin.New(exporterName, "Probes SMTP ports (25, 465, 587, 2525) and mail domains (MX hosts, DANE, MTA-STS) and exports what it finds for Prometheus.")
	configFile := app.Flag("config.file", "Module configuration file. Without it, the built-in modules (config.example.yml) are used.").String()
	configCheck := app.Flag("config.check", "Validate the configuration and exit: 0 when valid, 1 otherwise.").Bool()
	timeoutOffset := app.Flag("timeout-offset", "Subtracted from Prometheus' scrape timeout so the probe answers in time.").Default("0.5s").Duration()
	historyLimit := app.Flag("history.limit", "How many recent probes the landing page lists, with their transcripts (kept in memory; 0 turns the history off).").Default(strconv.Itoa(history.DefaultLimit)).Int()
	historyMaxBytes := app.Flag("history.max-bytes", "Memory the recent probes of the landing page may take, oldest evicted first (as well as --history.limit), e.g. 8MiB.").Default("8MiB").Bytes()
	maxConcurrent := app.Flag("probe.max-concurrent", "SMTP conversations allowed at once, across all probes: a probe of one target is one, a domain probe one per pair it is talking to. A request that finds none free is answered 503 at once; a domain probe's further pairs wait for one within its deadline. 0: no limit.").Default("500").Int()
	webFlags := webflag.AddFlags(app, ":9667")
	shutdownTimeout := app.Flag("web.shutdown-timeout", "On SIGTERM or SIGINT, how long probes in flight may take to finish before the exporter exits anyway.").Default("10s").Duration()
	logConfig := &promslog.Config{}
	flag.AddFlags(app, logConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	app.Command("serve", "Run the exporter (the default command).").Default()
	probeCmd := app.Command("probe", "Probe one target now with the same modules and config as the server, print what happened and exit: 0 success, 1 failed probe, 2 usage or config error.")
	probeModule := probeCmd.Flag("module", "Module to probe with (default: chosen by the target's port, as /probe does).").String()
	probeTimeout := probeCmd.Flag("timeout", "Probe timeout (default: the module's).").Duration()
	probeOutput := probeCmd.Flag("output", "Output format: text for people, json for scripts.").Default(probecli.OutputText).Enum(probecli.OutputText, probecli.OutputJSON)
	probeEgress := probeCmd.Flag("egress", "Try the config's egress canaries for the target's port once, alongside the probe, and say whether this host may connect out to it at all (--no-egress skips them).").Default("true").Bool()
	probeTarget := probeCmd.Arg("target", "host:port, or host with --module.").Required().String()
	if slices.Contains(args, "probe") {
		// `probe --help` lists what the probe command reads, not the
		// server's flags (they still parse, and are ignored).
		probeReads := []string{"help", "version", "config.file", "log.level", "log.format"}
		for _, f := range app.Model().Flags {
			if !slices.Contains(probeReads, f.Name) {
				app.GetFlag(f.Name).Hidden()
			}
		}
	}
	command, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	if *maxConcurrent < 0 {
		fmt.Fprintf(os.Stderr, "%s: --probe.max-concurrent must be 0 (no limit) or more, got %d\n", exporterName, *maxConcurrent)
		return 2
	}
	logger := promslog.New(logConfig)
	if command == probeCmd.FullCommand() {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		cmd := &probecli.Command{
			ConfigFile: *configFile, Builtin: builtinConfig,
			Module: *probeModule, Timeout: *probeTimeout, Output: *probeOutput, Target: *probeTarget,
			NoEgress: !*probeEgress,
			Color:    *probeOutput == probecli.OutputText && probecli.UseColor(os.Stdout),
			Stdout:   os.Stdout, Stderr: os.Stderr, Logger: logger,
		}
		return cmd.Run(ctx)
	}
	if *historyLimit < 0 {
		fmt.Fprintf(os.Stderr, "%s: --history.limit must be 0 or more\n", exporterName)
		return 2
	}
	if *historyMaxBytes < 0 {
		fmt.Fprintf(os.Stderr, "%s: --history.max-bytes must be 0 or more\n", exporterName)
		return 2
	}
	if *shutdownTimeout < 0 {
		fmt.Fprintf(os.Stderr, "%s: --web.shutdown-timeout must be 0 or more, got %s\n", exporterName, *shutdownTimeout)
		return 2
	}

	sc := config.NewSafeConfig(*configFile, builtinConfig, prometheus.DefaultRegisterer)
	if err := sc.Reload(); err != nil {
		if *configCheck {
			// Every error on a line of its own, each naming module and field.
			fmt.Fprintf(os.Stderr, "%s: invalid configuration:\n%s\n", exporterName, err)
			return 1
		}
		logger.Error("Invalid configuration", "err", err)
		return 1
	}
	if *configCheck {
		logger.Info("Config is valid", "config", sc.Source(), "modules", len(sc.Get().Modules))
		logConfigWarnings(sc.Get(), logger)
		return 0
	}
	logger.Info("Starting smtp_exporter", "version", version.Info(), "build_context", version.BuildContext())
	logger.Info("Loaded config", "config", sc.Source(), "modules", sc.Get().ModuleNames())
	logConfigWarnings(sc.Get(), logger)
	prometheus.MustRegister(versioncollector.NewCollector("smtp_exporter"))

	// The egress canaries run on their own, whatever the scrapes, and are
	// replaced by each reload that changes them.
	canaries := egress.NewRunner(egress.Options{Logger: logger.With("component", "egress")})
	canaries.Apply(sc.Get().Egress)
	defer canaries.Stop()
	prometheus.MustRegister(collector.NewEgress(canaries.Snapshot))

	reloads := make(chan chan error)
	go reloadLoop(sc, reloads, logger, func(cfg *config.Config) { canaries.Apply(cfg.Egress) })
	// Rotated password, CA and client certificate files are put into use
	// without a reload; the goroutine lives as long as the process.
	go sc.WatchFiles(context.Background(), config.FileCheckInterval, logger)

	recent := history.NewBounded(*historyLimit, int64(*historyMaxBytes))
	probe := &handler.ProbeHandler{
		Config:        sc,
		Logger:        logger,
		Metrics:       handler.NewMetrics(prometheus.DefaultRegisterer),
		TimeoutOffset: *timeoutOffset,
		OnResult:      recent.Add,
		Limit:         handler.NewLimiter(*maxConcurrent, prometheus.DefaultRegisterer),
		Egress:        canaries.Info,
	}
	mux := http.NewServeMux()
	mux.Handle("/probe", probe)
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/-/healthy", handler.Healthy)
	mux.Handle("/-/reload", handler.RefuseCrossSite(handler.Reload(func() error {
		done := make(chan error)
		reloads <- done
		return <-done
	})))
	mux.HandleFunc("/config", handler.ShowConfig(sc))
	pages, err := history.NewPages(recent, func() []string { return sc.Get().ModuleNames() }, landingConfig())
	if err != nil {
		logger.Error("Building the landing page", "err", err)
		return 1
	}
	pages.Warnings = func() []string { return sc.Get().Warnings() }
	mux.Handle("/", pages.Landing())
	mux.Handle("/history/", pages.Report())

	server := newHTTPServer(mux, defaultServerLimits, func() *config.Config { return sc.Get() })
	stopping, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(server, webFlags, logger) }()
	select {
	case err := <-served:
		// It never started (the port is taken, a bad web config).
		logger.Error("HTTP server stopped", "err", err)
		return 1
	case <-stopping.Done():
	}
	stop() // a second signal ends the process at once
	return shutdown(server, served, *shutdownTimeout, logger)
}

// shutdown stops accepting connections and lets the probes in flight
// finish, for timeout at most: a probe cut off then is a failed scrape,
// which a restart would have caused anyway. Closing idle keep-alive
// connections tells Prometheus to reconnect (to the next instance).
func shutdown(server *http.Server, served <-chan error, timeout time.Duration, logger *slog.Logger) int {
	logger.Info("Shutting down: no new connections; waiting for the probes in flight", "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		// Closing the connections cancels the probes' contexts.
		server.Close()
		logger.Warn("Shut down: probes still running at the timeout were cut off", "timeout", timeout, "err", err)
	} else {
		logger.Info("Shut down: every probe in flight was answered")
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("HTTP server stopped", "err", err)
	}
	return 0
}

// reloadLoop reloads the configuration on SIGHUP and on /-/reload, one at a
// time; a failed reload keeps the running configuration. reloaded is handed
// each configuration put into use.
func reloadLoop(sc *config.SafeConfig, requests chan chan error, logger *slog.Logger, reloaded func(*config.Config)) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	for {
		var reply chan error
		select {
		case <-hup:
		case reply = <-requests:
		}
		err := sc.Reload()
		if err != nil {
			logger.Error("Config reload failed; keeping the previous config", "err", err)
		} else {
			logger.Info("Reloaded config", "config", sc.Source(), "modules", sc.Get().ModuleNames())
			logConfigWarnings(sc.Get(), logger)
			reloaded(sc.Get())
		}
		if reply != nil {
			reply <- err
		}
	}
}

// logConfigWarnings logs what a valid config should still tell its
// operator (a DANE module trusting a resolver off this machine).
func logConfigWarnings(cfg *config.Config, logger *slog.Logger) {
	for _, w := range cfg.Warnings() {
		logger.Warn("Config warning", "warning", w)
	}
}

func landingConfig() web.LandingConfig {
	return web.LandingConfig{
		Name:        "SMTP Exporter",
		Description: "Probes SMTP ports (25, 465, 587, 2525) and mail domains: reachability, STARTTLS, TLS, certificates, AUTH and timings of a port; the MX hosts, DANE, MTA-STS and TLS-RPT of a domain",
		Version:     version.Info(),
		Profiling:   "false", // no /debug/pprof route to link to
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics", Description: "the exporter's own metrics"},
			{Address: "/config", Text: "Config", Description: "the running modules, secrets hidden"},
			{Address: "/-/healthy", Text: "Health"},
		},
	}
}
