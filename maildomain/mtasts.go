package maildomain

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/mtasts"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// Domain failure reasons of MTA-STS (RFC 8461).
const (
	// ReasonMTASTSInvalid: the domain publishes an _mta-sts record, but no
	// usable policy (the record is malformed, or the policy cannot be
	// fetched or parsed). Senders keep a cached policy until it expires,
	// then deliver without one.
	ReasonMTASTSInvalid Reason = "mta_sts_invalid"
	// ReasonMTASTSViolation: the policy is in enforce mode, and an MX host
	// matches no pattern or a pair does not negotiate TLS 1.2 or later
	// with a certificate valid for the MX host: MTA-STS senders do not
	// deliver to it.
	ReasonMTASTSViolation Reason = "mta_sts_violation"
	// ReasonMTASTSNotEnforced: the module requires MTA-STS in enforce mode
	// (mta_sts: enforce), and the domain has no _mta-sts record, or its
	// policy is in testing or none mode: the protection is gone, though
	// mail still flows.
	ReasonMTASTSNotEnforced Reason = "mta_sts_not_enforced"
)

// MTASTSResult is what the MTA-STS and TLS-RPT records of a domain, its
// policy and its pairs' compliance with the policy showed.
type MTASTSResult struct {
	// Record is the _mta-sts TXT record; RecordValid whether it is the one
	// valid v=STSv1 record; RecordError why not (empty when there is none).
	Record       string `json:"record,omitempty"`
	RecordID     string `json:"record_id,omitempty"`
	RecordValid  bool   `json:"record_valid"`
	RecordFound  bool   `json:"record_found"`
	RecordError  string `json:"record_error,omitempty"`
	RecordSecure bool   `json:"record_dnssec_secure"`
	// Fetch describes the policy fetch (nil: not tried, as without a
	// record); Policy is the parsed policy when the fetch succeeded.
	Fetch  *mtasts.Fetch  `json:"fetch,omitempty"`
	Policy *mtasts.Policy `json:"policy,omitempty"`
	// PatternsLeftOut counts the policy's mx patterns beyond the first 32,
	// which were matched against but are not kept.
	PatternsLeftOut int `json:"policy_patterns_left_out,omitempty"`
	// MX says for each probed MX host which pattern it matches.
	MX []MTASTSHost `json:"mx"`
	// Pairs says for each (MX, address) pair with an address whether it
	// complies, in the order of Result.Pairs (none without a policy).
	Pairs []*MTASTSPair `json:"pairs"`
	// TLSRPT is the _smtp._tls record and whether it is valid.
	TLSRPT      string   `json:"tlsrpt,omitempty"`
	TLSRPTValid bool     `json:"tlsrpt_valid"`
	TLSRPTError string   `json:"tlsrpt_error,omitempty"`
	TLSRPTRUA   []string `json:"tlsrpt_rua,omitempty"`
}

// MTASTSHost is one MX host against the policy's patterns.
type MTASTSHost struct {
	Host    string `json:"host"`
	Pattern string `json:"pattern,omitempty"`
	Match   bool   `json:"match"`
}

// MTASTSPair is one pair's compliance with the policy.
type MTASTSPair struct {
	MX        string     `json:"mx"`
	Address   netip.Addr `json:"address"`
	Compliant bool       `json:"compliant"`
	Why       string     `json:"why"`
}

// startMTASTS looks up the _mta-sts and _smtp._tls records and fetches
// the policy while the pairs are probed.
func (d *fanOut) startMTASTS() func() *MTASTSResult {
	ch := make(chan *MTASTSResult, 1)
	go func() { ch <- d.mtaSTS() }()
	return func() *MTASTSResult { return <-ch }
}

func (d *fanOut) mtaSTS() *MTASTSResult {
	out := &MTASTSResult{MX: []MTASTSHost{}, Pairs: []*MTASTSPair{}}
	domain := d.result.Domain
	done := make(chan struct{})
	go func() {
		defer close(done)
		txts, _, err := d.dns.LookupTXT(d.ctx, "_smtp._tls."+domain)
		if err != nil && !resolver.IsNotFound(err) {
			out.TLSRPTError = err.Error()
			return
		}
		rec, perr := mtasts.ParseTLSRPT(txts)
		switch {
		case errors.Is(perr, mtasts.ErrNoTLSRPT):
			out.TLSRPTError = "no TLS-RPT record"
		case perr != nil:
			out.TLSRPTError = perr.Error()
			out.TLSRPT = firstWithPrefix(txts, "v=TLSRPTv1")
		default:
			out.TLSRPT, out.TLSRPTValid, out.TLSRPTRUA = rec.Raw, true, rec.RUA
		}
	}()
	defer func() { <-done }()

	txts, ans, err := d.dns.LookupTXT(d.ctx, "_mta-sts."+domain)
	if ans != nil {
		out.RecordSecure = ans.Secure
	}
	if err != nil && !resolver.IsNotFound(err) {
		// Senders that cannot look the record up go on with a cached
		// policy or none; the record is not known valid.
		out.RecordError = err.Error()
		return out
	}
	rec, perr := mtasts.ParseRecord(txts)
	switch {
	case errors.Is(perr, mtasts.ErrNoRecord):
		return out
	case perr != nil:
		out.RecordFound = true
		out.RecordError = perr.Error()
		out.Record = firstWithPrefix(txts, "v=STSv1")
		// A malformed record: senders that have a policy cached keep it,
		// others see no MTA-STS. The policy is still fetched, to show it.
	default:
		out.RecordFound, out.RecordValid, out.Record, out.RecordID = true, true, rec.Raw, rec.ID
	}
	f := &mtasts.Fetcher{
		RootCAs:     d.module.Roots(),
		DialContext: d.dialPolicyHost,
		Now:         d.opts.Now,
	}
	pol, fe, err := f.Fetch(d.ctx, domain)
	out.Fetch = &fe
	if err == nil {
		out.Policy = &pol
	}
	return out
}

