package maildomain

import (
	"net/netip"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/mtasts"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// TestRequireTLSReady: RFC 8689's readiness from what the probe saw.
func TestRequireTLSReady(t *testing.T) {
	ehlo := func(keywords ...string) *prober.EHLOInfo {
		e := &prober.EHLOInfo{}
		for _, k := range keywords {
			e.Extensions = append(e.Extensions, prober.Extension{Keyword: k})
		}
		return e
	}
	pair := func(requiretls bool, daneStatus dane.Status, compliant *bool) *Pair {
		res := &prober.Result{Success: true, Encrypted: true, EHLOTLS: ehlo("PIPELINING")}
		if requiretls {
			res.EHLOTLS = ehlo("PIPELINING", "REQUIRETLS")
		}
		if daneStatus != "" {
			res.DANE = &prober.DANEResult{Result: dane.Result{Status: daneStatus}}
		}
		p := &Pair{MX: "mx.example.com", Address: netip.MustParseAddr("192.0.2.1"), Result: res}
		if compliant != nil {
			p.MTASTS = &MTASTSPair{Compliant: *compliant}
		}
		return p
	}
	yes, no := true, false
	enforce := &MTASTSResult{Policy: &mtasts.Policy{Mode: mtasts.ModeEnforce}}
	testingMode := &MTASTSResult{Policy: &mtasts.Policy{Mode: mtasts.ModeTesting}}
	plain := pair(true, dane.StatusValidated, nil)
	plain.Result.Encrypted = false
	cases := []struct {
		name  string
		pairs []*Pair
		sts   *MTASTSResult
		want  bool
	}{
		{"DANE validated everywhere", []*Pair{pair(true, dane.StatusValidated, nil), pair(true, dane.StatusValidated, nil)}, nil, true},
		{"MTA-STS enforce, compliant", []*Pair{pair(true, dane.StatusNone, &yes)}, enforce, true},
		{"one address without REQUIRETLS", []*Pair{pair(true, dane.StatusValidated, nil), pair(false, dane.StatusValidated, nil)}, nil, false},
		{"DANE on one, nothing on the other", []*Pair{pair(true, dane.StatusValidated, nil), pair(true, dane.StatusInsecure, nil)}, nil, false},
		{"MTA-STS in testing mode", []*Pair{pair(true, "", &yes)}, testingMode, false},
		{"MTA-STS enforce, not compliant", []*Pair{pair(true, "", &no)}, enforce, false},
		{"REQUIRETLS advertised in clear text only", []*Pair{plain}, nil, false},
		{"an MX host without an address", []*Pair{pair(true, dane.StatusValidated, nil), {MX: "ghost.example.com", Result: &prober.Result{}}}, nil, false},
		{"no pairs (a null MX)", nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := requireTLSReady(&Result{Pairs: tc.pairs, MTASTS: tc.sts}); got != tc.want {
				t.Errorf("requireTLSReady = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNoAddressReason(t *testing.T) {
	cases := []struct {
		causes []resolver.Cause
		want   Reason
	}{
		{nil, ReasonNoAddress},
		{[]resolver.Cause{""}, ReasonNoAddress},
		{[]resolver.Cause{resolver.CauseNXDomain}, ReasonNoAddress},
		{[]resolver.Cause{resolver.CauseBogus}, ReasonDNSSECBogus},
		{[]resolver.Cause{resolver.CauseNXDomain, resolver.CauseBogus}, ReasonDNSSECBogus},
		{[]resolver.Cause{resolver.CauseResolver, resolver.CauseResolver}, ReasonResolverFailed},
		{[]resolver.Cause{resolver.CauseResolver, resolver.CauseNameServers}, ReasonNoAddress},
	}
	for _, tc := range cases {
		if got := noAddressReason(tc.causes); got != tc.want {
			t.Errorf("noAddressReason(%v) = %q, want %q", tc.causes, got, tc.want)
		}
	}
}
