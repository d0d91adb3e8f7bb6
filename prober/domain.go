package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// ReasonTargetNotAllowed is a pair of a domain probe whose address the
// allow-list refused: it was not dialed. A single-target probe that is
// refused is no probe at all (the handler answers 403), so only pairs
// report it.
const ReasonTargetNotAllowed Reason = "target_not_allowed"

// PairReasons are the failure reasons of a domain probe's pairs: every
// reason of a single probe, and target_not_allowed.
var PairReasons = append(append([]Reason(nil), Reasons...), ReasonTargetNotAllowed)

// DomainReason is why a domain probe failed. The values are a public
// interface, like Reason.
type DomainReason string

// Failure reasons of a domain probe.
const (
	// DomainResolve: the MX question got no answer (NXDOMAIN, SERVFAIL,
	// timeout, a hostile answer).
	DomainResolve DomainReason = "resolve"
	// DomainNullMX: the domain publishes RFC 7505's "MX 0 .".
	DomainNullMX DomainReason = "null_mx"
	// DomainNoAddress: no probed MX host has an address.
	DomainNoAddress DomainReason = "no_address"
	// DomainAddressFailed: addresses failed, beyond what the success rule allows.
	DomainAddressFailed DomainReason = "address_failed"
)

// DomainReasons lists every domain failure reason, for stable series.
var DomainReasons = []DomainReason{
	DomainResolve, DomainNullMX, DomainNoAddress, DomainAddressFailed,
	DomainMTASTSInvalid, DomainMTASTSViolation,
}

// MaxDomainConcurrency bounds the lookups and conversations of one domain
// probe running at once.
const MaxDomainConcurrency = 16

