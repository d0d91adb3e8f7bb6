package handler

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestProbeAllowedTargets runs the real prober behind the handler: a
// refused target is a 403 with the reason, is counted, and the fake server
// never sees a connection.
func TestProbeAllowedTargets(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr)
	resolver := smtptest.NewResolver(t, map[string][]netip.Addr{
		"mx.example.com":     {netip.MustParseAddr("127.0.0.1")},
		"mx.example.org":     {netip.MustParseAddr("127.0.0.1")},
		"rebind.example.com": {netip.MustParseAddr("127.0.0.1")},
	})
	cases := []struct {
		name, allowed, host string
		wantCode            int
		wantBody            string
		wantReason          string
	}{
		{"permissive default", "", "mx.example.com", 200, "probe_success 1", ""},
		{"listed CIDR", `{cidrs: ["127.0.0.0/8"]}`, "mx.example.com", 200, "probe_success 1", ""},
		{"host pattern", `{hosts: ["*.example.com"]}`, "mx.example.com", 200, "probe_success 1", ""},
		{
			"other domain", `{hosts: ["*.example.com"]}`, "mx.example.org", 403,
			`target host "mx.example.org" is not allowed: it matches no pattern of allowed_targets.hosts`, config.RefusedNotAllowed,
		},
		{
			"allowed name resolving to loopback", `{hosts: ["*.example.com"], deny_private: true}`, "rebind.example.com", 403,
			"target rebind.example.com (127.0.0.1) is not allowed: the address is loopback", config.RefusedPrivateAddress,
		},
		{
			"loopback literal", `{deny_private: true}`, "127.0.0.1", 403,
			"target 127.0.0.1 is not allowed: the address is loopback", config.RefusedPrivateAddress,
		},
		{
			"address outside the CIDRs", `{cidrs: ["192.0.2.0/24"]}`, "127.0.0.1", 403,
			"target 127.0.0.1 (127.0.0.1) is not allowed: it matches neither allowed_targets.hosts nor allowed_targets.cidrs", config.RefusedNotAllowed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "modules: {smtp: {tls: none}}\n"
			if tc.allowed != "" {
				yaml += "allowed_targets: " + tc.allowed + "\n"
			}
			h, _, reg := newTestProbe(t, yaml)
			h.Prober = nil // the real one
			h.Options = prober.Options{Resolver: resolver}
			before := srv.Accepted()

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?module=smtp&target="+net.JoinHostPort(tc.host, port), nil))
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("%d %q, want %d with %q", rec.Code, rec.Body, tc.wantCode, tc.wantBody)
			}
			for _, reason := range []string{config.RefusedNotAllowed, config.RefusedPrivateAddress, RefusedConcurrencyLimit} {
				want := 0.0
				if reason == tc.wantReason {
					want = 1
				}
				if got := testutil.ToFloat64(h.Metrics.refused.WithLabelValues(reason)); got != want {
					t.Errorf("refused{reason=%q} = %v, want %v", reason, got, want)
				}
			}
			if tc.wantReason != "" {
				if n := srv.Accepted() - before; n != 0 {
					t.Errorf("a refused target got %d connections", n)
				}
				// A refused request is not a probe.
				if n := testutil.CollectAndCount(h.Metrics.probes); n != 0 {
					t.Errorf("probes_total has %d series after a refusal", n)
				}
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", err, problems)
			}
		})
	}
}

// TestProbeMaxConcurrent fills every slot with probes that wait, then shows
// that one more is a 503 at once, and that a freed slot is usable again.
func TestProbeMaxConcurrent(t *testing.T) {
	const limit = 3
	h, _, reg := newTestProbe(t, guardConfig)
	h.Limit = NewLimiter(limit, reg)
	started := make(chan struct{})
	release := make(chan struct{})
	h.Prober = func(ctx context.Context, target prober.Target, moduleName string, module *config.Module, logger *slog.Logger, opts prober.Options) *prober.Result {
		started <- struct{}{}
		<-release
		return &prober.Result{Target: target.String(), Module: moduleName, Success: true}
	}
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?target=a:25", nil))
		return rec
	}
	var wg sync.WaitGroup
	codes := make(chan int, limit)
	for range limit {
		wg.Go(func() { codes <- get().Code })
		<-started
	}
	inFlight := func(n int) string {
		return fmt.Sprintf("# HELP smtp_exporter_conversations_in_flight SMTP conversations held right now, across all probes (a domain probe holds one per pair it is talking to); 0 when --probe.max-concurrent is 0.\n# TYPE smtp_exporter_conversations_in_flight gauge\nsmtp_exporter_conversations_in_flight %d\n", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(inFlight(limit)), "smtp_exporter_conversations_in_flight"); err != nil {
		t.Errorf("while full: %v", err)
	}
	for range 2 {
		rec := get()
		want := "too many probes running: the limit of 3 SMTP conversations (--probe.max-concurrent) is reached; try again later"
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("%d %q, want 503 %q", rec.Code, rec.Body, want)
		}
	}
	// The limit is checked before anything else: a full exporter does not
	// even parse a request.
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/probe?target=%zz", nil),
		httptest.NewRequest(http.MethodPost, "/probe?target=a:25", nil),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s while full: %d %q, want 503", r.Method, r.URL, rec.Code, rec.Body)
		}
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a probe within the limit got %d", code)
		}
	}
	go func() { <-started }()
	if rec := get(); rec.Code != http.StatusOK {
		t.Errorf("after the slots were freed: %d %s", rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(h.Metrics.refused.WithLabelValues(RefusedConcurrencyLimit)); got != 4 {
		t.Errorf("refused{concurrency_limit} = %v, want 4", got)
	}
	if got := testutil.ToFloat64(h.Metrics.inFlight); got != 0 {
		t.Errorf("in flight = %v after all probes ended", got)
	}
	want := "# HELP smtp_exporter_probes_max_concurrent The limit on SMTP conversations at once, across all probes (--probe.max-concurrent; 0 means none).\n# TYPE smtp_exporter_probes_max_concurrent gauge\nsmtp_exporter_probes_max_concurrent 3\n" +
		"# HELP smtp_exporter_conversations_in_flight SMTP conversations held right now, across all probes (a domain probe holds one per pair it is talking to); 0 when --probe.max-concurrent is 0.\n# TYPE smtp_exporter_conversations_in_flight gauge\nsmtp_exporter_conversations_in_flight 0\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "smtp_exporter_probes_max_concurrent", "smtp_exporter_conversations_in_flight"); err != nil {
		t.Error(err)
	}
}

func TestLimiterUnbounded(t *testing.T) {
	for _, l := range []*Limiter{nil, NewLimiter(0, nil)} {
		for range 10000 {
			if !l.TryAcquire() {
				t.Fatal("an unbounded limiter refused")
			}
		}
		l.Release()
	}
}
