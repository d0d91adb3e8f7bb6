package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
)

func zone(t *testing.T) *dnstest.Server {
	t.Helper()
	s := dnstest.Start(t,
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 10 MX1.Example.Test.",
		"example.test. 300 IN MX 10 mx0.example.test.",
		"example.test. 300 IN TXT \"v=STSv1; \" \"id=1\"",
		"mx1.example.test. 300 IN A 127.0.0.2",
		"mx1.example.test. 300 IN AAAA ::1",
		"mx1.example.test. 300 IN A 127.0.0.3",
		"mx2.example.test. 300 IN AAAA ::1",
		"mx0.example.test. 300 IN A 127.0.0.4",
		"null.test. 300 IN MX 0 .",
		"nomx.test. 300 IN A 127.0.0.5",
		"servfail.test. 300 IN A 127.0.0.6",
		"alias.test. 300 IN CNAME mx1.example.test.",
		"loop1.test. 300 IN CNAME loop2.test.",
		"loop2.test. 300 IN CNAME loop1.test.",
		"outside.test. 300 IN CNAME mx0.example.test.",
		"dangling.test. 300 IN CNAME nomx.test.",
		"secure.test. 300 IN A 127.0.0.7",
		"tc.test. 300 IN A 127.0.0.8",
		"tctcp.test. 300 IN A 127.0.0.8",
		"wrong.test. 300 IN A 127.0.0.8",
		"silent.test. 300 IN A 127.0.0.8",
		"5.0.0.127.in-addr.arpa. 300 IN PTR NoMX.test.",
	)
	for i := range 20 {
		s.Add(t, fmt.Sprintf("chain%d.test. 300 IN CNAME chain%d.test.", i, i+1))
	}
	s.Add(t, "chain20.test. 300 IN A 127.0.0.9")
	for i := range 200 {
		s.Add(t, fmt.Sprintf("huge.test. 300 IN A 10.0.%d.%d", i/250, i%250+1))
	}
	for i := range 60 {
		s.Add(t, fmt.Sprintf("big.test. 300 IN AAAA 2001:db8::%x", i+1))
	}
	s.Set(s.ServFail, "servfail.test")
	s.Set(s.Secure, "secure.test")
	s.Set(s.TruncateUDP, "tc.test")
	s.Set(s.TruncateUDP, "tctcp.test")
	s.Set(s.TruncateTCP, "tctcp.test")
	s.Set(s.WrongQuestion, "wrong.test")
	s.Set(s.Silent, "silent.test")
	s.Set(s.NoChase, "outside.test")
	return s
}

