package integration

import (
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// TestDNSDiagnosisWithUnbound tells DNS failures apart against the test
// bed's validating Unbound: a broken signature and a zone whose signatures
// expired are bogus, a name that does not exist is NXDOMAIN, and a resolver
// that fails the known-good name (the root, which the closed test bed
// cannot reach; or a dead server) is the monitor's own failure.
func TestDNSDiagnosisWithUnbound(t *testing.T) {
	env, _ := needPolicyBed(t)
	knownGood := env["TESTBED_DNSSEC_KNOWN_GOOD"]
	unbound := func(knownGood string) *resolver.Resolver {
		r, err := resolver.New(env["TESTBED_DNSSEC_RESOLVER"])
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetKnownGoodName(knownGood); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A loopback UDP port that was just free: nothing answers there.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()

	tests := []struct {
		name   string
		server string // "" the test bed's Unbound
		known  string
		qname  string
		qtype  uint16
		want   resolver.Cause
	}{
		{"a TLSA record whose signature is broken", "", knownGood, "_10025._tcp." + env["TESTBED_DNSSEC_BOGUS_HOST"], dns.TypeTLSA, resolver.CauseBogus},
		{"an address record whose signature is broken", "", knownGood, env["TESTBED_DNSSEC_BOGUS_ADDR_HOST"], dns.TypeA, resolver.CauseBogus},
		{"a zone whose signatures expired", "", knownGood, env["TESTBED_DNSSEC_EXPIRED_DOMAIN"], dns.TypeMX, resolver.CauseBogus},
		{"a name that does not exist", "", knownGood, "ghost." + env["TESTBED_DNSSEC_POLICY_ZONE"], dns.TypeA, resolver.CauseNXDomain},
		{"the root as the known-good name, unreachable from the bed", "", ".", env["TESTBED_DNSSEC_EXPIRED_DOMAIN"], dns.TypeMX, resolver.CauseResolver},
		{"a resolver that does not answer", dead, knownGood, env["TESTBED_DNSSEC_EXPIRED_DOMAIN"], dns.TypeMX, resolver.CauseResolver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := unbound(tt.known)
			if tt.server != "" {
				var err error
				if r, err = resolver.New(tt.server); err != nil {
					t.Fatal(err)
				}
				if err := r.SetKnownGoodName(tt.known); err != nil {
					t.Fatal(err)
				}
			}
			_, err := r.Query(t.Context(), tt.qname, tt.qtype)
			if err == nil {
				t.Fatalf("%s %s was answered", tt.qname, dns.TypeToString[tt.qtype])
			}
			d := r.Diagnose(t.Context(), err)
			if d.Cause != tt.want {
				t.Fatalf("%s: cause %q, want %q (%s; %+v)", err, d.Cause, tt.want, d, d.Evidence)
			}
			if tt.want == resolver.CauseBogus && len(d.Evidence.EDE) == 0 && !d.Evidence.CDAnswered {
				t.Errorf("bogus without evidence: %+v", d.Evidence)
			}
		})
	}

	t.Run("the known-good name is answered and validated", func(t *testing.T) {
		h := unbound(knownGood).Health(t.Context())
		if !h.OK() || !h.Secure {
			t.Errorf("Health() = %+v (err %v), want answered with the AD bit", h, h.Err)
		}
	})
}
