package history

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

func result(target string, success bool) *prober.Result {
	r := &prober.Result{
		Target: target, Module: "smtp", Port: 25, Success: success,
		Start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Duration: 1500 * time.Microsecond,
	}
	if !success {
		r.Failure, r.Error = prober.ReasonConnectTimeout, "connecting: i/o timeout"
	}
	return r
}

func ids(entries []Entry) []uint64 {
	var out []uint64
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func TestRing(t *testing.T) {
	cases := []struct {
		limit, adds int
		wantRecent  []uint64 // newest first
	}{
		{limit: 3, adds: 0, wantRecent: nil},
		{limit: 3, adds: 2, wantRecent: []uint64{2, 1}},
		{limit: 3, adds: 3, wantRecent: []uint64{3, 2, 1}},
		{limit: 3, adds: 7, wantRecent: []uint64{7, 6, 5}},
		{limit: 1, adds: 4, wantRecent: []uint64{4}},
		{limit: 0, adds: 4, wantRecent: nil},
		{limit: -1, adds: 4, wantRecent: nil},
	}
	for _, tc := range cases {
		h := New(tc.limit)
		for i := range tc.adds {
			h.Add(result(fmt.Sprintf("mx%d.example:25", i+1), true))
		}
		got := ids(h.Recent())
		if !slices.Equal(got, tc.wantRecent) {
			t.Errorf("limit %d, %d probes: recent %v, want %v", tc.limit, tc.adds, got, tc.wantRecent)
		}
		for _, id := range got {
			e, ok := h.Get(id)
			if !ok || e.Outcome.Summary().Target != fmt.Sprintf("mx%d.example:25", id) {
				t.Errorf("limit %d: Get(%d) = %v, %v", tc.limit, id, e, ok)
			}
		}
		if tc.adds > 0 && len(got) < tc.adds {
			if _, ok := h.Get(1); ok {
				t.Errorf("limit %d: the oldest probe is still there after %d probes", tc.limit, tc.adds)
			}
		}
		if len(got) > max(tc.limit, 0) {
			t.Errorf("limit %d: holds %d probes", tc.limit, len(got))
		}
	}
}

func TestConcurrentAdds(t *testing.T) {
	h := New(10)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				h.Add(result("mx.example:25", true))
				h.Recent()
			}
		})
	}
	wg.Wait()
	if got := ids(h.Recent()); !slices.Equal(got, []uint64{400, 399, 398, 397, 396, 395, 394, 393, 392, 391}) {
		t.Errorf("after 400 probes: %v", got)
	}
}

func newTestPages(t *testing.T, h *History) *httptest.Server {
	t.Helper()
	return newTestPagesWarning(t, h, nil)
}

// newTestPagesWarning is newTestPages with the config's warnings.
func newTestPagesWarning(t *testing.T, h *History, warnings []string) *httptest.Server {
	t.Helper()
	pages, err := NewPages(h, func() []string { return []string{"smtp", "sub<b>mission"} },
		web.LandingConfig{Name: "SMTP Exporter", Description: "test", Version: "v0"})
	if err != nil {
		t.Fatal(err)
	}
	if warnings != nil {
		pages.Warnings = func() []string { return warnings }
	}
	mux := http.NewServeMux()
	mux.Handle("/", pages.Landing())
	mux.Handle("/history/", pages.Report())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	return testtool.Get(t, url)
}

