package prober

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// DANE failure reasons (RFC 7672): what makes a DANE-validating sender
// defer mail, and, for modules that require DANE, its absence.
const (
	// ReasonDANEFailed: usable TLSA records, none matches the presented
	// chain (or no TLS session to match).
	ReasonDANEFailed Reason = "dane_failed"
	// ReasonDANEBogus: the validating resolver could not validate the
	// TLSA answer (SERVFAIL), or the lookup failed.
	ReasonDANEBogus Reason = "dane_bogus"
	// ReasonDANEMissing: dane is required, and the target has no usable,
	// DNSSEC-secure TLSA records (status none, insecure or unusable).
	ReasonDANEMissing Reason = "dane_missing"
)

// DANEResult is what DANE verification of one TLS session found.
type DANEResult struct {
	Mode string `json:"mode"`
	// Name is the TLSA name asked (_PORT._tcp.HOST), Server the DNS server.
	Name   string `json:"tlsa_name"`
	Server string `json:"dns_server,omitempty"`
	// Secure is the AD bit of the TLSA answer (or of its denial).
	Secure bool `json:"dnssec_secure"`
	// LookupError says why the lookup gave no answer, when it did not.
	LookupError string        `json:"lookup_error,omitempty"`
	Lookup      time.Duration `json:"lookup_ns"`
	dane.Result
}

// daneLookup is the outcome of the TLSA question, handed from the lookup
// goroutine to finish.
type daneLookup struct {
	result DANEResult
	lookup dane.Lookup
	names  []string
}

// startDANE asks for the TLSA records of the target while the conversation
// runs; finishDANE collects them. A target given as an address has no
// TLSA name: DANE does not apply (RFC 7672 §2.2.2).
func (p *conversation) startDANE(target Target) {
	if p.module.DANE == "" || p.module.DANE == config.DANEOff {
		return
	}
	if target.IsAddress() {
		p.note("DANE: the target is an address, which has no TLSA records")
		return
	}
	r := p.resolvers.DNS // config gives every DANE module one
	if r == nil {
		p.note("DANE: the module has no DNS client")
		return
	}
	name := "_" + strconv.Itoa(target.Port) + "._tcp." + strings.TrimSuffix(target.Host, ".")
	ch := make(chan daneLookup, 1)
	p.daneDone = ch
	go func() { ch <- lookupTLSA(p.ctx, r, name, target.Host, string(p.module.DANE), target.AddrsSecure) }()
}

// lookupTLSA asks r for the TLSA records at name and classifies the answer
// as the dane package needs it. Only the resolver's AD bit makes an answer
// secure; SERVFAIL from a validating resolver means bogus. A DANE sender
// looks for them only when host's address records are secure (RFC 7672
// §2.2.2): known says whether they are, when the caller asked already.
func lookupTLSA(ctx context.Context, r *resolver.Resolver, name, host, mode string, known DNSSEC) (out daneLookup) {
	out = daneLookup{
		result: DANEResult{Mode: mode, Name: name, Server: r.Server()},
		names:  []string{strings.ToLower(strings.TrimSuffix(host, "."))},
	}
	// The time of every question DANE asked: addresses and TLSA.
	start := time.Now()
	defer func() { out.result.Lookup = time.Since(start) }()
	secure, err := addressesSecure(ctx, r, host, known)
	switch {
	case err != nil:
		out.lookup.Bogus = true
		out.result.LookupError = err.Error()
		return out
	case !secure:
		out.lookup.AddressesInsecure = true
		return out
	}
	ans, err := r.Query(ctx, name, dns.TypeTLSA)
	if ans != nil {
		out.result.Secure = ans.Secure
		// A CNAME at the TLSA name: the leaf may also carry the name the
		// chain ends at, less its _port._tcp (RFC 7672 §3.2.2).
		if len(ans.CNAMEs) > 0 {
			if _, base, ok := strings.Cut(strings.TrimPrefix(ans.Canonical, "_"), "._tcp."); ok && base != out.names[0] {
				out.names = append(out.names, base)
			}
		}
	}
	switch {
	case err == nil:
		for _, rr := range ans.Records {
			t, ok := rr.(*dns.TLSA)
			if !ok {
				continue
			}
			rec, cerr := dane.FromTLSA(t)
			if cerr != nil {
				// Kept, with no data, so it counts as an unusable record.
				rec = dane.Record{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType}
			}
			out.lookup.Records = append(out.lookup.Records, rec)
		}
		out.lookup.Secure = ans.Secure
	case resolver.IsNotFound(err):
		out.lookup.Secure = ans != nil && ans.Secure
	default:
		// SERVFAIL is what a validating resolver answers for a bogus
		// answer; any other failure leaves a DANE sender just as unable to
		// decide, and it defers the mail too (RFC 7672 §2.2).
		out.lookup.Bogus = true
		out.result.Secure = false
		out.result.LookupError = err.Error()
	}
	return out
}

