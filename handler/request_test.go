package handler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

const guardConfig = `
modules:
  smtp: {port: 25, tls: none, timeout: 10s}
  submission: {port: 587, tls: starttls, timeout: 10s}
`

// newTestProbe returns newProbe's handler on yaml with a stub prober that
// succeeds at once and counts its calls.
func newTestProbe(t *testing.T, yaml string) (*ProbeHandler, *atomic.Int64, *prometheus.Registry) {
	t.Helper()
	h, reg := newProbe(t, yaml, nil)
	calls := &atomic.Int64{}
	h.Prober = func(ctx context.Context, target prober.Target, moduleName string, module *config.Module, logger *slog.Logger, opts prober.Options) *prober.Result {
		calls.Add(1)
		return &prober.Result{Target: target.String(), Module: moduleName, Success: true}
	}
	return h, calls, reg
}

// TestProbeHostileQueries: queries made to break the parser or to smuggle
// something to the server are a 400 that says what is wrong, and none of them
// reaches the prober. (The exact text of the ordinary mistakes is pinned by
// TestProbeBadRequests.)
func TestProbeHostileQueries(t *testing.T) {
	cases := []struct {
		name, query, want string
	}{
		{"unknown parameter with control characters", "target=a:25&x%0D%0A=1", "unknown parameter \"x\uFFFD\uFFFD\""},
		{"overlong target", "target=" + strings.Repeat("a", 300) + ":25", "target is longer than 270 characters"},
		{"overlong query", "target=a:25&module=" + strings.Repeat("m", maxQueryBytes), fmt.Sprintf("query string is %d bytes long; /probe takes at most 2048", len("target=a:25&module=")+maxQueryBytes)},
		{"SMTP command injection", "target=a:25%0D%0AQUIT", `target "a:25\r\nQUIT" has a character '\r' that cannot be in host:port`},
		{"user info", "target=user@host:25", `target "user@host:25" has a character '@' that cannot be in host:port`},
		{"bare IPv6 literal with a port", "target=2001:db8::g:25", `target "2001:db8::g:25": put an IPv6 address in brackets, like [2001:db8::1]:25`},
		{"not an address in brackets", "target=[mx.example.com]:25", `target "[mx.example.com]:25": "mx.example.com" in brackets is not an IPv6 address`},
		{"IPv6 zone that is no interface name", "target=fe80::1%25]x", `target "fe80::1%]x": "]x" is not an interface name`},
		{"label starting with a dash", "target=-a.example:25", `target "-a.example:25": "-a.example" is not a valid host name`},
		{"non-ASCII host", "target=ex%C3%A4mple.com:25", `target "exämple.com:25" has a character 'ä' that cannot be in host:port`},
		{"invalid UTF-8 target", "target=%FF:25", "target \"\\xff:25\" has a character '\uFFFD' that cannot be in host:port"},
		{"module with a line break", "target=a:25&module=smtp%0D%0A", "unknown module \"smtp\uFFFD\uFFFD\""},
		{"debug 1", "target=a:25&debug=1", `debug parameter "1" is not true or false`},
		{"debug yes", "target=a:25&debug=yes", `debug parameter "yes" is not true or false`},
		{"debug TRUE", "target=a:25&debug=TRUE", `debug parameter "TRUE" is not true or false`},
		{"bad escape", "target=%zz", `malformed query string: invalid URL escape "%zz"`},
		{"semicolon", "target=a:25;module=smtp", "malformed query string: invalid semicolon separator in query"},
	}
	h, calls, _ := newTestProbe(t, guardConfig)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/probe", nil)
			req.URL.RawQuery = tc.query
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			if body := rec.Body.String(); !strings.Contains(body, tc.want) {
				t.Fatalf("body %q\nlacks %q", body, tc.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the prober ran %d times for bad queries", n)
	}
}

func TestProbeGoodQueries(t *testing.T) {
	cases := []struct {
		query      string
		wantModule string
		wantDebug  bool
	}{
		{"target=a:25", "smtp", false},
		{"target=a:587", "submission", false},
		{"target=a&module=submission", "submission", false},
		{"target=a:2525&module=smtp", "smtp", false},
		{"target=a:25&debug=false", "smtp", false},
		{"target=a:25&debug=true", "smtp", true},
		{"target=a:25&module=", "smtp", false},
		{"target=[2001:db8::1]:25", "smtp", false},
		{"target=A.Example.COM.:25", "smtp", false},
	}
	h, _, _ := newTestProbe(t, guardConfig)
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/probe?"+tc.query, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			if tc.wantDebug != strings.Contains(body, "Metrics that would have been returned") {
				t.Errorf("debug output = %v, want %v:\n%s", !tc.wantDebug, tc.wantDebug, body)
			}
			if !strings.Contains(body, "probe_success 1") {
				t.Errorf("no probe_success in:\n%s", body)
			}
		})
	}
}

// TestProbeTimeoutHeader covers what Prometheus, a proxy or a hostile client
// may send as X-Prometheus-Scrape-Timeout-Seconds.
func TestProbeTimeoutHeader(t *testing.T) {
	const module = 10 * time.Second
	const offset = 500 * time.Millisecond
	cases := []struct {
		header  string // "-" for no header
		want    time.Duration
		wantErr string
	}{
		{header: "-", want: module},
		{header: "15", want: module},
		{header: "5", want: 4500 * time.Millisecond},
		{header: "2.5", want: 2 * time.Second},
		{header: "10.5", want: module},
		{header: "1e1", want: 9500 * time.Millisecond},
		{header: "0.5", want: 500 * time.Millisecond}, // no longer than the offset: kept whole
		{header: "0.3", want: 300 * time.Millisecond}, // shorter than the offset: kept whole
		{header: "0", want: module},
		{header: "-5", want: module},
		{header: "1e300", want: module},
		{header: "Inf", want: module},
		{header: "-Inf", want: module},
		{header: "1000001", want: module},
		{header: "1e-400", want: module},
		{header: "NaN", wantErr: `X-Prometheus-Scrape-Timeout-Seconds header "NaN" is not a number`},
		{header: "ten", wantErr: `X-Prometheus-Scrape-Timeout-Seconds header "ten" is not a number`},
		{header: "5s", wantErr: `X-Prometheus-Scrape-Timeout-Seconds header "5s" is not a number`},
		{header: "", want: module},
		{header: strings.Repeat("9", 400), want: module},
		{header: "1\r\nX-Other: 1", wantErr: "X-Prometheus-Scrape-Timeout-Seconds header \"1\uFFFD\uFFFDX-Other: 1\" is not a number"},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "-" {
				h.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
			}
			got, err := probeTimeout(h, module, offset)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("timeout = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
