package prober

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// TestProbeDNSServerForSingleTargets: a module's dns.server answers the
// host names of single targets too.
func TestProbeDNSServerForSingleTargets(t *testing.T) {
	dns := dnstest.Start(t, "single.test. 300 IN A 127.0.0.1")
	srv := smtptest.NewServer(t, smtptest.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr)
	module := testModule(t, fmt.Sprintf("tls: none\ndns: {server: %q}", dns.Addr))
	r := Probe(context.Background(), mustTarget(t, "single.test:"+port), "test", module, nil, Options{})
	expect(t, "failure", r.Failure, Reason(""))
	expect(t, "ip", r.IP, netip.MustParseAddr("127.0.0.1"))
}

// TestChooseResolvers holds the one order of ChooseResolvers: the caller's
// Options, then the module's dns section, then the system.
func TestChooseResolvers(t *testing.T) {
	callerHosts := &net.Resolver{}
	callerDNS, err := resolver.New("127.0.0.1:1053")
	if err != nil {
		t.Fatal(err)
	}
	plain := testModule(t, "tls: none")
	withDNS := testModule(t, "tls: none\ndns: {server: \"127.0.0.1:2053\"}")
	cases := []struct {
		name        string
		module      string // plain or dns
		opts        Options
		hosts       *net.Resolver // nil: the module's own
		dnsServer   string        // "": no DNS client
		reverseByNS bool          // PTR through the DNS client
	}{
		{"nothing set: the system", "plain", Options{}, net.DefaultResolver, "", false},
		{"the module's dns section", "dns", Options{}, nil, "127.0.0.1:2053", true},
		{"the caller's resolver first", "dns", Options{Resolver: callerHosts}, callerHosts, "127.0.0.1:2053", true},
		{"the caller's DNS client first", "dns", Options{DNS: callerDNS}, nil, "127.0.0.1:1053", true},
		{"the caller's resolver, no DNS client", "plain", Options{Resolver: callerHosts}, callerHosts, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := plain
			if tc.module == "dns" {
				m = withDNS
			}
			rs := ChooseResolvers(m, tc.opts)
			wantHosts := tc.hosts
			if wantHosts == nil {
				wantHosts = m.NetResolver()
			}
			if rs.Hosts != wantHosts {
				t.Errorf("host names go to %p, want %p", rs.Hosts, wantHosts)
			}
			server := ""
			if rs.DNS != nil {
				server = rs.DNS.Server()
			}
			expect(t, "DNS client", server, tc.dnsServer)
			_, byNS := rs.Reverse.(DNSReverseResolver)
			expect(t, "PTR through the DNS client", byNS, tc.reverseByNS)
		})
	}
}
