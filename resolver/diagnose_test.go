package resolver

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		e    Evidence
		want Cause
	}{
		{"answered", Evidence{}, ""},
		{"NODATA is an answer", Evidence{Kind: KindNoData, KnownGoodAsked: true}, ""},
		{"NXDOMAIN", Evidence{Kind: KindNXDomain, KnownGoodAsked: true}, CauseNXDomain},
		{"NXDOMAIN, no time to check the resolver", Evidence{Kind: KindNXDomain}, CauseNXDomain},
		{
			"NXDOMAIN for the known-good name too: the resolver lies",
			Evidence{Kind: KindNXDomain, KnownGoodAsked: true, KnownGoodFailed: true},
			CauseResolver,
		},
		{"SERVFAIL with EDE 6 DNSSEC Bogus", Evidence{Kind: KindServFail, EDE: []uint16{6}, KnownGoodAsked: true}, CauseBogus},
		{"SERVFAIL with EDE 7 Signature Expired", Evidence{Kind: KindServFail, EDE: []uint16{7}, KnownGoodAsked: true}, CauseBogus},
		{"SERVFAIL with EDE 12 NSEC Missing", Evidence{Kind: KindServFail, EDE: []uint16{22, 12}, KnownGoodAsked: true}, CauseBogus},
		{"EDE 6 without time to check the resolver", Evidence{Kind: KindServFail, EDE: []uint16{6}}, CauseBogus},
		{"SERVFAIL that CD=1 answers", Evidence{Kind: KindServFail, CDAsked: true, CDAnswered: true, KnownGoodAsked: true}, CauseBogus},
		{"SERVFAIL that CD=1 does not answer", Evidence{Kind: KindServFail, CDAsked: true, KnownGoodAsked: true}, CauseNameServers},
		{"EDE 1 unsupported algorithm is insecure, not bogus", Evidence{Kind: KindServFail, EDE: []uint16{1}, CDAsked: true, KnownGoodAsked: true}, CauseNameServers},
		{"EDE 22 No Reachable Authority", Evidence{Kind: KindServFail, EDE: []uint16{22}, CDAsked: true, KnownGoodAsked: true}, CauseNameServers},
		{"EDE 13 cached error is not a validation failure", Evidence{Kind: KindServFail, EDE: []uint16{13}, KnownGoodAsked: true}, CauseNameServers},
		{
			"every signature expired, the known-good one too: the resolver's clock",
			Evidence{Kind: KindServFail, EDE: []uint16{7}, KnownGoodAsked: true, KnownGoodFailed: true},
			CauseResolver,
		},
		{"timeout, the resolver answers the known-good name", Evidence{Kind: KindTimeout, KnownGoodAsked: true}, CauseNameServers},
		{"timeout, the known-good name times out too", Evidence{Kind: KindTimeout, KnownGoodAsked: true, KnownGoodFailed: true}, CauseResolver},
		{"refused by the resolver", Evidence{Kind: KindRefused, KnownGoodAsked: true, KnownGoodFailed: true}, CauseResolver},
		{"network error, not checked", Evidence{Kind: KindNetwork}, CauseUnknown},
		{"a hostile answer", Evidence{Kind: KindBadAnswer, KnownGoodAsked: true}, CauseNameServers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.e); got != tt.want {
				t.Errorf("Classify(%+v) = %q, want %q", tt.e, got, tt.want)
			}
		})
	}
}

func TestExtendedErrorBogus(t *testing.T) {
	for code := range uint16(30) {
		want := code >= 6 && code <= 12
		if got := (ExtendedError{Code: code}).Bogus(); got != want {
			t.Errorf("EDE %d: Bogus() = %v, want %v", code, got, want)
		}
	}
}

// diagnosisZone is a resolver's view: a healthy known-good name, a bogus
// name with and without an Extended DNS Error, a name whose servers fail.
func diagnosisZone(t *testing.T) *dnstest.Server {
	t.Helper()
	s := dnstest.Start(t,
		"good.test. 300 IN SOA ns.good.test. hostmaster.good.test. 1 3600 600 86400 300",
		"bogus.test. 300 IN MX 10 mx.bogus.test.",
		"expired.test. 300 IN MX 10 mx.expired.test.",
		"lame.test. 300 IN MX 10 mx.lame.test.",
		"silent.test. 300 IN MX 10 mx.silent.test.",
		"mx.ok.test. 300 IN A 127.0.0.1",
	)
	s.Set(s.Secure, "good.test")
	s.Set(s.Bogus, "bogus.test")
	s.Set(s.ServFail, "expired.test")
	s.SetEDE("expired.test", dns.ExtendedErrorCodeSignatureExpired)
	s.Set(s.ServFail, "lame.test")
	s.Set(s.Silent, "silent.test")
	return s
}