func firstWithPrefix(txts []string, prefix string) string {
	for _, t := range txts {
		if strings.HasPrefix(t, prefix) {
			return t
		}
	}
	return ""
}

// dialPolicyHost resolves mta-sts.DOMAIN through the module's DNS client
// and dials it after asking the allow-list, as every other connection.
func (d *fanOut) dialPolicyHost(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if a := d.opts.AllowList; a != nil {
		if err := a.AllowName(host); err != nil {
			return nil, fmt.Errorf("policy host refused by the allow-list: %w", err)
		}
	}
	a := d.dns.LookupAddrs(ctx, host)
	addrs, _ := d.choose(a.Addrs)
	if len(addrs) == 0 {
		if err := a.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s has no address", host)
	}
	ip := addrs[0]
	if a := d.opts.AllowList; a != nil {
		if err := a.AllowAddr(host, ip); err != nil {
			return nil, fmt.Errorf("policy host refused by the allow-list: %w", err)
		}
	}
	var dialer net.Dialer
	return dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
}

// finishMTASTS judges the MX hosts and pairs against the policy and adds
// the domain reasons: mta_sts_invalid for a record without a usable
// policy, mta_sts_violation for an enforced policy the domain breaks.
func (d *fanOut) finishMTASTS(m *MTASTSResult) {
	r := d.result
	r.MTASTS = m
	pol := m.Policy
	for _, h := range r.Hosts {
		if !h.Probed {
			continue
		}
		mh := MTASTSHost{Host: h.Name}
		if pol != nil {
			mh.Pattern, mh.Match = pol.Match(h.Name)
		}
		m.MX = append(m.MX, mh)
	}
	var broken []string
	for _, p := range r.Pairs {
		if !p.Address.IsValid() || pol == nil {
			continue
		}
		c := &MTASTSPair{MX: p.MX, Address: p.Address}
		c.Compliant, c.Why = complies(pol, p)
		if !c.Compliant {
			broken = append(broken, fmt.Sprintf("%s %s: %s", p.MX, p.Address, c.Why))
		}
		m.Pairs = append(m.Pairs, c)
		p.MTASTS = c
	}
	for _, h := range m.MX {
		if pol != nil && !h.Match {
			// The count, not the patterns: a policy may hold thousands.
			broken = append([]string{fmt.Sprintf("MX %s matches none of the policy's %d mx patterns", h.Host, len(pol.MX))}, broken...)
		}
	}
	var reason Reason
	var err error
	enforce := d.module.MTASTS == config.MTASTSEnforce
	switch {
	case enforce && !m.RecordFound && m.RecordError == "":
		reason, err = ReasonMTASTSNotEnforced, errors.New("mta_sts: enforce, but the domain publishes no _mta-sts record: MTA-STS protects none of its mail")
	case m.RecordFound && pol == nil:
		why := m.RecordError
		if m.Fetch != nil && m.Fetch.Err != "" {
			why = m.Fetch.Err
		}
		reason, err = ReasonMTASTSInvalid, fmt.Errorf("MTA-STS record published, but no usable policy: %s", why)
	case m.RecordFound && !m.RecordValid:
		reason, err = ReasonMTASTSInvalid, fmt.Errorf("MTA-STS record: %s", m.RecordError)
	case enforce && pol != nil && pol.Mode != mtasts.ModeEnforce:
		reason, err = ReasonMTASTSNotEnforced, fmt.Errorf("mta_sts: enforce, but the policy's mode is %s: senders deliver whatever it says", pol.Mode)
	case pol != nil && pol.Mode == mtasts.ModeEnforce && len(broken) > 0:
		reason, err = ReasonMTASTSViolation, fmt.Errorf("MTA-STS policy in enforce mode: senders do not deliver to %s", listed(broken))
	case pol != nil && pol.Mode == mtasts.ModeTesting && len(broken) > 0:
		d.warn(WarningMTASTSTesting, fmt.Sprintf("MTA-STS policy in testing mode would refuse: %s", listed(broken)))
	}
	if reason == "" {
		return
	}
	if r.Failure == "" {
		d.fail(reason, err)
		return
	}
	d.warn(string(reason), fmt.Sprintf("%s: %v", reason, err))
}

// complies applies RFC 8461 §4 and §5 to one pair: its MX host matches a
// pattern, and (enforce, testing) the session had TLS 1.2 or later with a
// certificate valid for the MX host name.
func complies(pol *mtasts.Policy, p *Pair) (bool, string) {
	if _, ok := pol.Match(p.MX); !ok {
		return false, "the MX host matches no mx pattern"
	}
	if pol.Mode == mtasts.ModeNone {
		return true, "mode none: only the pattern counts"
	}
	t := p.Result.TLS
	switch {
	case t == nil:
		return false, "no TLS session"
	case t.Version < tls.VersionTLS12:
		return false, t.Version.String() + " is older than TLS 1.2"
	case !t.Verified:
		return false, "the certificate is not valid: " + t.VerifyError
	case !strings.EqualFold(strings.TrimSuffix(t.ServerName, "."), p.MX):
		return false, fmt.Sprintf("the certificate was verified for %s, not the MX host", t.ServerName)
	}
	return true, fmt.Sprintf("%s, certificate valid for %s", t.Version, p.MX)
}