func TestPages(t *testing.T) {
	h := New(2)
	srv := newTestPages(t, h)

	_, empty := fetch(t, srv.URL+"/")
	for _, want := range []string{"<header>", "SMTP Exporter", `<option value="smtp">smtp</option>`, "No probes yet"} {
		if !strings.Contains(empty, want) {
			t.Errorf("empty landing page lacks %q", want)
		}
	}

	h.Add(result("old.example:25", true))
	h.Add(result("ok.example:25", true))
	h.Add(result("filtered.example:25", false))

	cases := []struct {
		path     string
		code     int
		contains []string
		lacks    []string
	}{
		{"/", 200, []string{
			`<td>filtered.example:25</td><td>smtp</td><td class="failure">failure</td><td title="connection timed out: the port is filtered (blocked) by a firewall or the ISP">connect_timeout</td>`,
			`<a href="history/3">transcript</a>`, `<a href="history/2">transcript</a>`, "1.5ms",
			// Module names come from the config: escaped, never markup.
			`<option value="sub&lt;b&gt;mission">sub&lt;b&gt;mission</option>`,
		}, []string{"old.example", "history/1", "<b>"}},
		{"/history/3", 200, []string{`<header>`, "Verdict: FAILED (connect_timeout)", "an MX must be reachable on 25", `href="../"`}, nil},
		{"/history/2", 200, []string{"Verdict: OK"}, nil},
		{"/history/1", 404, []string{"probe 1 is not in the history: only the last 2 probes are kept"}, nil},
		{"/history/abc", 404, []string{"/history/ID"}, nil},
		{"/history/", 404, nil, nil},
		{"/nothing-here", 404, nil, nil},
	}
	for _, tc := range cases {
		code, body := fetch(t, srv.URL+tc.path)
		if code != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, code, tc.code)
		}
		for _, want := range tc.contains {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q:\n%s", tc.path, want, body)
			}
		}
		for _, bad := range tc.lacks {
			if strings.Contains(body, bad) {
				t.Errorf("%s shows %q", tc.path, bad)
			}
		}
	}

	code, body := fetch(t, srv.URL+"/history/3?format=json")
	var r prober.Result
	if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil || r.Failure != prober.ReasonConnectTimeout {
		t.Errorf("/history/3?format=json: %d %v %q", code, err, r.Failure)
	}
}

// Whatever a server sends ends up in a transcript; on the page it must stay
// text.
func TestPagesEscapeServerText(t *testing.T) {
	h := New(5)
	r := result("mx.example:25", false)
	r.Failure, r.Error = prober.ReasonBannerRejected, `server greeted with 554 <script>alert("x")</script>`
	r.Transcript = []prober.TranscriptLine{{From: "S", Text: `554 <script>alert("x")</script>`}}
	h.Add(r)
	srv := newTestPages(t, h)
	for _, path := range []string{"/", "/history/1"} {
		_, body := fetch(t, srv.URL+path)
		if strings.Contains(body, "<script>") {
			t.Errorf("%s holds the server's markup unescaped", path)
		}
	}
	if _, body := fetch(t, srv.URL+"/history/1"); !strings.Contains(body, "554 &lt;script&gt;") {
		t.Errorf("the transcript page does not show the server's reply as text")
	}
}

func TestHistoryOff(t *testing.T) {
	h := New(0)
	h.Add(result("mx.example:25", true))
	srv := newTestPages(t, h)
	if _, body := fetch(t, srv.URL+"/"); !strings.Contains(body, "history is off") {
		t.Errorf("landing page with the history off:\n%s", body)
	}
}

// A generous --history.limit must cost memory only as probes come.
func TestLargeLimitGrowsLazily(t *testing.T) {
	h := New(1 << 40)
	h.Add(result("mx.example:25", true))
	if got := ids(h.Recent()); !slices.Equal(got, []uint64{1}) {
		t.Errorf("recent %v", got)
	}
}