// addressesSecure says whether host's address records, A and AAAA, are
// DNSSEC-secure (known, when the caller found out already): an insecure
// answer or denial makes them insecure; a failed question is an error
// (SERVFAIL from a validating resolver: bogus).
func addressesSecure(ctx context.Context, r *resolver.Resolver, host string, known DNSSEC) (bool, error) {
	if known != DNSSECUnknown {
		return known == DNSSECSecure, nil
	}
	a := r.LookupAddrs(ctx, host)
	for _, err := range []error{a.ErrA, a.ErrAAAA} {
		if err != nil && !resolver.IsNotFound(err) {
			return false, err
		}
	}
	return a.Secure(), nil
}

// finishDANE waits for the lookup, decides the status against the chain
// the server presented, and turns it into the probe's problems: a
// validated chain excuses a WebPKI failure, as it does for a DANE sender.
func (p *conversation) finishDANE() {
	if p.daneDone == nil {
		if p.module.DANE != "" && p.module.DANE != config.DANEOff && p.result.DANE == nil {
			// Not checked (an address target, or no connection): the
			// result still says DANE was asked for, so its series exist.
			p.result.DANE = &DANEResult{Mode: string(p.module.DANE), Result: dane.Result{Detail: "not checked: no TLSA name (an address target) or no connection"}}
		}
		return
	}
	l := <-p.daneDone
	d := l.result
	d.Result = dane.Verify(l.lookup, p.peerCerts, l.names, p.opts.Now())
	if d.LookupError != "" {
		d.Detail = fmt.Sprintf("the DNS lookup failed (%s): DANE senders defer mail", d.LookupError)
	}
	p.result.DANE = &d
	p.note("DANE %s: %s", d.Status, d.Detail)
	for _, c := range d.Verdicts {
		p.note("DANE record %s: %s", c.Record, c.Why)
	}

	// When DANE applies, a DANE sender does DANE only: its verdict
	// decides, and WebPKI's problems are reported as warnings.
	switch d.Status {
	case dane.StatusValidated:
		p.demoteWebPKI("accepted: DANE validated the chain")
	case dane.StatusFailed:
		p.demoteWebPKI("DANE decides for this host, and it failed")
		p.flagFirst(ReasonDANEFailed, errors.New("DANE: "+d.Detail))
	case dane.StatusBogus:
		p.demoteWebPKI("DANE decides for this host, and its records are bogus")
		p.flagFirst(ReasonDANEBogus, errors.New("DANE: "+d.Detail))
	default:
		if p.module.DANE == config.DANERequired {
			p.flag(ReasonDANEMissing, fmt.Errorf("DANE is required, but the status is %s: %s", d.Status, d.Detail))
		}
	}
}

// demoteWebPKI turns the WebPKI certificate failures into warnings, saying
// why they do not decide.
func (p *conversation) demoteWebPKI(why string) {
	kept := p.soft[:0]
	for _, s := range p.soft {
		if slices.Contains(webPKIReasons, s.reason) {
			p.warn(s.reason, fmt.Errorf("%w (%s)", s.err, why))
			continue
		}
		kept = append(kept, s)
	}
	p.soft = kept
	for i, w := range p.warnings {
		if slices.Contains(webPKIReasons, w.reason) && !strings.HasSuffix(w.err.Error(), "("+why+")") {
			p.warnings[i].err = fmt.Errorf("%w (%s)", w.err, why)
		}
	}
}

// flagFirst records a policy failure that is the probe's reason ahead of
// those found before it (a failure that ended the conversation still
// comes first).
func (p *conversation) flagFirst(reason Reason, err error) {
	p.flag(reason, err)
	last := p.soft[len(p.soft)-1]
	copy(p.soft[1:], p.soft[:len(p.soft)-1])
	p.soft[0] = last
}

// webPKIReasons are the certificate failures a DANE-validated chain
// excuses: DANE-EE ignores issuers, names and dates.
var webPKIReasons = []Reason{ReasonCertUntrusted, ReasonCertHostnameMismatch, ReasonCertExpired}
