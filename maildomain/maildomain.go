// Package maildomain probes a mail domain as a sending MTA meets it: the
// MX records, the A and AAAA records of each MX host, one SMTP conversation
// (prober.Probe) with every (MX host, address) pair at once, MTA-STS and
// TLS-RPT, and one verdict by the module's mx.success rule. It owns the
// fan-out and the verdict; the conversations are package prober's. Like
// prober, it knows nothing of Prometheus.
package maildomain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// ReasonTargetNotAllowed is a pair of a domain probe whose address the
// allow-list refused: it was not dialed. A single-target probe that is
// refused is no probe at all (the handler answers 403), so only pairs
// report it.
const ReasonTargetNotAllowed prober.Reason = "target_not_allowed"

// Failure reasons of a pair whose MX host has no address because its
// lookup failed in a way resolver.Diagnose tells apart (otherwise the pair
// fails with prober.ReasonResolve).
const (
	// ReasonPairDNSSECBogus: the MX host's address records fail DNSSEC
	// validation; validating senders skip the host.
	ReasonPairDNSSECBogus prober.Reason = "dnssec_bogus"
	// ReasonPairNXDomain: the MX host does not exist.
	ReasonPairNXDomain prober.Reason = "nxdomain"
	// ReasonPairResolverFailed: the exporter's own resolver failed the
	// question (it fails a known-good name too).
	ReasonPairResolverFailed prober.Reason = "resolver_failed"
)

// PairReasons are the failure reasons of a domain probe's pairs: every
// reason of a single probe, target_not_allowed, and the DNS failures of
// the MX host's address lookup.
var PairReasons = append(append([]prober.Reason(nil), prober.Reasons...), ReasonTargetNotAllowed,
	ReasonPairDNSSECBogus, ReasonPairNXDomain, ReasonPairResolverFailed)

// Reason is why a domain probe failed. The values are a public interface,
// like prober.Reason.
type Reason string

// Failure reasons of a domain probe.
const (
	// ReasonResolve: the MX question got no answer (NXDOMAIN, SERVFAIL,
	// timeout, a hostile answer).
	ReasonResolve Reason = "resolve"
	// ReasonNullMX: the domain publishes RFC 7505's "MX 0 .".
	ReasonNullMX Reason = "null_mx"
	// ReasonNoAddress: no probed MX host has an address.
	ReasonNoAddress Reason = "no_address"
	// ReasonAddressFailed: addresses failed, beyond what the success rule allows.
	ReasonAddressFailed Reason = "address_failed"
	// ReasonDNSSECBogus: the MX answer, or the address answers of every MX
	// host, fail DNSSEC validation (resolver.Diagnose): validating senders,
	// most large ones, cannot deliver; they queue the mail, then bounce it.
	ReasonDNSSECBogus Reason = "dnssec_bogus"
	// ReasonNXDomain: the domain does not exist; senders bounce at once.
	ReasonNXDomain Reason = "nxdomain"
	// ReasonResolverFailed: the exporter's own resolver fails (a known-good
	// name fails too): the domain's state is unknown, the fault the
	// monitor's.
	ReasonResolverFailed Reason = "resolver_failed"
	// ReasonNullMXMissing: the module expects a null MX (mx.expect_null_mx,
	// a domain that sends mail only), and the domain publishes MX records,
	// or none (an implicit MX), or the null MX beside others.
	ReasonNullMXMissing Reason = "null_mx_missing"
)

// Reasons lists every domain failure reason, for stable series.
var Reasons = []Reason{
	ReasonResolve, ReasonNullMX, ReasonNoAddress, ReasonAddressFailed,
	ReasonMTASTSInvalid, ReasonMTASTSViolation,
	ReasonDNSSECBogus, ReasonNXDomain, ReasonResolverFailed, ReasonMTASTSNotEnforced, ReasonNullMXMissing,
}

// reasonOf is the domain reason of a failed MX lookup, by its diagnosis.
func reasonOf(c resolver.Cause) Reason {
	switch c {
	case resolver.CauseBogus:
		return ReasonDNSSECBogus
	case resolver.CauseNXDomain:
		return ReasonNXDomain
	case resolver.CauseResolver:
		return ReasonResolverFailed
	}
	return ReasonResolve
}