func newResolver(t *testing.T, s *dnstest.Server) *Resolver {
	t.Helper()
	r, err := New(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestQuery(t *testing.T) {
	s := zone(t)
	r := newResolver(t, s)
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		kind      Kind
		records   int
		canonical string
		secure    bool
		tcp       bool
		errText   string
	}{
		{name: "A", qname: "mx1.example.test", qtype: dns.TypeA, records: 2, canonical: "mx1.example.test"},
		{name: "AAAA", qname: "mx2.example.test.", qtype: dns.TypeAAAA, records: 1, canonical: "mx2.example.test"},
		{name: "upper case question", qname: "MX1.EXAMPLE.TEST", qtype: dns.TypeA, records: 2, canonical: "mx1.example.test"},
		{name: "NODATA", qname: "nomx.test", qtype: dns.TypeMX, kind: KindNoData, canonical: "nomx.test", errText: "nomx.test has no MX records"},
		{name: "NXDOMAIN", qname: "nowhere.test", qtype: dns.TypeMX, kind: KindNXDomain, errText: "nowhere.test does not exist (NXDOMAIN)"},
		{name: "SERVFAIL", qname: "servfail.test", qtype: dns.TypeA, kind: KindServFail, errText: "answered SERVFAIL"},
		{name: "AD bit", qname: "secure.test", qtype: dns.TypeA, records: 1, secure: true, canonical: "secure.test"},
		{name: "CNAME followed in the answer", qname: "alias.test", qtype: dns.TypeA, records: 2, canonical: "mx1.example.test"},
		{name: "CNAME followed by asking again", qname: "outside.test", qtype: dns.TypeA, records: 1, canonical: "mx0.example.test"},
		{name: "CNAME to a name without the type", qname: "dangling.test", qtype: dns.TypeMX, kind: KindNoData, canonical: "nomx.test"},
		{name: "CNAME loop", qname: "loop1.test", qtype: dns.TypeA, kind: KindBadAnswer, errText: "CNAME loop at loop1.test"},
		{name: "CNAME chain too long", qname: "chain0.test", qtype: dns.TypeA, kind: KindBadAnswer, errText: "CNAME chain longer than 8"},
		{name: "truncated, retried over TCP", qname: "tc.test", qtype: dns.TypeA, records: 1, tcp: true, canonical: "tc.test"},
		{name: "large answer comes over TCP", qname: "big.test", qtype: dns.TypeAAAA, records: 60, tcp: true, canonical: "big.test"},
		{name: "truncated over TCP too", qname: "tctcp.test", qtype: dns.TypeA, kind: KindTruncated, errText: "truncated over UDP, and over TCP"},
		{name: "huge answer", qname: "huge.test", qtype: dns.TypeA, kind: KindBadAnswer, errText: "more than 64 A records"},
		{name: "answer to another question", qname: "wrong.test", qtype: dns.TypeA, kind: KindBadAnswer, errText: "another question"},
		{name: "name too long", qname: strings.Repeat("a.", 130) + "test", qtype: dns.TypeA, kind: KindBadAnswer, errText: "longer than 253"},
		{name: "not a name", qname: "a..b", qtype: dns.TypeA, kind: KindBadAnswer, errText: "not a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := r.Query(t.Context(), tt.qname, tt.qtype)
			if got := KindOf(err); got != tt.kind {
				t.Fatalf("kind = %q, want %q (err %v)", got, tt.kind, err)
			}
			if tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)) {
				t.Errorf("error %v does not say %q", err, tt.errText)
			}
			if tt.kind == "" || tt.kind == KindNoData {
				if ans == nil {
					t.Fatal("no answer")
				}
				if len(ans.Records) != tt.records {
					t.Errorf("%d records, want %d", len(ans.Records), tt.records)
				}
				if ans.Canonical != tt.canonical {
					t.Errorf("canonical %q, want %q", ans.Canonical, tt.canonical)
				}
				if ans.Secure != tt.secure {
					t.Errorf("secure %v, want %v", ans.Secure, tt.secure)
				}
				if ans.TCP != tt.tcp {
					t.Errorf("tcp %v, want %v", ans.TCP, tt.tcp)
				}
			}
		})
	}
}