// DomainResult is everything one probe of a mail domain found out: its MX
// hosts, and one ordinary Result per (MX host, address) pair.
type DomainResult struct {
	Domain   string        `json:"domain"`
	Module   string        `json:"module"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	// Rule is the module's mx.success; Port the port of every address.
	Rule string `json:"success_rule"`
	Port int    `json:"port"`

	Success bool         `json:"success"`
	Failure DomainReason `json:"failure,omitempty"`
	Error   string       `json:"error,omitempty"`
	// Warnings are problems that did not decide the verdict (an AAAA
	// question that failed while A answered, MX hosts left out).
	Warnings []string `json:"warnings,omitempty"`

	// DNSServer is the server asked; MXLookup how long the MX question took,
	// MXSecure whether its answer was DNSSEC-validated (the AD bit).
	DNSServer string        `json:"dns_server"`
	MXLookup  time.Duration `json:"mx_lookup_ns"`
	MXSecure  bool          `json:"mx_secure"`
	// Null: the domain publishes a null MX. Implicit: it has no MX
	// records, and the domain itself is its mail host (RFC 5321 §5.1).
	Null     bool `json:"null_mx"`
	Implicit bool `json:"implicit_mx"`

	// Hosts are every MX host, lowest preference first (ties by name);
	// those beyond mx.max_hosts have Probed false.
	Hosts []MXHost `json:"hosts"`
	// Pairs are the probed (host, address) pairs in the order of Hosts,
	// each host's IPv4 addresses before its IPv6 ones.
	Pairs []*Pair `json:"pairs"`

	// MTASTS is the MTA-STS and TLS-RPT check (nil: the module's mta_sts
	// is off).
	MTASTS *MTASTSResult `json:"mta_sts,omitempty"`
}

// MXHost is one MX record and what its address questions found.
type MXHost struct {
	Name       string `json:"name"`
	Preference uint16 `json:"preference"`
	Probed     bool   `json:"probed"`
	// Addresses are those probed (all, or the first of the preferred family).
	Addresses []string `json:"addresses,omitempty"`
	// Error says why the host has no address.
	Error string `json:"error,omitempty"`
	// Secure: the A and AAAA answers were DNSSEC-validated.
	Secure bool `json:"secure"`
}

// Pair is one address of one MX host and the probe of it. Address is
// empty for a host without addresses (its Result fails with resolve).
type Pair struct {
	MX         string  `json:"mx"`
	Preference uint16  `json:"preference"`
	Address    string  `json:"address"`
	Result     *Result `json:"result"`
	// addrsSecure: whether the MX host's address records were
	// DNSSEC-secure, as the fan-out found them, so that the pair's DANE
	// check asks no more (nil when one of the questions failed: the check
	// asks again, and says bogus if it fails again).
	addrsSecure *bool
}

// Counts returns how many pairs had an address to probe, and how many of
// those succeeded.
func (d *DomainResult) Counts() (addresses, succeeded int) {
	for _, p := range d.Pairs {
		if p.Address == "" {
			continue
		}
		addresses++
		if p.Result.Success {
			succeeded++
		}
	}
	return addresses, succeeded
}

// ProbeDomain probes the mail domain under a module with an mx section:
// it asks for the MX records, then for A and AAAA of each MX host, then
// holds the module's SMTP conversation with every (host, address) pair at
// once (at most MaxDomainConcurrency at a time), all within ctx's deadline
// (or the module's timeout when ctx has none). The MX host is the TLS
// server name. opts.Policy is asked for every address before it is dialed.
func ProbeDomain(ctx context.Context, domain, moduleName string, module *config.Module, logger *slog.Logger, opts Options) *DomainResult {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, module.Timeout)
		defer cancel()
	}
	d := &domainProbe{
		ctx: ctx, module: module, logger: logger, opts: opts,
		sem: make(chan struct{}, MaxDomainConcurrency),
		res: &DomainResult{
			Domain: strings.TrimSuffix(strings.ToLower(domain), "."),
			Module: moduleName,
			Start:  opts.Now(),
			Port:   module.Port,
			Hosts:  []MXHost{},
			Pairs:  []*Pair{},
		},
	}
	if module.MX != nil {
		d.res.Rule = module.MX.Success
	}
	var mtaSTS func() *MTASTSResult
	if module.MTASTS && module.Resolver() != nil {
		mtaSTS = d.startMTASTS(module.Resolver())
	}
	d.run()
	if mtaSTS != nil {
		d.finishMTASTS(mtaSTS())
	}
	d.res.Duration = opts.Now().Sub(d.res.Start)
	r := d.res
	if r.Failure == "" {
		r.Success = true
		logger.Debug("Domain probe succeeded", "duration_seconds", r.Duration.Seconds())
	} else {
		logger.Debug("Domain probe failed", "reason", r.Failure, "err", r.Error, "duration_seconds", r.Duration.Seconds())
	}
	return r
}

type domainProbe struct {
	ctx    context.Context
	module *config.Module
	logger *slog.Logger
	opts   Options
	sem    chan struct{}
	res    *DomainResult
}

func (d *domainProbe) fail(reason DomainReason, err error) {
	d.res.Failure, d.res.Error = reason, err.Error()
}

func (d *domainProbe) run() {
	r := d.res
	if d.module.MX == nil || d.module.Resolver() == nil {
		d.fail(DomainResolve, fmt.Errorf("module %q has no mx section", r.Module))
		return
	}
	res := d.module.Resolver()
	r.DNSServer = res.Server()
	start := d.opts.Now()
	mxs, ans, err := res.LookupMX(d.ctx, r.Domain)
	r.MXLookup = d.opts.Now().Sub(start)
	if ans != nil {
		r.MXSecure = ans.Secure
	}
	switch {
	case resolver.KindOf(err) == resolver.KindNoData:
		// No MX records: the domain is its own mail host (RFC 5321 §5.1).
		r.Implicit = true
		mxs = []resolver.MX{{Host: r.Domain}}
	case err != nil:
		d.fail(DomainResolve, fmt.Errorf("MX lookup: %w", err))
		return
	}

	for _, mx := range mxs {
		if mx.IsNull() {
			r.Null = true
			continue
		}
		r.Hosts = append(r.Hosts, MXHost{Name: mx.Host, Preference: mx.Preference})
	}
	if r.Null {
		msg := "the domain publishes a null MX (RFC 7505): it accepts no mail"
		if len(r.Hosts) > 0 {
			// RFC 7505 §3: a null MX must be the only MX record.
			msg += fmt.Sprintf(", yet also %d other MX record(s), a misconfiguration senders treat in different ways", len(r.Hosts))
		}
		d.fail(DomainNullMX, errors.New(msg))
		return
	}

	probed := min(len(r.Hosts), d.module.MX.MaxHosts)
	if left := r.Hosts[probed:]; len(left) > 0 {
		names := make([]string, len(left))
		for i, h := range left {
			names[i] = h.Name
		}
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d MX host(s) beyond max_hosts (%d) not probed: %s",
			len(left), d.module.MX.MaxHosts, strings.Join(names, ", ")))
	}
	d.lookupAddresses(res, r.Hosts[:probed])
	d.probePairs()
	d.verdict()
}

// lookupAddresses asks for A and AAAA of every probed host at once.
func (d *domainProbe) lookupAddresses(res *resolver.Resolver, hosts []MXHost) {
	addrs := make([]*resolver.Addrs, len(hosts))
	var wg sync.WaitGroup
	for i := range hosts {
		hosts[i].Probed = true
		wg.Go(func() {
			d.sem <- struct{}{}
			defer func() { <-d.sem }()
			addrs[i] = res.LookupAddrs(d.ctx, hosts[i].Name)
		})
	}
	wg.Wait()
	for i := range hosts {
		h, a := &hosts[i], addrs[i]
		h.Secure = a.Secure()
		if err := a.Partial(); err != nil {
			d.res.Warnings = append(d.res.Warnings, fmt.Sprintf("%s: %v", h.Name, err))
		}
		chosen := d.choose(a.Addrs)
		if len(chosen) == 0 {
			err := a.Err()
			if err == nil {
				err = fmt.Errorf("%s has no %s address and ip_protocol_fallback is off", h.Name, d.module.IPProtocol)
			}
			h.Error = err.Error()
			d.res.Pairs = append(d.res.Pairs, &Pair{
				MX: h.Name, Preference: h.Preference,
				Result: d.unprobed(h.Name, netip.Addr{}, ReasonResolve, err),
			})
			continue
		}
		var secure *bool
		if a.Partial() == nil {
			secure = &h.Secure
		}
		for _, ip := range chosen {
			h.Addresses = append(h.Addresses, ip.String())
			d.res.Pairs = append(d.res.Pairs, &Pair{MX: h.Name, Preference: h.Preference, Address: ip.String(), addrsSecure: secure})
		}
	}
}

// choose applies mx.addresses: every address, or the first of the
// preferred family (of the other one when fallback allows).
func (d *domainProbe) choose(addrs []netip.Addr) []netip.Addr {
	if d.module.MX.Addresses == config.MXAddressesAll {
		return addrs
	}
	var other []netip.Addr
	for _, a := range addrs {
		if familyOf(a) == d.module.IPProtocol {
			return []netip.Addr{a}
		}
		if other == nil {
			other = []netip.Addr{a}
		}
	}
	if d.module.IPFallback() {
		return other
	}
	return nil
}

// probePairs holds the conversation with every pair that has an address.
func (d *domainProbe) probePairs() {
	var wg sync.WaitGroup
	for _, p := range d.res.Pairs {
		if p.Address == "" {
			continue
		}
		addr := netip.MustParseAddr(p.Address)
		if err := d.allowed(p.MX, addr); err != nil {
			p.Result = d.unprobed(p.MX, addr, ReasonTargetNotAllowed, err)
			continue
		}
		wg.Go(func() {
			d.sem <- struct{}{}
			defer func() { <-d.sem }()
			opts := d.opts
			opts.Policy = nil // asked above, for this address
			opts.Addr = addr
			opts.AddrsSecure = p.addrsSecure
			logger := d.logger.With("mx", p.MX, "address", p.Address)
			p.Result = Probe(d.ctx, d.target(p.MX), d.res.Module, d.module, logger, opts)
		})
	}
	wg.Wait()
}

func (d *domainProbe) allowed(host string, addr netip.Addr) error {
	if d.opts.Policy == nil {
		return nil
	}
	if err := d.opts.Policy.AllowName(host); err != nil {
		return err
	}
	return d.opts.Policy.AllowAddr(host, addr)
}

func (d *domainProbe) target(host string) Target {
	return Target{Host: host, Port: d.module.Port}
}

// unprobed is the Result of a pair that was never dialed: a host without
// an address, or an address the allow-list refused.
func (d *domainProbe) unprobed(host string, addr netip.Addr, reason Reason, err error) *Result {
	r := &Result{
		Target:         d.target(host).String(),
		Module:         d.res.Module,
		Host:           host,
		Port:           d.module.Port,
		Start:          d.opts.Now(),
		Failure:        reason,
		Error:          err.Error(),
		AuthConfigured: d.module.Auth != nil,
		Transcript:     []TranscriptLine{{From: "*", Text: Sanitize(fmt.Sprintf("not probed: %s: %v", reason, err), maxTranscriptBytes)}},
	}
	if addr.IsValid() {
		r.IP = addr.String()
		r.IPProtocol = 4
		if !addr.Is4() {
			r.IPProtocol = 6
		}
	}
	for _, ph := range Phases {
		r.Phases = append(r.Phases, PhaseResult{Phase: ph})
	}
	return r
}

// verdict applies mx.success to the pairs.
func (d *domainProbe) verdict() {
	r := d.res
	addresses, _ := r.Counts()
	if addresses == 0 {
		var why []string
		for _, h := range r.Hosts {
			if h.Probed && h.Error != "" {
				why = append(why, h.Error)
			}
		}
		d.fail(DomainNoAddress, fmt.Errorf("no MX host has an address: %s", strings.Join(why, "; ")))
		return
	}
	// primary: the pairs of the hosts with the lowest preference.
	lowest := r.Pairs[0].Preference
	var judged, failed []*Pair
	for _, p := range r.Pairs {
		if d.module.MX.Success == config.MXSuccessPrimary && p.Preference != lowest {
			continue
		}
		judged = append(judged, p)
		if !p.Result.Success {
			failed = append(failed, p)
		}
	}
	ok := len(failed) == 0
	if d.module.MX.Success == config.MXSuccessAny {
		ok = len(failed) < len(judged)
	}
	if ok {
		return
	}
	parts := make([]string, 0, len(failed))
	for _, p := range failed {
		where := p.MX
		if p.Address != "" {
			where += " " + p.Address
		}
		parts = append(parts, fmt.Sprintf("%s: %s", where, p.Result.Failure))
	}
	d.fail(DomainAddressFailed, fmt.Errorf("%d of %d addresses failed (success: %s): %s",
		len(failed), len(judged), d.module.MX.Success, strings.Join(parts, "; ")))
}

// CheckDomain says why a target is not a mail domain: it has a port, it is
// an IP address, or it has a character no domain name has.
func CheckDomain(t Target) error {
	if t.Port != 0 {
		return errors.New("give the domain without a port, for example example.com (the module's port applies to every MX host)")
	}
	if _, err := netip.ParseAddr(t.Host); err == nil {
		return fmt.Errorf("%q is an IP address; give a domain, for example example.com, or probe the address with a single-host module", t.Host)
	}
	if strings.Contains(t.Host, "_") {
		return fmt.Errorf("%q is not a domain name (no _ in a mail domain)", t.Host)
	}
	return nil
}
