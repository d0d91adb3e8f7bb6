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
	"sync/atomic"
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

// MaxDNSQueries is the budget of DNS messages of one domain probe, every
// lookup of it counted (MX, addresses, PTR names and their addresses,
// TLSA, MTA-STS): a healthy domain of 4 MX hosts x 2 addresses with DANE,
// MTA-STS and reverse DNS asks about 60. A zone that makes a probe ask for
// more gets the rest unasked (resolver.KindBudget), and a warning.
const MaxDNSQueries = 128

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
	// DNSQueries counts the DNS messages the probe sent, every lookup of
	// it (at most MaxDNSQueries).
	DNSQueries int `json:"dns_queries"`

	// Hosts are every MX host, lowest preference first (ties by name);
	// those beyond mx.max_hosts (or mx.max_pairs) have Probed false.
	Hosts []MXHost `json:"hosts"`
	// Pairs are the (host, address) pairs of the probe, at most
	// mx.max_pairs, in the order of Hosts, each host's IPv4 addresses
	// before its IPv6 ones: those probed, and those that could not be
	// (refused by the allow-list, a host without address), which hold a
	// summary instead of a conversation (Probed).
	Pairs []*Pair `json:"pairs"`
	// Skipped counts the pairs DNS gave that the probe left out, by why.
	Skipped map[SkipReason]int `json:"pairs_skipped,omitempty"`

	// MTASTS is what MTA-STS and TLS-RPT showed (nil: the module's mta_sts
	// is off).
	MTASTS *MTASTSResult `json:"mta_sts,omitempty"`
}