func TestPagesDomain(t *testing.T) {
	h := New(5)
	srv := newTestPages(t, h)
	bad := result("mx2.example:25", false)
	bad.Transcript = []prober.TranscriptLine{{From: "*", Text: "connecting to 192.0.2.9:25"}}
	d := &maildomain.Result{
		Domain: "example.com", Module: "mx", Rule: "all", Start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Duration: 20 * time.Millisecond, Failure: maildomain.ReasonAddressFailed, Error: "1 of 2 addresses failed",
		Hosts: []maildomain.MXHost{{Name: "mx1.example", Preference: 10, Probed: true}, {Name: "mx2.example", Preference: 20, Probed: true}},
		Pairs: []*maildomain.Pair{
			{MX: "mx1.example", Preference: 10, Address: netip.MustParseAddr("192.0.2.1"), Result: result("mx1.example:25", true)},
			{MX: "mx2.example", Preference: 20, Address: netip.MustParseAddr("192.0.2.9"), Result: bad},
		},
	}
	h.Add(d)
	_, landing := fetch(t, srv.URL+"/")
	if want := `<td>example.com</td><td>mx</td><td class="failure">failure</td><td title="some MX addresses fail">address_failed</td>`; !strings.Contains(landing, want) {
		t.Errorf("the landing page lacks the domain row %q:\n%s", want, landing)
	}
	_, page := fetch(t, srv.URL+"/history/1")
	table := strings.Index(page, "Addresses:")
	transcript := strings.Index(page, "connecting to 192.0.2.9:25")
	if table < 0 || transcript < table || !strings.Contains(page, "FAILED (address_failed)") {
		t.Errorf("the domain page does not show the table, then the transcripts:\n%s", page)
	}
	code, body := fetch(t, srv.URL+"/history/1?format=json")
	var back maildomain.Result
	if err := json.Unmarshal([]byte(body), &back); code != 200 || err != nil || back.Failure != maildomain.ReasonAddressFailed || len(back.Pairs) != 2 {
		t.Errorf("/history/1?format=json: %d %v %+v", code, err, back)
	}
}

// TestPagesDomainPairPages: a domain of many pairs shows the reports of
// eight pairs a page, behind the table of all of them, with links to the
// other pages; a page out of range is a 400 that says which there are.
func TestPagesDomainPairPages(t *testing.T) {
	h := New(5)
	srv := newTestPages(t, h)
	d := &maildomain.Result{Domain: "many.example", Module: "mx", Rule: "all", Start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Success: true}
	for i := range 20 {
		mx := fmt.Sprintf("mx%02d.many.example", i)
		r := result(mx+":25", true)
		r.Transcript = []prober.TranscriptLine{{From: "S", Text: "220 transcript of " + mx}}
		d.Hosts = append(d.Hosts, maildomain.MXHost{Name: mx, Preference: uint16(i), Probed: true})
		d.Pairs = append(d.Pairs, &maildomain.Pair{MX: mx, Preference: uint16(i), Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), Result: r})
	}
	h.Add(d)
	cases := []struct {
		query  string
		code   int
		shown  []int // pairs whose transcript the page shows
		active string
	}{
		{"", 200, []int{0, 7}, "<b>pairs 1-8</b>"},
		{"?pairs=1", 200, []int{8, 15}, "<b>pairs 9-16</b>"},
		{"?pairs=2", 200, []int{16, 19}, "<b>pairs 17-20</b>"},
		{"?pairs=3", 400, nil, ""},
		{"?pairs=-1", 400, nil, ""},
		{"?pairs=x", 400, nil, ""},
	}
	for _, tc := range cases {
		code, page := fetch(t, srv.URL+"/history/1"+tc.query)
		if code != tc.code {
			t.Errorf("%s: %d, want %d: %s", tc.query, code, tc.code, page)
			continue
		}
		if code != 200 {
			if !strings.Contains(page, "want a page of the pair reports from 0 to 2") {
				t.Errorf("%s: %q does not say which pages there are", tc.query, page)
			}
			continue
		}
		for i := range 20 {
			mx := fmt.Sprintf("mx%02d.many.example", i)
			shown := strings.Contains(page, "220 transcript of "+mx)
			if want := i >= tc.shown[0] && i <= tc.shown[1]; shown != want {
				t.Errorf("%s: transcript of pair %d shown %v, want %v", tc.query, i, shown, want)
			}
			// The table lists every pair on every page.
			if !strings.Contains(page, "  "+mx+"  ") {
				t.Errorf("%s: the table lacks %s", tc.query, mx)
			}
		}
		for _, want := range []string{tc.active, `<a href="?pairs=`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: page lacks %q", tc.query, want)
			}
		}
	}
}

