package prober

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestReverseDNS probes a server on 127.0.0.2 (which /etc/hosts does not
// name) with an in-process DNS server holding its PTR records.
func TestReverseDNS(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.2")
	other := netip.MustParseAddr("127.0.0.3")
	cases := []struct {
		name     string
		zone     smtptest.Zone
		greeting string
		want     ReverseDNSInfo
		banner   string
	}{
		{
			name:     "forward-confirmed, banner matches",
			zone:     smtptest.Zone{PTR: map[netip.Addr][]string{addr: {"MX.Example.Test."}}, Hosts: map[string][]netip.Addr{"mx.example.test": {addr}}},
			greeting: "220 mx.example.test ESMTP\r\n",
			want:     ReverseDNSInfo{Conclusive: true, PTR: []string{"mx.example.test"}, ConfirmedPTR: []string{"mx.example.test"}, FCrDNS: true, BannerMatchesPTR: true},
			banner:   "mx.example.test",
		},
		{
			name:     "PTR resolves elsewhere, banner differs",
			zone:     smtptest.Zone{PTR: map[netip.Addr][]string{addr: {"dyn-127-0-0-2.isp.test"}}, Hosts: map[string][]netip.Addr{"dyn-127-0-0-2.isp.test": {other}}},
			greeting: "220-mail.example.test ESMTP\r\n220 hello\r\n",
			want:     ReverseDNSInfo{Conclusive: true, PTR: []string{"dyn-127-0-0-2.isp.test"}},
			banner:   "mail.example.test",
		},
		{
			name:     "two PTR names, the second confirms",
			zone:     smtptest.Zone{PTR: map[netip.Addr][]string{addr: {"a.example.test", "b.example.test"}}, Hosts: map[string][]netip.Addr{"b.example.test": {other, addr}}},
			greeting: "220 a.example.test\r\n",
			want: ReverseDNSInfo{
				Conclusive: true, PTR: []string{"a.example.test", "b.example.test"}, ConfirmedPTR: []string{"b.example.test"},
				FCrDNS: true, BannerMatchesPTR: true,
			},
			banner: "a.example.test",
		},
		{
			name:     "no PTR record (NXDOMAIN)",
			zone:     smtptest.Zone{},
			greeting: "220 mx.example.test ESMTP\r\n",
			want:     ReverseDNSInfo{Conclusive: true},
			banner:   "mx.example.test",
		},
		{
			name:     "PTR lookup fails (SERVFAIL)",
			zone:     smtptest.Zone{ServFail: []string{"2.0.0.127.in-addr.arpa"}},
			greeting: "220 mx.example.test ESMTP\r\n",
			want:     ReverseDNSInfo{},
			banner:   "mx.example.test",
		},
		{
			// A hostile greeting cannot put control characters or an
			// endless name into a label value.
			name:     "hostile greeting name",
			zone:     smtptest.Zone{},
			greeting: "220 " + strings.Repeat("x", 600) + "\x1b[31m ESMTP\r\n",
			want:     ReverseDNSInfo{Conclusive: true},
			banner:   strings.Repeat("x", 200),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServerAt(t, addr.String(), smtptest.Config{Greeting: tc.greeting})
			zone := smtptest.NewZoneResolver(t, tc.zone)
			m := testModule(t, "tls: none\nreverse_dns: true")
			r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", m, nil, Options{Resolver: zone})
			expect(t, "success", r.Success, true)
			if !strings.HasPrefix(r.BannerHostname, tc.banner) || len(r.BannerHostname) > maxHostnameBytes {
				t.Errorf("banner hostname %q, want %q (at most %d bytes)", r.BannerHostname, tc.banner, maxHostnameBytes)
			}
			got := r.ReverseDNS
			if got == nil {
				t.Fatal("no reverse DNS result")
			}
			expect(t, "conclusive", got.Conclusive, tc.want.Conclusive)
			expect(t, "PTR", strings.Join(got.PTR, ","), strings.Join(tc.want.PTR, ","))
			expect(t, "confirmed", strings.Join(got.ConfirmedPTR, ","), strings.Join(tc.want.ConfirmedPTR, ","))
			expect(t, "FCrDNS", got.FCrDNS, tc.want.FCrDNS)
			expect(t, "banner matches PTR", got.BannerMatchesPTR, tc.want.BannerMatchesPTR)
			expect(t, "error set", got.Error != "", !tc.want.Conclusive)
			if !strings.Contains(transcriptText(r), "reverse DNS") {
				t.Errorf("the transcript does not mention reverse DNS:\n%s", transcriptText(r))
			}
		})
	}
}

