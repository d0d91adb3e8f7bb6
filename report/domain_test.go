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
	// A pair never dialed holds a summary (prober.NotProbed), not a probe.
	noAddr := &prober.Result{
		Target: "mx3.example.test:25", Module: "mx", Host: "mx3.example.test", Port: 25, Failure: prober.ReasonResolve,
		Error: "mx3.example.test has no A or AAAA records", Start: clockStart,
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
	for _, want := range []string{"submission_ok", "connect_refused: connection refused", "(none)", "mx4.example.test  (not probed: beyond max_hosts or max_pairs)"} {
		if !strings.Contains(s, want) {
			t.Errorf("the report does not say %q", want)
		}
	}
	if first := strings.Index(s, "Transcript:"); table < 0 || first < table {
		t.Errorf("the table does not come before the transcripts")
	}
	// The pair without an address has its row, and no report of its own.
	if n := strings.Count(s, "Transcript:"); n != 2 {
		t.Errorf("%d transcripts, want 2", n)
	}
}

// TestDomainPairReports: a report can show the pairs' own reports in
// parts (the history page does); the table lists every pair each time.
func TestDomainPairReports(t *testing.T) {
	d, _ := goldenDomain(t)
	for _, tc := range []struct {
		first, n int
		want     []string // the pairs reported, by their heading
	}{
		{0, 0, []string{"mx.example.test 127.0.0.1", "mx2.example.test 127.0.0.1"}},
		{0, 1, []string{"mx.example.test 127.0.0.1"}},
		{1, 1, []string{"mx2.example.test 127.0.0.1"}},
		{2, 8, nil}, // the third pair has no address: nothing to report
	} {
		var b strings.Builder
		Write(&b, d, Options{Now: clockStart, FirstPair: tc.first, PairReports: tc.n})
		var got []string
		for line := range strings.SplitSeq(b.String(), "\n") {
			if h, ok := strings.CutPrefix(line, "======== "); ok {
				got = append(got, strings.TrimSuffix(h, " ========"))
			}
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || strings.Count(b.String(), "  mx3.example.test  30") != 1 {
			t.Errorf("pairs from %d, %d of them: reports %q, want %q\n%s", tc.first, tc.n, got, tc.want, b.String())
		}
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