// Warning is a problem of a domain probe that did not decide its verdict.
// In JSON it is its text alone, as the warnings field always was; Kind is
// for tables and is not in the JSON.
type Warning struct {
	// Kind is one of the Warning kinds below, or the domain failure
	// reason of an MTA-STS problem that came second to another failure.
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
	// WarningPairsLimited: pairs were left out by max_addresses,
	// max_pairs, or the deadline (Result.Skipped counts them).
	WarningPairsLimited = "pairs_limited"
	// WarningDNSBudget: the probe's DNS questions beyond MaxDNSQueries
	// were not asked.
	WarningDNSBudget = "dns_budget"
	// WarningMore stands for the warnings beyond the 16 a result keeps.
	WarningMore = "more"
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

// SkipReason is why pairs DNS gave were left out of a probe. The values
// label probe_smtp_domain_pairs_skipped: a public interface.
type SkipReason string

// Why pairs are left out.
const (
	// SkipMaxAddresses: addresses of an MX host beyond mx.max_addresses of
	// their family.
	SkipMaxAddresses SkipReason = "max_addresses"
	// SkipMaxPairs: pairs beyond mx.max_pairs, the highest preferences.
	SkipMaxPairs SkipReason = "max_pairs"
	// SkipDeadline: pairs that did not start before the probe's time was
	// up, waiting for a conversation slot (--probe.max-concurrent) or for
	// a worker (mx.concurrency).
	SkipDeadline SkipReason = "deadline"
)

// SkipReasons lists every SkipReason, for stable series.
var SkipReasons = []SkipReason{SkipMaxAddresses, SkipMaxPairs, SkipDeadline}

// SkippedPairs is how many pairs the probe left out, for every reason.
func (d *Result) SkippedPairs() int {
	n := 0
	for _, c := range d.Skipped {
		n += c
	}
	return n
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
// with resolve. A pair that was never dialed (Probed false) has a summary
// for Result: the failure and its reason, no phases, no transcript.
type Pair struct {
	MX         string         `json:"mx"`
	Preference uint16         `json:"preference"`
	Address    netip.Addr     `json:"address"`
	Result     *prober.Result `json:"result"`
	// MTASTS is the pair's compliance with the MTA-STS policy, the same
	// value as in Result.MTASTS.Pairs (nil: no policy, or no address).
	MTASTS *MTASTSPair `json:"-"`
}

// Probed says the pair had a conversation (or tried to): it has an address
// the allow-list allowed. The others hold a summary (prober.NotProbed).
func (p *Pair) Probed() bool {
	return p.Address.IsValid() && p.Result.Failure != ReasonTargetNotAllowed
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
// the MX hosts, lowest preference first, then holds the module's SMTP
// conversation with each (host, address) pair, mx.concurrency at a time,
// all within ctx's deadline (or the module's timeout when ctx has none).
// The MX host is the TLS server name.
//
// Its work is bounded before it starts, whatever DNS says: at most
// mx.max_addresses addresses of each family per host and mx.max_pairs
// pairs, at most MaxDNSQueries DNS messages, and one conversation slot of
// opts.Slots per conversation beyond the first (the caller holds that
// one), waited for within the deadline. opts.AllowList is asked for every
// MX host name and address before it is dialed; an MX target that is not
// a host name (an escaped byte) is never looked up.
func Probe(ctx context.Context, domain, moduleName string, module *config.Module, logger *slog.Logger, opts prober.Options) *Result {
	ctx, cancel, logger, opts := prober.Defaults(ctx, module, logger, opts)
	defer cancel()
	budget := resolver.NewBudget(MaxDNSQueries)
	ctx = resolver.WithBudget(ctx, budget)
	// The conversations and lookups end a little before the request's
	// deadline: the result must still be judged, rendered and written.
	work, cancel := context.WithDeadline(ctx, workDeadline(ctx))
	defer cancel()
	dns := prober.ChooseResolvers(module, opts).DNS
	d := &fanOut{
		ctx: work, module: module, logger: logger, opts: opts,
		dns: dns,
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
		// MTA-STS runs beside the pairs, with all of their time: it waits
		// for no worker and no slot.
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
	r.DNSQueries = budget.Sent()
	if n := budget.Refused(); n > 0 {
		d.warn(WarningDNSBudget, fmt.Sprintf("%d DNS questions not asked: the probe's budget of %d is spent (the zone asks for more names than a mail domain needs)", n, budget.Limit()))
	}
	r.RequireTLSReady = requireTLSReady(r)
	r.Duration = opts.Now().Sub(r.Start)
	d.bound()
	if r.Failure == "" {
		r.Success = true
		logger.Debug("Domain probe succeeded", "duration_seconds", r.Duration.Seconds())
	} else {
		logger.Debug("Domain probe failed", "reason", r.Failure, "err", r.Error, "duration_seconds", r.Duration.Seconds())
	}
	return r
}

// workDeadline is when a domain probe's lookups and conversations must end:
// before ctx's deadline by a twentieth of the time left (50 ms to 1 s), for
// the verdict and the answer.
func workDeadline(ctx context.Context) time.Time {
	deadline, _ := ctx.Deadline()
	reserve := min(max(time.Until(deadline)/20, 50*time.Millisecond), time.Second)
	return deadline.Add(-reserve)
}

// fanOut is the state of one domain probe while it runs.
type fanOut struct {
	ctx    context.Context
	module *config.Module
	logger *slog.Logger
	opts   prober.Options
	dns    *resolver.Resolver // see prober.ChooseResolvers
	doctor *resolver.Diagnoser
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

func (d *fanOut) skip(why SkipReason, n int) {
	if n <= 0 {
		return
	}
	if d.result.Skipped == nil {
		d.result.Skipped = map[SkipReason]int{}
	}
	d.result.Skipped[why] += n
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

	mx := d.module.MX
	probed := min(len(r.Hosts), mx.MaxHosts)
	if left := r.Hosts[probed:]; len(left) > 0 {
		d.warn(WarningMaxHosts, fmt.Sprintf("%d MX host(s) beyond max_hosts (%d) not probed: %s",
			len(left), mx.MaxHosts, hostNames(left)))
	}
	// Every host gives at least one pair: those beyond max_pairs are not
	// even looked up.
	if probed > mx.MaxPairs {
		d.warn(WarningPairsLimited, fmt.Sprintf("%d MX host(s) beyond max_pairs (%d) not looked up: %s",
			probed-mx.MaxPairs, mx.MaxPairs, hostNames(r.Hosts[mx.MaxPairs:probed])))
		probed = mx.MaxPairs
	}
	d.lookupAddresses(r.Hosts[:probed])
	d.probePairs()
	d.verdict()
}

// hostNames lists hosts' names for a warning: the first few, then how many more.
func hostNames(hosts []MXHost) string {
	const shown = 5
	names := make([]string, 0, shown)
	for i, h := range hosts {
		if i == shown {
			return strings.Join(names, ", ") + fmt.Sprintf(" and %d more", len(hosts)-shown)
		}
		names = append(names, h.Name)
	}
	return strings.Join(names, ", ")
}

// lookupAddresses asks for A and AAAA of the hosts, mx.concurrency hosts
// at a time, and makes their pairs: at most mx.max_addresses of each
// family per host, at most mx.max_pairs in all, lowest preference first.
func (d *fanOut) lookupAddresses(hosts []MXHost) {
	addrs := make([]*resolver.Addrs, len(hosts))
	names := make([]error, len(hosts)) // why a name is not looked up
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(d.module.MX.Concurrency, len(hosts)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(hosts); i = int(next.Add(1) - 1) {
				if names[i] = checkHostName(hosts[i].Name); names[i] == nil {
					addrs[i] = d.dns.LookupAddrs(d.ctx, hosts[i].Name)
				}
			}
		})
	}
	wg.Wait()
	var cutAddrs, cutPairs int
	for i := range hosts {
		h := &hosts[i]
		h.Probed = true
		if err := names[i]; err != nil {
			h.Error = err.Error()
			target := d.target(h.Name, netip.Addr{}, prober.DNSSECUnknown)
			d.addPair(&Pair{
				MX: h.Name, Preference: h.Preference,
				Result: prober.NotProbed(target, d.result.Module, d.module, d.opts.Now(), ReasonTargetNotAllowed, err),
			}, target, &cutPairs)
			continue
		}
		a := addrs[i]
		h.Secure = a.Secure()
		if err := a.Partial(); err != nil {
			d.warn(WarningAddressLookup, fmt.Sprintf("%s: %v", h.Name, err))
		}
		chosen, cut := d.choose(a.Addrs)
		cutAddrs += cut
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
			}, target, &cutPairs)
			continue
		}
		// A failed question leaves the security unknown: the pair's DANE
		// check asks again, and says bogus if it fails again.
		secure := prober.DNSSECUnknown
		if a.Partial() == nil {
			secure = prober.DNSSECOf(h.Secure)
		}
		for _, ip := range chosen {
			if d.addPair(&Pair{MX: h.Name, Preference: h.Preference, Address: ip}, d.target(h.Name, ip, secure), &cutPairs) {
				h.Addresses = append(h.Addresses, ip)
			}
		}
	}
	d.skip(SkipMaxAddresses, cutAddrs)
	d.skip(SkipMaxPairs, cutPairs)
	if cutAddrs+cutPairs > 0 {
		var why []string
		if cutAddrs > 0 {
			why = append(why, fmt.Sprintf("%d address(es) beyond max_addresses (%d per MX host and family)", cutAddrs, d.module.MX.MaxAddresses))
		}
		if cutPairs > 0 {
			why = append(why, fmt.Sprintf("%d pair(s) beyond max_pairs (%d), the highest preferences", cutPairs, d.module.MX.MaxPairs))
		}
		d.warn(WarningPairsLimited, fmt.Sprintf("%d (MX host, address) pair(s) not probed: %s", cutAddrs+cutPairs, strings.Join(why, "; ")))
	}
}

