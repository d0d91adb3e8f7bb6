package probecli

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestEgressLine: the command tries the canaries of the target's port once
// and says what they say, in text and JSON; a port no canary covers, or
// --no-egress, gives no line.
func TestEgressLine(t *testing.T) {
	port := smtptest.SharedPort(t, 4)
	at := func(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
	if _, err := smtptest.NewServerOn(t, at("127.0.0.1"), smtptest.Config{}); err != nil {
		t.Fatal(err)
	}
	// The canaries: nothing listens on 127.0.0.2 and .3, so both are refused.
	blocked := fmt.Sprintf("modules:\n  m: {tls: none, timeout: 5s}\negress:\n  timeout: 2s\n  canaries: [{target: '%s'}, {target: '%s'}]\n", at("127.0.0.2"), at("127.0.0.3"))
	other := "modules:\n  m: {tls: none, timeout: 5s}\negress:\n  canaries: [{target: '127.0.0.2:1'}]\n"
	cases := []struct {
		name    string
		config  string
		noProbe bool
		want    string // in the text report; empty: no egress line
	}{
		{"blocked", blocked, false, fmt.Sprintf("Egress:  egress to port %d from this host: blocked (2/2 IPv4 canaries are refused): this result says nothing about the target", port)},
		{"no-egress", blocked, true, ""},
		{"no canary for the port", other, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runCommand(t, Command{Builtin: []byte(tc.config), Module: "m", Target: at("127.0.0.1"), NoEgress: tc.noProbe})
			if got.code != ExitSuccess {
				t.Fatalf("exit %d: the target answers whatever the canaries say\n%s%s", got.code, got.stdout, got.stderr)
			}
			if tc.want == "" {
				if strings.Contains(got.stdout, "Egress:") {
					t.Errorf("an egress line without canaries to try:\n%s", got.stdout)
				}
				return
			}
			// Under the first verdict and the last.
			if n := strings.Count(got.stdout, tc.want); n != 2 {
				t.Errorf("%q appears %d times, want 2:\n%s", tc.want, n, got.stdout)
			}
		})
	}
	got := runCommand(t, Command{Builtin: []byte(blocked), Module: "m", Target: at("127.0.0.1"), Output: OutputJSON})
	var r prober.Result
	if err := json.Unmarshal([]byte(got.stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Egress == nil || r.Egress.State != prober.EgressBlocked || r.Egress.Port != port || r.Egress.Family != "ip4" {
		t.Errorf("JSON egress: %+v, want blocked on %d/ip4", r.Egress, port)
	}
}