// Without reverse_dns nothing is looked up; the greeting's name is still kept.
func TestReverseDNSOff(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", testModule(t, "tls: none"), nil, Options{})
	expect(t, "reverse DNS", r.ReverseDNS == nil, true)
	expect(t, "banner hostname", r.BannerHostname, "fake.test")
}

// With a dns section the lookups go to the module's server, not the
// system's resolver: the PTR question arrives at the test server.
func TestReverseDNSModuleServer(t *testing.T) {
	dnsSrv := dnstest.Start(t,
		"2.0.0.127.in-addr.arpa. 300 IN PTR mx.example.test.",
		"mx.example.test. 300 IN A 127.0.0.2",
	)
	srv := smtptest.NewServerAt(t, "127.0.0.2", smtptest.Config{Greeting: "220 mx.example.test ESMTP\r\n"})
	m := testModule(t, "tls: none\nreverse_dns: true\ndns: {server: \""+dnsSrv.Addr+"\"}")
	r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", m, nil, Options{})
	got := r.ReverseDNS
	if got == nil || !got.Conclusive {
		t.Fatalf("reverse DNS %+v", got)
	}
	expect(t, "PTR", strings.Join(got.PTR, ","), "mx.example.test")
	expect(t, "FCrDNS", got.FCrDNS, true)
	expect(t, "banner matches", got.BannerMatchesPTR, true)
	asked := false
	for _, q := range dnsSrv.Queries() {
		asked = asked || q.Name == "2.0.0.127.in-addr.arpa." && q.Type == dns.TypePTR
	}
	if !asked {
		t.Errorf("the module's DNS server was not asked for the PTR: %+v", dnsSrv.Queries())
	}

	// SERVFAIL from the module's server: not conclusive, no verdict.
	dnsSrv.Set(dnsSrv.ServFail, "2.0.0.127.in-addr.arpa")
	r = Probe(t.Context(), mustTarget(t, srv.Addr), "test", m, nil, Options{})
	expect(t, "conclusive after SERVFAIL", r.ReverseDNS.Conclusive, false)
	expect(t, "success", r.Success, true)
}

// TestReverseDNSBounded: a reverse zone that lists ten PTR names gets
// them reported, and only the first two looked up, each with one question
// of the address's family: a name further down that would confirm is not
// asked for.
func TestReverseDNSBounded(t *testing.T) {
	var records []string
	for i := range 10 {
		records = append(records, fmt.Sprintf("2.0.0.127.in-addr.arpa. 300 IN PTR n%d.example.test.", i))
		records = append(records, fmt.Sprintf("n%d.example.test. 300 IN AAAA ::1", i))
	}
	records = append(records, "n9.example.test. 300 IN A 127.0.0.2") // would confirm
	dnsSrv := dnstest.Start(t, records...)
	srv := smtptest.NewServerAt(t, "127.0.0.2", smtptest.Config{})
	m := testModule(t, "tls: none\nreverse_dns: true\ndns: {server: \""+dnsSrv.Addr+"\"}")
	r := Probe(t.Context(), mustTarget(t, srv.Addr), "test", m, nil, Options{})
	got := r.ReverseDNS
	if got == nil || !got.Conclusive || len(got.PTR) != 10 {
		t.Fatalf("reverse DNS %+v, want 10 PTR names", got)
	}
	expect(t, "FCrDNS", got.FCrDNS, false)
	var forward []string
	for _, q := range dnsSrv.Queries() {
		if q.Type != dns.TypePTR {
			forward = append(forward, dns.TypeToString[q.Type]+" "+q.Name)
		}
	}
	if strings.Join(forward, ", ") != "A n0.example.test., A n1.example.test." {
		t.Errorf("forward questions %q, want A of the first two names only", forward)
	}
}