func TestDiagnose(t *testing.T) {
	s := diagnosisZone(t)
	r := newResolver(t, s)
	if err := r.SetKnownGoodName("good.test."); err != nil {
		t.Fatal(err)
	}
	r.timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		qname   string
		cause   Cause
		cdAsked bool
		ede     []uint16
		says    string
	}{
		{"bogus: CD=1 answers", "bogus.test", CauseBogus, true, nil, "asked again with CD=1 (no validation) it is answered"},
		{"bogus: EDE 7, no CD question needed", "expired.test", CauseBogus, false, []uint16{7}, "fails DNSSEC validation"},
		{"SERVFAIL, healthy resolver: the name servers", "lame.test", CauseNameServers, true, nil, "known-good name good.test"},
		{"timeout, healthy resolver", "silent.test", CauseNameServers, false, nil, "the name's own servers fail"},
		{"NXDOMAIN", "nowhere.test", CauseNXDomain, false, nil, "does not exist"},
		{"answered", "mx.ok.test", "", false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qtype := dns.TypeMX
			if strings.HasPrefix(tt.qname, "mx.") {
				qtype = dns.TypeA
			}
			_, err := r.Query(t.Context(), tt.qname, qtype)
			d := r.Diagnose(t.Context(), err)
			if d.Cause != tt.cause {
				t.Fatalf("cause %q, want %q (%+v, err %v)", d.Cause, tt.cause, d, err)
			}
			if d.Evidence.CDAsked != tt.cdAsked {
				t.Errorf("CD question asked: %v, want %v", d.Evidence.CDAsked, tt.cdAsked)
			}
			if len(d.Evidence.EDE) != len(tt.ede) || len(tt.ede) > 0 && d.Evidence.EDE[0] != tt.ede[0] {
				t.Errorf("EDE %v, want %v", d.Evidence.EDE, tt.ede)
			}
			if !strings.Contains(d.String(), tt.says) {
				t.Errorf("diagnosis %q does not say %q", d.String(), tt.says)
			}
			if tt.cause != "" && !d.Health.OK() || tt.cause != "" && !d.Health.Secure {
				t.Errorf("known-good check %+v, want answered and secure", d.Health)
			}
		})
	}
	// The CD question really carried the bit, and only it.
	var cd []string
	for _, q := range s.Queries() {
		if q.CD {
			cd = append(cd, q.Name)
		}
	}
	if strings.Join(cd, " ") != "bogus.test. lame.test." {
		t.Errorf("questions with CD=1: %v, want bogus.test. and lame.test. only", cd)
	}
}