// checkHostName says why an MX target is not looked up: DNS allows any
// byte in a label, which presentation form escapes ("x\\.allowed.test" is
// the labels "x.allowed" and "test"), but a mail host's name is letters,
// digits, dashes and underscores.
func checkHostName(name string) error {
	if config.ValidHostname(name) {
		return nil
	}
	return fmt.Errorf("MX target %q is not a host name (an escaped byte or an empty label): not looked up, not probed", name)
}

// addPair adds a pair unless max_pairs is reached (then it counts it in
// cut); it says whether it did.
func (d *fanOut) addPair(p *Pair, t prober.Target, cut *int) bool {
	if len(d.result.Pairs) >= d.module.MX.MaxPairs {
		*cut++
		return false
	}
	d.result.Pairs = append(d.result.Pairs, p)
	d.targets = append(d.targets, t)
	return true
}

// choose applies mx.addresses and mx.max_addresses: the addresses of each
// family up to max_addresses, or the one the module's family rule picks
// (config.Module.PreferredAddr); it returns them and how many it left out.
func (d *fanOut) choose(addrs []netip.Addr) (chosen []netip.Addr, cut int) {
	if d.module.MX.Addresses == config.MXAddressesAll {
		var v4, v6 int
		for _, a := range addrs {
			n := &v6
			if a.Unmap().Is4() {
				n = &v4
			}
			if *n == d.module.MX.MaxAddresses {
				cut++
				continue
			}
			*n++
			chosen = append(chosen, a)
		}
		return chosen, cut
	}
	if a, ok := d.module.PreferredAddr(addrs); ok {
		return []netip.Addr{a}, 0
	}
	return nil, 0
}

