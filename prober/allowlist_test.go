package prober

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestProbeAllowList shows that the allow-list is applied to the address the
// probe would dial, after resolution, and that a refused target never gets
// a connection attempt (nor, when its name cannot be allowed, a DNS query).
func TestProbeAllowList(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr)
	var queries atomic.Int64
	resolver := smtptest.NewResolver(t, map[string][]netip.Addr{
		"mx.example.com":     {netip.MustParseAddr("127.0.0.1")},
		"rebind.example.com": {netip.MustParseAddr("127.0.0.1")},
		"dual.example.com":   {netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")},
	})
	counting := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		queries.Add(1)
		return resolver.Dial(ctx, network, address)
	}}
	cases := []struct {
		name        string
		allowed     string
		module      string
		host        string
		wantRefused string // "" when the probe runs
		wantQueries bool
	}{
		{"no allow-list", "", "", "mx.example.com", "", true},
		{"loopback listed as a CIDR", `{cidrs: ["127.0.0.0/8"]}`, "", "mx.example.com", "", true},
		{"name pattern matches", `{hosts: ["*.example.com"]}`, "", "mx.example.com", "", true},
		{"name refused before DNS", `{hosts: ["*.example.net"]}`, "", "mx.example.com", config.RefusedNotAllowed, false},
		{"allowed name resolving to loopback", `{hosts: ["*.example.com"], deny_private: true}`, "", "rebind.example.com", config.RefusedPrivateAddress, true},
		{"address literal", `{deny_private: true}`, "", "127.0.0.1", config.RefusedPrivateAddress, false},
		{"address outside the CIDRs", `{cidrs: ["192.0.2.0/24"]}`, "", "mx.example.com", config.RefusedNotAllowed, true},
		// The check is on the address the family preference picks.
		{"chosen family is checked", `{cidrs: ["127.0.0.0/8"]}`, "ip_protocol: ip6", "dual.example.com", config.RefusedNotAllowed, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			queries.Store(0)
			before := srv.Accepted()
			opts := Options{Resolver: counting}
			if tc.allowed != "" {
				cfg, err := config.Parse([]byte("modules: {smtp: {}}\nallowed_targets: " + tc.allowed + "\n"))
				if err != nil {
					t.Fatal(err)
				}
				opts.AllowList = cfg.AllowedTargets
			}
			module := testModule(t, "tls: none\n"+tc.module)
			r := Probe(context.Background(), mustTarget(t, net.JoinHostPort(tc.host, port)), "test", module, nil, opts)

			var refused *config.RefusedError
			switch {
			case tc.wantRefused == "":
				if r.Refused != nil || !r.Success {
					t.Fatalf("probe refused (%v) or failed (%s: %s)", r.Refused, r.Failure, r.Error)
				}
				expect(t, "connections", srv.Accepted()-before, int64(1))
			case !errors.As(r.Refused, &refused):
				t.Fatalf("Refused = %v, want a *config.RefusedError", r.Refused)
			default:
				expect(t, "reason", refused.Reason, tc.wantRefused)
				expect(t, "success", r.Success, false)
				expect(t, "failure", r.Failure, Reason(""))
				expect(t, "connect reached", r.Phase(PhaseConnect).Reached, false)
				expect(t, "connections", srv.Accepted()-before, int64(0))
			}
			expect(t, "DNS queried", queries.Load() > 0, tc.wantQueries)
		})
	}
}