// TestPagesDomainWarnings: a mail domain that succeeded with warnings
// reads as warnings, as a single target does, not as plain success: an
// MTA-STS policy in testing mode that would refuse an MX host, and a pair's
// own warning, each with its kind in the Reason column and its words in
// the title; the filter finds it, and its page says warnings too.
func TestPagesDomainWarnings(t *testing.T) {
	h := New(5)
	srv := newTestPages(t, h)
	warned := result("mx2.example:25", true)
	warned.Warnings = []prober.Warning{{Reason: prober.ReasonCertUntrusted, Message: "certificate: x509: unknown authority"}}
	d := &maildomain.Result{
		Domain: "testing.example", Module: "mx", Rule: "all", Success: true,
		Start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Duration: 20 * time.Millisecond,
		Warnings: []maildomain.Warning{{Kind: maildomain.WarningMTASTSTesting, Text: "MTA-STS policy in testing mode would refuse: MX mx2.example matches no mx pattern of the policy (mx1.example)"}},
		Hosts:    []maildomain.MXHost{{Name: "mx1.example", Preference: 10, Probed: true}, {Name: "mx2.example", Preference: 20, Probed: true}},
		Pairs: []*maildomain.Pair{
			{MX: "mx1.example", Preference: 10, Address: netip.MustParseAddr("192.0.2.1"), Result: result("mx1.example:25", true)},
			{MX: "mx2.example", Preference: 20, Address: netip.MustParseAddr("192.0.2.2"), Result: warned},
		},
	}
	h.Add(d)
	h.Add(result("plain.example:25", true))
	for _, query := range []string{"", "?result=warnings"} {
		_, landing := fetch(t, srv.URL+"/"+query)
		want := `<td>testing.example</td><td>mx</td><td class="warnings">warnings</td>` +
			`<td title="MTA-STS policy in testing mode would refuse: MX mx2.example matches no mx pattern of the policy (mx1.example); ` +
			`mx2.example 192.0.2.2: the certificate chain does not lead to a trusted root (cert_untrusted)">mta_sts_testing cert_untrusted</td>`
		if !strings.Contains(landing, want) {
			t.Errorf("%q: the landing page lacks the domain's warnings row %q:\n%s", query, want, landing)
		}
	}
	if _, landing := fetch(t, srv.URL+"/?result=success"); strings.Contains(landing, "testing.example") {
		t.Errorf("the domain with warnings is listed as a plain success:\n%s", landing)
	}
	_, page := fetch(t, srv.URL+"/history/1")
	if !strings.Contains(page, `<span class="warnings">warnings</span>`) || !strings.Contains(page, "OK, with warnings (mta_sts_testing cert_untrusted)") {
		t.Errorf("the domain's page does not say warnings:\n%s", page)
	}
}

// TestFilter: the landing page's history filtered by target, module and
// result, as Prometheus' scrapes fill it within a minute.
func TestFilter(t *testing.T) {
	h := New(10)
	srv := newTestPages(t, h)
	add := func(target, module string, success bool, warn prober.Reason) {
		r := result(target, success)
		r.Module = module
		if warn != "" {
			r.Warnings = []prober.Warning{{Reason: warn, Message: "x"}}
		}
		h.Add(r)
	}
	add("mx1.example.com:25", "smtp", true, "")                            // 1
	add("mx1.example.com:25", "smtp", true, prober.ReasonCertUntrusted)    // 2
	add("mx2.example.com:25", "smtp", false, "")                           // 3
	add("smtp.example.com:587", "submission", true, "")                    // 4
	add("smtp.example.com:587", "submission", false, "")                   // 5
	add("MX3.example.com:25", "smtp", true, prober.ReasonStartTLSRejected) // 6

	cases := []struct {
		query string
		want  []int // probe IDs shown, newest first
	}{
		{"", []int{6, 5, 4, 3, 2, 1}},
		{"?target=mx1", []int{2, 1}},
		{"?target=mx", []int{6, 3, 2, 1}}, // any case
		{"?module=submission", []int{5, 4}},
		{"?result=failure", []int{5, 3}},
		{"?result=warnings", []int{6, 2}},
		{"?result=success", []int{4, 1}},
		{"?target=example.com:25&module=smtp&result=warnings", []int{6, 2}},
		{"?target=nowhere", nil},
	}
	rowID := regexp.MustCompile(`href="history/(\d+)"`)
	for _, tc := range cases {
		code, body := fetch(t, srv.URL+"/"+tc.query)
		if code != 200 {
			t.Errorf("%s: %d", tc.query, code)
			continue
		}
		var got []int
		for _, m := range rowID.FindAllStringSubmatch(body, -1) {
			id, _ := strconv.Atoi(m[1])
			got = append(got, id)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q shows %v, want %v", tc.query, got, tc.want)
		}
		if want := fmt.Sprintf("%d of 6 probes shown", len(tc.want)); !strings.Contains(body, want) {
			t.Errorf("%q: the page does not say %q", tc.query, want)
		}
	}
	// The form keeps what was chosen; a warning is shown with its reason.
	_, body := fetch(t, srv.URL+"/?module=smtp&result=failure&target=%3Cb%3E")
	for _, want := range []string{`<option value="smtp" selected>`, `<option value="failure" selected>`, `value="&lt;b&gt;"`, `show all`} {
		if !strings.Contains(body, want) {
			t.Errorf("filtered page lacks %q", want)
		}
	}
	_, body = fetch(t, srv.URL+"/?result=warnings")
	if !strings.Contains(body, `<td class="warnings">warnings</td><td title="the certificate chain does not lead to a trusted root (cert_untrusted)">cert_untrusted</td>`) {
		t.Errorf("a warning row lacks its reason:\n%s", body)
	}
	if code, body := fetch(t, srv.URL+"/?result=ok"); code != 400 || !strings.Contains(body, "want success, warnings or failure") {
		t.Errorf("?result=ok: %d %s", code, body)
	}
}

