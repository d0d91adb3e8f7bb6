package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// goldenDomain builds a domain result from golden single probes: a good
// pair, a refused one, a host without an address, a host left out.
func goldenDomain(t *testing.T) (*maildomain.Result, []string) {
	t.Helper()
	e := newGoldenEnv(t)
	var ports []string
	run := func(name string) *prober.Result {
		for _, tc := range goldenCases {
			if tc.name == name {
				r, port := runGolden(t, e, tc)
				ports = append(ports, port)
				return r
			}
		}
		t.Fatalf("no golden case %s", name)
		return nil
	}
	ok, refused := run("submission_ok"), run("connect_refused")
	noAddr := &prober.Result{
		Target: "mx3.example.test:25", Module: "mx", Host: "mx3.example.test", Port: 25, Failure: prober.ReasonResolve,
		Error: "mx3.example.test has no A or AAAA records", Start: clockStart,
		Transcript: []prober.TranscriptLine{{From: "*", Text: "not probed: resolve: mx3.example.test has no A or AAAA records"}},
	}
	for _, ph := range prober.Phases {
		noAddr.Phases = append(noAddr.Phases, prober.PhaseResult{Phase: ph})
	}
	localhost := netip.MustParseAddr("127.0.0.1")
	d := &maildomain.Result{
		Domain: "example.test", Module: "mx", Rule: "all", Port: 25, Start: clockStart,
		Duration: 120 * time.Millisecond, MXLookup: 2 * time.Millisecond, DNSServer: "127.0.0.1:53",
		Failure: maildomain.ReasonAddressFailed, Error: "2 of 3 addresses failed (success: all): mx2.example.test 127.0.0.1: connect_refused; mx3.example.test: resolve",
		Warnings: []maildomain.Warning{{Kind: maildomain.WarningMaxHosts, Text: "1 MX host(s) beyond max_hosts (3) not probed: mx4.example.test"}},
		Hosts: []maildomain.MXHost{
			{Name: testHost, Preference: 10, Probed: true, Addresses: []netip.Addr{localhost}},
			{Name: "mx2.example.test", Preference: 20, Probed: true, Addresses: []netip.Addr{localhost}},
			{Name: "mx3.example.test", Preference: 30, Probed: true, Error: "mx3.example.test has no A or AAAA records"},
			{Name: "mx4.example.test", Preference: 40},
		},
		Pairs: []*maildomain.Pair{
			{MX: testHost, Preference: 10, Address: localhost, Result: ok},
			{MX: "mx2.example.test", Preference: 20, Address: localhost, Result: refused},
			{MX: "mx3.example.test", Preference: 30, Result: noAddr},
		},
	}
	return d, ports
}

func TestDomainGolden(t *testing.T) {
	d, ports := goldenDomain(t)
	normalise := func(s string) string {
		for _, port := range ports {
			s = strings.ReplaceAll(s, ":"+port, ":"+goldenPort)
			s = strings.ReplaceAll(s, `"port": "`+port+`"`, `"port": "`+goldenPort+`"`)
		}
		return s
	}
	var text, js bytes.Buffer
	Write(&text, d, Options{Now: clockStart})
	if err := WriteJSON(&js, d); err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join("testdata", "domain_address_failed.txt"), normalise(text.String()))
	compareGolden(t, filepath.Join("testdata", "domain_address_failed.json"), normalise(js.String()))
	for _, out := range []string{text.String(), js.String()} {
		smtptest.AssertNoSecret(t, out, "domain", testPassword)
	}
	var back maildomain.Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Pairs) != 3 || back.Pairs[1].Result.Failure != prober.ReasonConnectRefused {
		t.Errorf("the JSON does not read back as a maildomain.Result: %v", err)
	}
	// The table comes first, then every pair's transcript.
	s := text.String()
	table := strings.Index(s, "Addresses:")
	for _, want := range []string{"submission_ok", "connect_refused: connection refused", "(none)", "mx4.example.test  (not probed: beyond max_hosts)"} {
		if !strings.Contains(s, want) {
			t.Errorf("the report does not say %q", want)
		}
	}
	if first := strings.Index(s, "Transcript:"); table < 0 || first < table {
		t.Errorf("the table does not come before the transcripts")
	}
	if n := strings.Count(s, "Transcript:"); n != 3 {
		t.Errorf("%d transcripts, want 3", n)
	}
}

func TestDomainVerdicts(t *testing.T) {
	for _, tc := range []struct {
		d    *maildomain.Result
		want string
	}{
		{&maildomain.Result{Failure: maildomain.ReasonNullMX}, "FAILED (null_mx): the domain publishes a null MX (RFC 7505): it accepts no mail"},
		{&maildomain.Result{Failure: maildomain.ReasonResolve}, "FAILED (resolve): the domain's MX records could not be looked up"},
		{&maildomain.Result{Failure: maildomain.ReasonNoAddress}, "FAILED (no_address): no MX host has an address"},
		{&maildomain.Result{Success: true, Rule: "any", Hosts: []maildomain.MXHost{{}}, Pairs: []*maildomain.Pair{
			{Address: netip.MustParseAddr("192.0.2.1"), Result: &prober.Result{Success: true}}, {Address: netip.MustParseAddr("192.0.2.2"), Result: &prober.Result{}},
		}}, "OK: 1 of 2 addresses of 1 MX host(s) accept mail (success: any)"},
		// A success with warnings says so: a testing-mode policy that would
		// refuse mail is not a plain OK.
		{&maildomain.Result{
			Success: true, Rule: "all", Hosts: []maildomain.MXHost{{}},
			Warnings: []maildomain.Warning{{Kind: maildomain.WarningMTASTSTesting, Text: "MTA-STS policy in testing mode would refuse: x"}},
			Pairs:    []*maildomain.Pair{{Address: netip.MustParseAddr("192.0.2.1"), Result: &prober.Result{Success: true}}},
		}, "OK, with warnings (mta_sts_testing): 1 of 1 addresses of 1 MX host(s) accept mail (success: all)"},
	} {
		if got := Verdict(tc.d); !strings.HasPrefix(got, tc.want) {
			t.Errorf("verdict %q, want %q...", got, tc.want)
		}
	}
}