// probePairs holds the conversation with every pair that has an address
// the allow-list allows, mx.concurrency at a time, in the order of the
// pairs. The first worker talks in the request's own conversation slot,
// so the probe always moves; each other one takes a slot of opts.Slots
// per conversation, waiting within the deadline, and gives up when there
// is nothing left to do. A pair gets a share of the time left, so that a
// few servers that never answer cannot keep the others from their turn.
func (d *fanOut) probePairs() {
	var queue []int
	for i, p := range d.result.Pairs {
		if !p.Address.IsValid() {
			continue
		}
		if err := d.allowed(p.MX, p.Address); err != nil {
			p.Result = prober.NotProbed(d.targets[i], d.result.Module, d.module, d.opts.Now(), ReasonTargetNotAllowed, err)
			continue
		}
		queue = append(queue, i)
	}
	if len(queue) == 0 {
		return
	}
	workers := min(d.module.MX.Concurrency, len(queue))
	deadline, _ := d.ctx.Deadline()
	// Waiting for a slot ends when the queue is empty or time is up.
	waiting, stopWaiting := context.WithCancel(d.ctx)
	defer stopWaiting()
	var (
		mu       sync.Mutex
		taken    int  // pairs of the queue taken by a worker
		waitedOn bool // a worker waited for a slot while pairs were left
	)
	take := func() (int, int, bool) {
		mu.Lock()
		defer mu.Unlock()
		// By the clock, not only Err: the context's own timer may fire a
		// moment after that of the conversation that just ran out of it.
		if taken == len(queue) || d.ctx.Err() != nil || time.Until(deadline) <= 0 {
			stopWaiting()
			return 0, 0, false
		}
		i := queue[taken]
		taken++
		left := len(queue) - taken + 1
		if taken == len(queue) {
			stopWaiting()
		}
		return i, left, true
	}
	talk := func(i, left int) {
		p := d.result.Pairs[i]
		opts := d.opts
		opts.AllowList = nil // asked above, for this address
		opts.Slots = nil
		ctx, cancel := context.WithDeadline(d.ctx, shareDeadline(d.ctx, workers, left))
		defer cancel()
		logger := d.logger.With("mx", p.MX, "address", p.Address.String())
		p.Result = prober.Probe(ctx, d.targets[i], d.result.Module, d.module, logger, opts)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				if w > 0 {
					if !d.opts.Slots.TryAcquire() {
						mu.Lock()
						waitedOn = waitedOn || taken < len(queue)
						mu.Unlock()
						if d.opts.Slots.Acquire(waiting) != nil {
							return
						}
					}
				}
				i, left, ok := take()
				if ok {
					talk(i, left)
				}
				if w > 0 {
					d.opts.Slots.Release()
				}
				if !ok {
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(queue) - taken; n > 0 {
		// Pairs never started: not the domain's failure, and not judged.
		why := fmt.Sprintf("mx.concurrency (%d) pairs at a time took all of it", workers)
		if waitedOn {
			why = "conversation slots (--probe.max-concurrent) were all in use, by this probe's other pairs and other probes"
		}
		d.skip(SkipDeadline, n)
		notStarted := map[int]bool{}
		for _, i := range queue[taken:] {
			notStarted[i] = true
		}
		kept := d.result.Pairs[:0]
		targets := d.targets[:0]
		for i, p := range d.result.Pairs {
			if !notStarted[i] {
				kept = append(kept, p)
				targets = append(targets, d.targets[i])
			}
		}
		clear(d.result.Pairs[len(kept):])
		d.result.Pairs, d.targets = kept, targets
		for h := range d.result.Hosts {
			host := &d.result.Hosts[h]
			host.Addresses = slices.DeleteFunc(host.Addresses, func(a netip.Addr) bool { return !d.hasPair(host.Name, a) })
		}
		d.warn(WarningPairsLimited, fmt.Sprintf("%d (MX host, address) pair(s) not probed: the probe's time was up before their turn; %s", n, why))
	}
}

// shareDeadline is when a pair's conversation must end: its share of the
// time left, with workers conversations at once and left pairs (this one
// included) still to start, and never later than ctx's deadline.
func shareDeadline(ctx context.Context, workers, left int) time.Time {
	deadline, _ := ctx.Deadline()
	if left <= workers {
		return deadline
	}
	return time.Now().Add(time.Until(deadline) * time.Duration(workers) / time.Duration(left))
}

func (d *fanOut) hasPair(host string, addr netip.Addr) bool {
	return slices.ContainsFunc(d.result.Pairs, func(p *Pair) bool { return p.MX == host && p.Address == addr })
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