// The config's warnings stand above the probe form, as text; without any
// there is no such section.
func TestPagesConfigWarnings(t *testing.T) {
	warn := `module "mx<b>": dane: check: DNSSEC is trusted through the AD bit of 192.0.2.53:53 (dns.server), which is not on this machine`
	_, body := fetch(t, newTestPagesWarning(t, New(5), []string{warn}).URL+"/")
	want := `<ul class="config-warnings" id="config-warnings">
<li>module &#34;mx&lt;b&gt;&#34;: dane: check: DNSSEC is trusted through the AD bit of 192.0.2.53:53 (dns.server), which is not on this machine</li>
</ul>`
	if !strings.Contains(body, want) {
		t.Errorf("landing page lacks the warning %q:\n%s", want, body)
	}
	if strings.Index(body, "config-warnings") > strings.Index(body, `<form class="probe"`) {
		t.Error("the warnings come after the probe form")
	}
	for _, w := range [][]string{nil, {}} {
		if _, body := fetch(t, newTestPagesWarning(t, New(5), w).URL+"/"); strings.Contains(body, "Configuration warnings") {
			t.Errorf("warnings %v: the page has a warnings section", w)
		}
	}
}

// TestPagesConcurrentRenders: beyond maxConcurrentRenders probe pages in
// the making, another is a 503 at once (with Retry-After), and a freed
// slot serves again; the landing page is not held by it.
func TestPagesConcurrentRenders(t *testing.T) {
	h := New(5)
	h.Add(result("mx.example:25", true))
	pages, err := NewPages(h, func() []string { return []string{"smtp"} }, web.LandingConfig{Name: "SMTP Exporter"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(handler http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	for range maxConcurrentRenders {
		pages.renders <- struct{}{} // renders in flight
	}
	for _, path := range []string{"/history/1", "/history/1?format=json"} {
		rec := get(pages.Report(), path)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), "try again") {
			t.Errorf("%s while full: %d %q, Retry-After %q", path, rec.Code, rec.Body, rec.Header().Get("Retry-After"))
		}
	}
	if rec := get(pages.Report(), "/history/9"); rec.Code != http.StatusNotFound {
		t.Errorf("an unknown probe while full: %d, want 404", rec.Code)
	}
	if rec := get(pages.Landing(), "/"); rec.Code != http.StatusOK {
		t.Errorf("landing page while full: %d", rec.Code)
	}
	<-pages.renders
	if rec := get(pages.Report(), "/history/1"); rec.Code != http.StatusOK {
		t.Errorf("after a render ended: %d %q", rec.Code, rec.Body)
	}
	if n := len(pages.renders); n != maxConcurrentRenders-1 {
		t.Errorf("%d renders held after the page was served, want %d", n, maxConcurrentRenders-1)
	}
}