// TestDiagnoseResolverDown: a resolver that fails every name is the
// monitor's fault, whatever the name asked.
func TestDiagnoseResolverDown(t *testing.T) {
	t.Run("SERVFAIL for everything", func(t *testing.T) {
		s := dnstest.Start(t)
		s.Set(s.ServFail, "example.test")
		s.Set(s.ServFail, ".")
		r := newResolver(t, s)
		_, err := r.Query(t.Context(), "example.test", dns.TypeMX)
		d := r.Diagnose(t.Context(), err)
		if d.Cause != CauseResolver {
			t.Fatalf("cause %q, want %q (%+v)", d.Cause, CauseResolver, d)
		}
		if !strings.Contains(d.String(), "known-good name . too") {
			t.Errorf("diagnosis %q does not name the root as the known-good name", d)
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		// A UDP port that was just free: questions go unanswered (or are
		// refused with ICMP), the known-good one too.
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		r, err := New(addr)
		if err != nil {
			t.Fatal(err)
		}
		r.timeout = 200 * time.Millisecond
		_, qerr := r.Query(t.Context(), "example.test", dns.TypeMX)
		d := r.Diagnose(t.Context(), qerr)
		if d.Cause != CauseResolver {
			t.Fatalf("cause %q, want %q (%+v, err %v)", d.Cause, CauseResolver, d, qerr)
		}
	})
	t.Run("no time left to check", func(t *testing.T) {
		s := dnstest.Start(t)
		s.Set(s.ServFail, "example.test")
		r := newResolver(t, s)
		_, err := r.Query(t.Context(), "example.test", dns.TypeMX)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		d := r.Diagnose(ctx, err)
		if d.Cause != CauseUnknown || d.Evidence.KnownGoodAsked || d.Evidence.CDAsked {
			t.Fatalf("diagnosis %+v, want unknown with nothing asked", d)
		}
	})
}

func TestHealth(t *testing.T) {
	s := dnstest.Start(t,
		"signed.test. 300 IN SOA ns.signed.test. h.signed.test. 1 3600 600 86400 300",
		"plain.test. 300 IN SOA ns.plain.test. h.plain.test. 1 3600 600 86400 300",
		"www.plain.test. 300 IN A 127.0.0.1",
	)
	s.Set(s.Secure, "signed.test")
	r := newResolver(t, s)
	tests := []struct {
		name         string
		ok, secure   bool
		errSays      string
		knownGoodErr string
	}{
		{name: "signed.test", ok: true, secure: true},
		{name: "PLAIN.test.", ok: true},
		{name: "www.plain.test", ok: true}, // not an apex: NODATA is an answer
		{name: "missing.test", errSays: "does not exist"},
		{name: "a..b", knownGoodErr: "not a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.SetKnownGoodName(tt.name)
			if tt.knownGoodErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.knownGoodErr) {
					t.Fatalf("SetKnownGoodName(%q) = %v, want %q", tt.name, err, tt.knownGoodErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := r.Health(t.Context())
			if h.OK() != tt.ok || h.Secure != tt.secure {
				t.Errorf("Health() = %+v, want ok %v, secure %v", h, tt.ok, tt.secure)
			}
			if tt.errSays != "" && (h.Err == nil || !strings.Contains(h.Err.Error(), tt.errSays)) {
				t.Errorf("error %v does not say %q", h.Err, tt.errSays)
			}
		})
	}
	if err := r.SetKnownGoodName(""); err != nil || r.KnownGoodName() != "." {
		t.Errorf("the default known-good name is %q (%v), want the root", r.KnownGoodName(), err)
	}
}

// TestExtendedErrorsBounded: a server's Extended DNS Errors are kept few,
// short and printable, whatever it sends.
func TestExtendedErrorsBounded(t *testing.T) {
	m := new(dns.Msg)
	m.SetEdns0(4096, true)
	opt := m.IsEdns0()
	for i := range 50 {
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: uint16(i), ExtraText: strings.Repeat("\x1b[31mX", 500)})
	}
	got := extendedErrors(m)
	if len(got) != maxExtendedErrors {
		t.Fatalf("%d errors kept, want %d", len(got), maxExtendedErrors)
	}
	for _, e := range got {
		if len(e.Text) > maxExtendedErrorText || strings.ContainsAny(e.Text, "\x1b") {
			t.Errorf("text not bounded or not printable: %q", e.Text)
		}
	}
	if s := got[1].String(); !strings.HasPrefix(s, "EDE 1 Unsupported DNSKEY Algorithm: ?[31mX") {
		t.Errorf("String() = %q", s)
	}
	if extendedErrors(nil) != nil || extendedErrors(new(dns.Msg)) != nil {
		t.Error("a message without OPT has Extended DNS Errors")
	}
}

// TestErrorNamesExtendedError: the error text shows the server's reason.
func TestErrorNamesExtendedError(t *testing.T) {
	s := diagnosisZone(t)
	r := newResolver(t, s)
	_, err := r.Query(t.Context(), "expired.test", dns.TypeMX)
	if want := "answered SERVFAIL (EDE 7 Signature Expired: validation failure <expired.test.>)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to say %q", err, want)
	}
	if ede := ExtendedErrorsOf(err); len(ede) != 1 || ede[0].Code != 7 {
		t.Errorf("ExtendedErrorsOf = %v", ede)
	}
}

// TestDiagnoserAsksKnownGoodOnce: a probe whose questions all fail asks
// the resolver's health once.
func TestDiagnoserAsksKnownGoodOnce(t *testing.T) {
	s := dnstest.Start(t, "good.test. 300 IN SOA ns.good.test. h.good.test. 1 3600 600 86400 300")
	s.Set(s.ServFail, "a.test")
	s.Set(s.ServFail, "b.test")
	r := newResolver(t, s)
	if err := r.SetKnownGoodName("good.test"); err != nil {
		t.Fatal(err)
	}
	g := r.Diagnoser()
	for _, name := range []string{"a.test", "b.test"} {
		_, err := r.Query(t.Context(), name, dns.TypeA)
		if d := g.Diagnose(t.Context(), err); d.Cause != CauseNameServers {
			t.Errorf("%s: cause %q, want %q", name, d.Cause, CauseNameServers)
		}
	}
	asked := 0
	for _, q := range s.Queries() {
		if q.Name == "good.test." {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("the known-good name was asked %d times, want once", asked)
	}
}
