// Package probecli is the `smtp_exporter probe` command: one probe of an
// SMTP port or of a mail domain from the terminal, with the same modules and
// config as the server, reported as text for people or JSON for scripts. main only parses the flags into a Command.
package probecli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/egress"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/report"
)

// Exit statuses of the command, for scripts.
const (
	ExitSuccess = 0 // the probe succeeded
	ExitFailed  = 1 // the probe ran and failed
	ExitUsage   = 2 // bad arguments or config: no probe ran
)

// Output formats.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// Command is one run of `smtp_exporter probe`.
type Command struct {
	// ConfigFile is the module config; empty means Builtin.
	ConfigFile string
	Builtin    []byte
	// Module is the module's name; empty: chosen by the target's port.
	Module string
	// Timeout overrides the module's timeout when positive.
	Timeout time.Duration
	Output  string
	Target  string
	// Color paints the text report; main sets it for a terminal only.
	Color  bool
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
	// Options are the prober's; tests set the resolver and clock.
	Options prober.Options
	// NoEgress skips the config's egress canaries; EgressOptions are the
	// canaries' (tests dial from a network namespace).
	NoEgress      bool
	EgressOptions egress.Options
}

// Run probes once, writes the report and returns the exit status.
func (c *Command) Run(ctx context.Context) int {
	cfg, source, err := c.loadConfig()
	if err != nil {
		return c.usageError(err)
	}
	target, err := prober.ParseTarget(c.Target)
	if err != nil {
		return c.usageError(err)
	}
	choice, err := cfg.ChooseModule(config.ModuleRequest{
		Target: c.Target, Port: target.Port, Module: c.Module, ModuleFlag: "--module NAME",
	})
	if err != nil {
		return c.usageError(err)
	}
	var domain string
	if choice.Module.IsDomain() {
		// Before the module's port is added: a domain has none of its own.
		if domain, err = maildomain.ParseName(target); err != nil {
			return c.usageError(fmt.Errorf("module %q probes mail domains: %w", choice.Name, err))
		}
	}
	target.Port = choice.Port
	name, module := choice.Name, choice.Module
	c.sayConfig(name, source)
	if c.Timeout < 0 {
		return c.usageError(fmt.Errorf("--timeout %s is negative: give a duration such as 10s, or none for the module's timeout", c.Timeout))
	}
	if c.Output != OutputText && c.Output != OutputJSON {
		return c.usageError(fmt.Errorf("--output %q: give text or json", c.Output))
	}

	timeout := module.Timeout
	if c.Timeout > 0 {
		timeout = c.Timeout
	}
	// The canaries have their own timeout, not the probe's.
	egressState := c.egressCheck(ctx, cfg, target.Port)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, w := range module.Warnings() {
		logger.Warn("Config warning", "module", name, "warning", w)
	}
	opts := c.Options
	if cfg.AllowedTargets != nil && opts.AllowList == nil {
		// The command obeys the config's allowed_targets as /probe does:
		// whoever may run it with the exporter's config (and credentials)
		// gets no more reach than a caller of /probe.
		opts.AllowList = cfg.AllowedTargets
	}
	var outcome prober.Outcome
	if module.IsDomain() {
		if opts.AllowList != nil {
			// As /probe: the domain meets the allow-list before any lookup.
			if err := opts.AllowList.AllowName(domain); err != nil {
				return c.usageError(err)
			}
		}
		outcome = maildomain.Probe(ctx, domain, name, module, logger.With("target", domain, "module", name), opts)
	} else {
		outcome = prober.Probe(ctx, target, name, module, logger.With("target", target.String(), "module", name), opts)
	}
	s := outcome.Summary()
	if s.Refused != nil {
		return c.usageError(s.Refused)
	}
	for _, r := range outcome.Conversations() {
		r.Egress = egressState(r.Family(module.IPProtocol))
	}

	if c.Output == OutputJSON {
		if err := report.WriteJSON(c.Stdout, outcome); err != nil {
			fmt.Fprintf(c.Stderr, "smtp_exporter probe: writing JSON: %v\n", err)
		}
	} else {
		report.Write(c.Stdout, outcome, report.Options{Now: c.now(), Color: c.Color})
	}
	if !s.Success {
		return ExitFailed
	}
	return ExitSuccess
}

// loadConfig loads the config as the server does, without its metrics,
// and says where it came from.
func (c *Command) loadConfig() (*config.Config, string, error) {
	sc := config.NewSafeConfig(c.ConfigFile, c.Builtin, nil)
	if err := sc.Reload(); err != nil {
		return nil, "", err
	}
	return sc.Get(), sc.Source(), nil
}

// sayConfig names the config the module came from, on stderr (stdout stays
// the report, or JSON for scripts): a probe with the built-in modules can
// judge otherwise than the exporter with its own config.
func (c *Command) sayConfig(module, source string) {
	if c.ConfigFile == "" {
		fmt.Fprintf(c.Stderr, "smtp_exporter probe: module %s of the %s (no --config.file: the exporter's own config may differ)\n", module, source)
		return
	}
	fmt.Fprintf(c.Stderr, "smtp_exporter probe: module %s of %s\n", module, source)
}

func (c *Command) usageError(err error) int {
	fmt.Fprintf(c.Stderr, "smtp_exporter probe: %v\n", err)
	return ExitUsage
}

func (c *Command) now() time.Time {
	if c.Options.Now != nil {
		return c.Options.Now()
	}
	return time.Now()
}

// UseColor says whether output to f should be coloured: only on a terminal,
// and not when the user asked for none (https://no-color.org).
func UseColor(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}
