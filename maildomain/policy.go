package maildomain

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/mtasts"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// noteKnownGood keeps the known-good check a diagnosis made.
func (d *fanOut) noteKnownGood(diag resolver.Diagnosis) {
	if diag.Health.Asked && d.result.KnownGood == nil {
		h := diag.Health
		d.result.KnownGood = &h
	}
}

// noAddressReason is the domain's reason when no MX host has an address,
// by what each host's failed lookup means: the monitor's resolver when it
// failed them all, DNSSEC when one fails validation (the fix is the
// signatures, whatever else is wrong), else no_address.
func noAddressReason(causes []resolver.Cause) Reason {
	switch {
	case len(causes) > 0 && !slices.ContainsFunc(causes, func(c resolver.Cause) bool { return c != resolver.CauseResolver }):
		return ReasonResolverFailed
	case slices.Contains(causes, resolver.CauseBogus):
		return ReasonDNSSECBogus
	}
	return ReasonNoAddress
}

// expectNullMX judges a domain that must publish the null MX and nothing
// else (mx.expect_null_mx): no pairs are probed, since it receives no mail.
func (d *fanOut) expectNullMX() {
	r := d.result
	var names []string
	for _, h := range r.Hosts {
		names = append(names, h.Name)
	}
	switch {
	case r.Null && len(r.Hosts) == 0:
		return
	case r.Null:
		d.fail(ReasonNullMXMissing, fmt.Errorf("the domain publishes a null MX, as expected, but beside it MX records for %s, a misconfiguration senders treat in different ways (RFC 7505 §3)",
			strings.Join(names, ", ")))
	case r.Implicit:
		d.fail(ReasonNullMXMissing, errors.New("a null MX is expected, but the domain has no MX records: senders deliver to its own address records (implicit MX)"))
	default:
		d.fail(ReasonNullMXMissing, fmt.Errorf("a null MX is expected, but the domain publishes MX records for %s: it receives mail", strings.Join(names, ", ")))
	}
}

// checkValidation asks, for a module whose verdicts rest on DNSSEC (DANE,
// MTA-STS), whether the DNS server validates at all: a resolver that stopped
// validating makes every DANE status insecure and hides a bogus zone, with
// nothing else to show for it. It warns; a module that requires DANE fails
// its pairs already (dane_missing).
func (d *fanOut) checkValidation() {
	if d.doctor == nil || d.module.DANE == config.DANEOff && !d.module.MTASTS.On() || d.result.Failure == ReasonResolverFailed {
		return
	}
	h := d.doctor.Health(d.ctx)
	if !h.Asked {
		return
	}
	d.result.KnownGood = &h
	if h.OK() && !h.Secure {
		d.warn(WarningResolverNotValidating, fmt.Sprintf(
			"the DNS server %s does not validate DNSSEC (no AD bit on the known-good name %s): DANE reads as insecure and bogus zones go unseen; point dns.server at a validating resolver, and dns.known_good_name at a signed name",
			d.dns.Server(), h.Name))
	}
}

// ResolverValidates says the known-good check found the DNS server
// validating DNSSEC: nil when it was not asked or not answered.
func (d *Result) ResolverValidates() *bool {
	if d.KnownGood == nil || !d.KnownGood.OK() {
		return nil
	}
	v := d.KnownGood.Secure
	return &v
}

// requireTLSReady is RFC 8689's readiness, from what the probe saw: every
// probed address advertised REQUIRETLS (after STARTTLS), and every one is
// authenticated for a REQUIRETLS sender, by DANE or by an enforced MTA-STS
// policy it complies with. No new traffic: the EHLO replies, the DANE
// checks and the policy are the probe's own.
func requireTLSReady(r *Result) bool {
	enforced := r.MTASTS != nil && r.MTASTS.Policy != nil && r.MTASTS.Policy.Mode == mtasts.ModeEnforce
	seen := 0
	for _, p := range r.Pairs {
		if !p.Address.IsValid() || p.Result == nil {
			return false
		}
		res := p.Result
		if !res.Encrypted || !res.LastEHLO().Has("REQUIRETLS") {
			return false
		}
		daneOK := res.DANE != nil && res.DANE.Status == dane.StatusValidated
		stsOK := enforced && p.MTASTS != nil && p.MTASTS.Compliant
		if !daneOK && !stsOK {
			return false
		}
		seen++
	}
	return seen > 0
}