// pairReasonOf is the reason of a pair whose MX host got no address, by the
// diagnosis of its lookup.
func pairReasonOf(c resolver.Cause) prober.Reason {
	switch c {
	case resolver.CauseBogus:
		return ReasonPairDNSSECBogus
	case resolver.CauseNXDomain:
		return ReasonPairNXDomain
	case resolver.CauseResolver:
		return ReasonPairResolverFailed
	}
	return prober.ReasonResolve
}

// MaxConcurrency bounds the lookups and conversations of one domain probe
// running at once.
const MaxConcurrency = 16

// Result is everything one probe of a mail domain found out: its MX hosts,
// and one prober.Result per (MX host, address) pair.
type Result struct {
	Domain   string        `json:"domain"`
	Module   string        `json:"module"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	// Rule is the module's mx.success; Port the port of every address, a
	// string in JSON as in a single target's result (and its pairs').
	Rule string `json:"success_rule"`
	Port int    `json:"port,string"`

	Success bool   `json:"success"`
	Failure Reason `json:"failure,omitempty"`
	Error   string `json:"error,omitempty"`
	// Warnings are problems that did not decide the verdict (an AAAA
	// question that failed while A answered, MX hosts left out).
	Warnings []Warning `json:"warnings,omitempty"`

	// DNSServer is the server asked; MXLookup how long the MX question took,
	// MXSecure whether its answer was DNSSEC-validated (the AD bit).
	DNSServer string        `json:"dns_server"`
	MXLookup  time.Duration `json:"mx_lookup_ns"`
	MXSecure  bool          `json:"mx_secure"`
	// MXDiagnosis says why the MX question failed (nil: it did not).
	MXDiagnosis *resolver.Diagnosis `json:"mx_diagnosis,omitempty"`
	// KnownGood is the check of the DNS server itself with its known-good
	// name: asked when a lookup failed, and by modules with DANE or
	// MTA-STS, whose verdicts need a validating server (nil: not asked).
	KnownGood *resolver.Health `json:"dns_known_good,omitempty"`
	// RequireTLSReady says the domain can receive mail sent with
	// REQUIRETLS (RFC 8689): every probed address advertises REQUIRETLS,
	// and every one is authenticated through DANE (validated) or through
	// an MTA-STS policy in enforce mode it complies with.
	RequireTLSReady bool `json:"requiretls_ready"`
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

	// MTASTS is what MTA-STS and TLS-RPT showed (nil: the module's mta_sts
	// is off).
	MTASTS *MTASTSResult `json:"mta_sts,omitempty"`
}

// Warning is a problem of a domain probe that did not decide its verdict.
// In JSON it is its text alone, as the warnings field always was; Kind is
// for tables and is not in the JSON.
type Warning struct {
	// Kind is WarningMaxHosts, WarningAddressLookup, WarningMTASTSTesting,
	// or the domain failure reason of an MTA-STS problem that came second
	// to another failure.
	Kind string
	Text string
}

// Kinds of domain warnings.
const (
	// WarningMaxHosts: MX hosts beyond mx.max_hosts were not probed.
	WarningMaxHosts = "max_hosts"
	// WarningAddressLookup: one address question of an MX host failed
	// while the other one answered.
	WarningAddressLookup = "address_lookup"
	// WarningMTASTSTesting: a policy in testing mode would refuse an MX
	// host or a pair; in enforce mode it would fail the domain.
	WarningMTASTSTesting = "mta_sts_testing"
	// WarningResolverNotValidating: the DNS server does not validate
	// DNSSEC (no AD bit on its known-good name), so DANE reads insecure.
	WarningResolverNotValidating = "resolver_not_validating"
)

// MarshalText writes the text alone.
func (w Warning) MarshalText() ([]byte, error) { return []byte(w.Text), nil }

// UnmarshalText reads the text; the kind is not in it.
func (w *Warning) UnmarshalText(b []byte) error {
	w.Text = string(b)
	return nil
}

// MXHost is one MX record and what its address questions found.
type MXHost struct {
	Name       string `json:"name"`
	Preference uint16 `json:"preference"`
	Probed     bool   `json:"probed"`
	// Addresses are those probed (all, or the first of the preferred family).
	Addresses []netip.Addr `json:"addresses,omitempty"`
	// Error says why the host has no address; Cause what its failed
	// lookup means (resolver.Diagnose; empty for NODATA).
	Error string         `json:"error,omitempty"`
	Cause resolver.Cause `json:"cause,omitempty"`
	// Secure: the A and AAAA answers were DNSSEC-validated.
	Secure bool `json:"secure"`
}

// Pair is one address of one MX host and the probe of it. Address is
// invalid (and "" in JSON) for a host without addresses; its Result fails
// with resolve.
type Pair struct {
	MX         string         `json:"mx"`
	Preference uint16         `json:"preference"`
	Address    netip.Addr     `json:"address"`
	Result     *prober.Result `json:"result"`
	// MTASTS is the pair's compliance with the MTA-STS policy, the same
	// value as in Result.MTASTS.Pairs (nil: no policy, or no address).
	MTASTS *MTASTSPair `json:"-"`
}

// Counts returns how many pairs had an address to probe, and how many of
// those succeeded.
func (d *Result) Counts() (addresses, succeeded int) {
	for _, p := range d.Pairs {
		if !p.Address.IsValid() {
			continue
		}
		addresses++
		if p.Result.Success {
			succeeded++
		}
	}
	return addresses, succeeded
}

// Probe probes the mail domain (as ParseName returns it) under a module
// with an mx section: it asks for the MX records, then for A and AAAA of
// each MX host, then holds the module's SMTP conversation with every (host,
// address) pair at once (at most MaxConcurrency at a time), all within
// ctx's deadline (or the module's timeout when ctx has none). The MX host
// is the TLS server name. opts.AllowList is asked for every address before
// it is dialed.
func Probe(ctx context.Context, domain, moduleName string, module *config.Module, logger *slog.Logger, opts prober.Options) *Result {
	ctx, cancel, logger, opts := prober.Defaults(ctx, module, logger, opts)
	defer cancel()
	dns := prober.ChooseResolvers(module, opts).DNS
	d := &fanOut{
		ctx: ctx, module: module, logger: logger, opts: opts,
		dns: dns,
		sem: make(chan struct{}, MaxConcurrency),
		result: &Result{
			Domain: domain,
			Module: moduleName,
			Start:  opts.Now(),
			Port:   module.Port,
			Hosts:  []MXHost{},
			Pairs:  []*Pair{},
		},
	}
	if module.MX != nil {
		d.result.Rule = module.MX.Success
	}
	var mtaSTS func() *MTASTSResult
	if module.MTASTS.On() && d.dns != nil {
		mtaSTS = d.startMTASTS()
	}
	if dns != nil {
		d.doctor = dns.Diagnoser()
	}
	d.run()
	if mtaSTS != nil {
		d.finishMTASTS(mtaSTS())
	}
	d.checkValidation()
	r := d.result
	r.RequireTLSReady = requireTLSReady(r)
	r.Duration = opts.Now().Sub(r.Start)
	if r.Failure == "" {
		r.Success = true
		logger.Debug("Domain probe succeeded", "duration_seconds", r.Duration.Seconds())
	} else {
		logger.Debug("Domain probe failed", "reason", r.Failure, "err", r.Error, "duration_seconds", r.Duration.Seconds())
	}
	return r
}

// fanOut is the state of one domain probe while it runs.
type fanOut struct {
	ctx    context.Context
	module *config.Module
	logger *slog.Logger
	opts   prober.Options
	dns    *resolver.Resolver // see prober.ChooseResolvers
	doctor *resolver.Diagnoser
	sem    chan struct{}
	result *Result
	// targets are what the fan-out learnt of each pair's MX host, by the
	// index of the pair in result.Pairs (zero for a host without address).
	targets []prober.Target
}

func (d *fanOut) fail(reason Reason, err error) {
	d.result.Failure, d.result.Error = reason, err.Error()
}

func (d *fanOut) warn(kind, text string) {
	d.result.Warnings = append(d.result.Warnings, Warning{Kind: kind, Text: text})
}

func (d *fanOut) run() {
	r := d.result
	if d.module.MX == nil || d.dns == nil {
		d.fail(ReasonResolve, fmt.Errorf("module %q has no mx section", r.Module))
		return
	}
	r.DNSServer = d.dns.Server()
	start := d.opts.Now()
	mxs, ans, err := d.dns.LookupMX(d.ctx, r.Domain)
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
		diag := d.doctor.Diagnose(d.ctx, err)
		r.MXDiagnosis = &diag
		d.noteKnownGood(diag)
		if why := diag.String(); why != "" {
			err = fmt.Errorf("%w: %s", err, why)
		}
		d.fail(reasonOf(diag.Cause), fmt.Errorf("MX lookup: %w", err))
		return
	}

	for _, mx := range mxs {
		if mx.IsNull() {
			r.Null = true
			continue
		}
		r.Hosts = append(r.Hosts, MXHost{Name: mx.Host, Preference: mx.Preference})
	}
	if d.module.MX.ExpectNullMX {
		d.expectNullMX()
		return
	}
	if r.Null {
		msg := "the domain publishes a null MX (RFC 7505): it accepts no mail"
		if len(r.Hosts) > 0 {
			// RFC 7505 §3: a null MX must be the only MX record.
			msg += fmt.Sprintf(", yet also %d other MX record(s), a misconfiguration senders treat in different ways", len(r.Hosts))
		}
		d.fail(ReasonNullMX, errors.New(msg))
		return
	}

	probed := min(len(r.Hosts), d.module.MX.MaxHosts)
	if left := r.Hosts[probed:]; len(left) > 0 {
		names := make([]string, len(left))
		for i, h := range left {
			names[i] = h.Name
		}
		d.warn(WarningMaxHosts, fmt.Sprintf("%d MX host(s) beyond max_hosts (%d) not probed: %s",
			len(left), d.module.MX.MaxHosts, strings.Join(names, ", ")))
	}
	d.lookupAddresses(r.Hosts[:probed])
	d.probePairs()
	d.verdict()
}

// lookupAddresses asks for A and AAAA of every probed host at once.
func (d *fanOut) lookupAddresses(hosts []MXHost) {
	addrs := make([]*resolver.Addrs, len(hosts))
	var wg sync.WaitGroup
	for i := range hosts {
		hosts[i].Probed = true
		wg.Go(func() {
			d.sem <- struct{}{}
			defer func() { <-d.sem }()
			addrs[i] = d.dns.LookupAddrs(d.ctx, hosts[i].Name)
		})
	}
	wg.Wait()
	for i := range hosts {
		h, a := &hosts[i], addrs[i]
		h.Secure = a.Secure()
		if err := a.Partial(); err != nil {
			d.warn(WarningAddressLookup, fmt.Sprintf("%s: %v", h.Name, err))
		}
		chosen := d.choose(a.Addrs)
		if len(chosen) == 0 {
			err := a.Err()
			if err == nil {
				err = fmt.Errorf("%s has no %s address and ip_protocol_fallback is off", h.Name, d.module.IPProtocol)
			}
			diag := d.doctor.Diagnose(d.ctx, err)
			d.noteKnownGood(diag)
			h.Cause = diag.Cause
			if why := diag.String(); why != "" {
				err = fmt.Errorf("%w: %s", err, why)
			}
			h.Error = err.Error()
			target := d.target(h.Name, netip.Addr{}, prober.DNSSECUnknown)
			d.addPair(&Pair{
				MX: h.Name, Preference: h.Preference,
				Result: prober.NotProbed(target, d.result.Module, d.module, d.opts.Now(), pairReasonOf(diag.Cause), err),
			}, target)
			continue
		}
		// A failed question leaves the security unknown: the pair's DANE
		// check asks again, and says bogus if it fails again.
		secure := prober.DNSSECUnknown
		if a.Partial() == nil {
			secure = prober.DNSSECOf(h.Secure)
		}
		for _, ip := range chosen {
			h.Addresses = append(h.Addresses, ip)
			d.addPair(&Pair{MX: h.Name, Preference: h.Preference, Address: ip}, d.target(h.Name, ip, secure))
		}
	}
}

func (d *fanOut) addPair(p *Pair, t prober.Target) {
	d.result.Pairs = append(d.result.Pairs, p)
	d.targets = append(d.targets, t)
}

// choose applies mx.addresses: every address, or the one the module's
// family rule picks (config.Module.PreferredAddr).
func (d *fanOut) choose(addrs []netip.Addr) []netip.Addr {
	if d.module.MX.Addresses == config.MXAddressesAll {
		return addrs
	}
	if a, ok := d.module.PreferredAddr(addrs); ok {
		return []netip.Addr{a}
	}
	return nil
}

// probePairs holds the conversation with every pair that has an address.
func (d *fanOut) probePairs() {
	var wg sync.WaitGroup
	for i, p := range d.result.Pairs {
		if !p.Address.IsValid() {
			continue
		}
		target := d.targets[i]
		if err := d.allowed(p.MX, p.Address); err != nil {
			p.Result = prober.NotProbed(target, d.result.Module, d.module, d.opts.Now(), ReasonTargetNotAllowed, err)
			continue
		}
		wg.Go(func() {
			d.sem <- struct{}{}
			defer func() { <-d.sem }()
			opts := d.opts
			opts.AllowList = nil // asked above, for this address
			logger := d.logger.With("mx", p.MX, "address", p.Address.String())
			p.Result = prober.Probe(d.ctx, target, d.result.Module, d.module, logger, opts)
		})
	}
	wg.Wait()
}

func (d *fanOut) allowed(host string, addr netip.Addr) error {
	if d.opts.AllowList == nil {
		return nil
	}
	if err := d.opts.AllowList.AllowName(host); err != nil {
		return err
	}
	return d.opts.AllowList.AllowAddr(host, addr)
}

func (d *fanOut) target(host string, addr netip.Addr, secure prober.DNSSEC) prober.Target {
	return prober.ResolvedTarget(host, d.module.Port, addr, secure)
}

// verdict applies mx.success to the pairs.
func (d *fanOut) verdict() {
	r := d.result
	addresses, _ := r.Counts()
	if addresses == 0 {
		var why []string
		var causes []resolver.Cause
		for _, h := range r.Hosts {
			if h.Probed && h.Error != "" {
				why = append(why, h.Error)
				causes = append(causes, h.Cause)
			}
		}
		d.fail(noAddressReason(causes), fmt.Errorf("no MX host has an address: %s", strings.Join(why, "; ")))
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
		if p.Address.IsValid() {
			where += " " + p.Address.String()
		}
		parts = append(parts, fmt.Sprintf("%s: %s", where, p.Result.Failure))
	}
	d.fail(ReasonAddressFailed, fmt.Errorf("%d of %d addresses failed (success: %s): %s",
		len(failed), len(judged), d.module.MX.Success, strings.Join(parts, "; ")))
}

// ParseName is the one place a target becomes a mail domain's name: it says
// why the target is not one (it has a port, it is an IP address, it has a
// character no domain name has), and otherwise returns the name in the form
// every later step uses: lower case, without the trailing dot.
func ParseName(t prober.Target) (string, error) {
	if t.Port != 0 {
		return "", errors.New("give the domain without a port, for example example.com (the module's port applies to every MX host)")
	}
	if t.IsAddress() {
		return "", fmt.Errorf("%q is an IP address; give a domain, for example example.com, or probe the address with a single-host module", t.Host)
	}
	if strings.Contains(t.Host, "_") {
		return "", fmt.Errorf("%q is not a domain name (no _ in a mail domain)", t.Host)
	}
	return strings.TrimSuffix(strings.ToLower(t.Host), "."), nil
}

// Summary implements prober.Outcome. Its warning reasons are the kinds of
// the domain's own warnings, then its pairs' warning reasons, each once.
func (d *Result) Summary() prober.Summary {
	s := prober.Summary{
		Target: d.Domain, Module: d.Module, Start: d.Start, Duration: d.Duration,
		Success: d.Success, Failure: string(d.Failure), Error: d.Error,
	}
	add := func(reason string) {
		if !slices.Contains(s.WarningReasons, reason) {
			s.WarningReasons = append(s.WarningReasons, reason)
		}
	}
	for _, w := range d.Warnings {
		add(w.Kind)
	}
	for _, p := range d.Pairs {
		for _, w := range p.Result.Warnings {
			add(string(w.Reason))
		}
	}
	return s
}

// Conversations implements prober.Outcome: each pair's conversation.
func (d *Result) Conversations() []*prober.Result {
	out := make([]*prober.Result, 0, len(d.Pairs))
	for _, p := range d.Pairs {
		if p.Result != nil {
			out = append(out, p.Result)
		}
	}
	return out
}
