package handler

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestProbeEgress: every probe carries the egress state of its port and
// family, from the address it connected to (the module's ip_protocol when
// it got none), in its metrics and debug report; without canaries for
// them, no series.
func TestProbeEgress(t *testing.T) {
	states := map[string]*prober.EgressInfo{
		"25/ip4": {Port: 25, Family: "ip4", State: prober.EgressBlocked, Detail: "3/3 IPv4 canaries time out"},
		"25/ip6": {Port: 25, Family: "ip6", State: prober.EgressOpen, Detail: "2/2 IPv6 canaries answer"},
	}
	withIP := func(ipProtocol int) func(string) *prober.Result {
		return func(module string) *prober.Result {
			r := failedResult(module)
			r.Port, r.IPProtocol = 25, ipProtocol
			return r
		}
	}
	cases := []struct {
		name   string
		query  string
		result func(string) *prober.Result
		want   string // the series, empty: absent
	}{
		{"blocked over IPv4", "target=mx.example.com:25", withIP(4), "probe_smtp_egress_open 0"},
		{"open over IPv6", "target=mx.example.com:25", withIP(6), "probe_smtp_egress_open 1"},
		// No address: the module's ip_protocol (ip4) decides.
		{"no address", "target=mx.example.com:25", withIP(0), "probe_smtp_egress_open 0"},
		{"no canary for the port", "target=mx.example.com:587", func(m string) *prober.Result {
			r := withIP(4)(m)
			r.Port = 587
			return r
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newProbe(t, testConfig, &fakeProber{result: tc.result})
			h.Egress = func(port int, family string) *prober.EgressInfo { return states[strconv.Itoa(port)+"/"+family] }
			rec := serve(h, http.MethodGet, tc.query, nil)
			body := rec.Body.String()
			if tc.want == "" {
				if strings.Contains(body, "probe_smtp_egress_open") {
					t.Errorf("probe_smtp_egress_open without a canary for the port:\n%s", body)
				}
				return
			}
			if !strings.Contains(body, "\n"+tc.want+"\n") {
				t.Errorf("metrics lack %q:\n%s", tc.want, body)
			}
		})
	}
	h, _ := newProbe(t, testConfig, &fakeProber{result: withIP(4)})
	h.Egress = func(port int, family string) *prober.EgressInfo { return states[strconv.Itoa(port)+"/"+family] }
	debug := serve(h, http.MethodGet, "target=mx.example.com:25&debug=true", nil).Body.String()
	if want := "egress to port 25 from this host: blocked (3/3 IPv4 canaries time out): this result says nothing about the target"; !strings.Contains(debug, want) {
		t.Errorf("debug output lacks %q:\n%s", want, debug)
	}
}