func TestQueryAsksWithDNSSECOK(t *testing.T) {
	s := zone(t)
	r := newResolver(t, s)
	if _, err := r.Query(t.Context(), "tc.test", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	qs := s.Queries()
	if len(qs) != 2 || qs[0].Net != "udp" || qs[1].Net != "tcp" {
		t.Fatalf("queries %+v, want one over UDP then one over TCP", qs)
	}
	for _, q := range qs {
		if !q.Edns0 || !q.DO || !q.AD || q.Size != udpSize {
			t.Errorf("query %+v lacks EDNS0 with DO, AD or the buffer size", q)
		}
	}
}

func TestQueryTimeout(t *testing.T) {
	s := zone(t)
	r := newResolver(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Query(ctx, "silent.test", dns.TypeA)
	if KindOf(err) != KindTimeout {
		t.Fatalf("err %v, want a timeout", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("the query outlived its context")
	}
}

func TestQueryCancelled(t *testing.T) {
	s := zone(t)
	r := newResolver(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := r.Query(ctx, "silent.test", dns.TypeA)
	if KindOf(err) != KindTimeout {
		t.Fatalf("err %v, want a timeout", err)
	}
}

func TestQueryNetworkError(t *testing.T) {
	// Nothing listens on TCP port 9 of 127.0.0.1; a refused TCP connection
	// after a truncated answer is the network's fault.
	r, err := New("127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	r.timeout = 300 * time.Millisecond
	_, err = r.Query(t.Context(), "example.test", dns.TypeMX)
	if k := KindOf(err); k != KindNetwork && k != KindTimeout {
		t.Fatalf("err %v (kind %q), want network or timeout", err, k)
	}
}

func TestLookupMX(t *testing.T) {
	r := newResolver(t, zone(t))
	mxs, ans, err := r.LookupMX(t.Context(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := []MX{{"mx0.example.test", 10}, {"mx1.example.test", 10}, {"mx2.example.test", 20}}
	if !slices.Equal(mxs, want) {
		t.Errorf("MX %v, want %v", mxs, want)
	}
	if ans.Secure {
		t.Error("insecure answer reported secure")
	}

	mxs, _, err = r.LookupMX(t.Context(), "null.test")
	if err != nil || len(mxs) != 1 || !mxs[0].IsNull() {
		t.Errorf("null MX: %v, %v", mxs, err)
	}
	_, _, err = r.LookupMX(t.Context(), "nomx.test")
	if KindOf(err) != KindNoData || !IsNotFound(err) {
		t.Errorf("no MX: %v, want NODATA", err)
	}
}

func TestLookupAddrs(t *testing.T) {
	r := newResolver(t, zone(t))
	tests := []struct {
		host    string
		addrs   []string
		errKind Kind
	}{
		{"mx1.example.test", []string{"127.0.0.2", "127.0.0.3", "::1"}, ""},
		{"mx2.example.test", []string{"::1"}, ""},
		{"mx0.example.test", []string{"127.0.0.4"}, ""},
		{"example.test", nil, KindNoData},
		{"nowhere.test", nil, KindNXDomain},
		{"servfail.test", nil, KindServFail},
		{"huge.test", nil, KindBadAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			a := r.LookupAddrs(t.Context(), tt.host)
			var got []string
			for _, ip := range a.Addrs {
				got = append(got, ip.String())
			}
			if !slices.Equal(got, tt.addrs) {
				t.Errorf("addresses %v, want %v", got, tt.addrs)
			}
			if k := KindOf(a.Err()); k != tt.errKind {
				t.Errorf("Err() = %v, want kind %q", a.Err(), tt.errKind)
			}
		})
	}
}

func TestLookupAddrsPartial(t *testing.T) {
	s := zone(t)
	s.Add(t, "half.test. 300 IN A 127.0.0.10")
	r := newResolver(t, s)
	// The AAAA question times out; the A answer still counts.
	s.Set(s.Silent, "half.test")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	a := r.LookupAddrs(ctx, "half.test")
	if a.Err() == nil {
		t.Fatal("no error for a silent server")
	}
	s2 := dnstest.Start(t, "half.test. 300 IN A 127.0.0.10", "half.test. 300 IN AAAA ::1")
	s2.Set(s2.Secure, "half.test")
	a = newResolver(t, s2).LookupAddrs(t.Context(), "half.test")
	if a.Err() != nil || a.Partial() != nil || !a.Secure() || len(a.Addrs) != 2 {
		t.Errorf("got %+v", a)
	}
	if a.Addrs[0] != netip.MustParseAddr("127.0.0.10") {
		t.Errorf("IPv4 first: %v", a.Addrs)
	}
}

func TestLookupTXTAndPTR(t *testing.T) {
	r := newResolver(t, zone(t))
	txt, _, err := r.LookupTXT(t.Context(), "example.test")
	if err != nil || !slices.Equal(txt, []string{"v=STSv1; id=1"}) {
		t.Errorf("TXT %q, %v", txt, err)
	}
	names, _, err := r.LookupPTR(t.Context(), netip.MustParseAddr("127.0.0.5"))
	if err != nil || !slices.Equal(names, []string{"nomx.test"}) {
		t.Errorf("PTR %q, %v", names, err)
	}
	_, _, err = r.LookupPTR(t.Context(), netip.MustParseAddr("127.0.0.6"))
	if KindOf(err) != KindNXDomain {
		t.Errorf("PTR of an unknown address: %v", err)
	}
}

func TestServers(t *testing.T) {
	s, err := SystemServer("testdata/resolv.conf")
	if err != nil || s != "192.0.2.53:53" {
		t.Errorf("SystemServer = %q, %v", s, err)
	}
	if _, err := SystemServer("testdata/resolv-none.conf"); err == nil || !strings.Contains(err.Error(), "names no nameserver") {
		t.Errorf("no nameserver: %v", err)
	}
	if _, err := SystemServer("testdata/missing.conf"); err == nil {
		t.Error("missing file: no error")
	}
	for in, want := range map[string]string{
		"127.0.0.1:5353": "127.0.0.1:5353",
		"127.0.0.1":      "127.0.0.1:53",
		"::1":            "[::1]:53",
		"[::1]:5353":     "[::1]:5353",
	} {
		if got, err := NormalizeServer(in); err != nil || got != want {
			t.Errorf("NormalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "dns.example:53", ":53"} {
		if _, err := NormalizeServer(in); err == nil {
			t.Errorf("NormalizeServer(%q): no error", in)
		}
	}
}

func TestErrorUnwraps(t *testing.T) {
	e := &Error{Kind: KindTimeout, Name: "x", Type: "A", Server: "s", Err: context.DeadlineExceeded}
	if !errors.Is(e, context.DeadlineExceeded) {
		t.Error("Error does not unwrap")
	}
}
