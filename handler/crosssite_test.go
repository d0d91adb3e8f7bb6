package handler

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCrossSiteRequests: what a browser says of a request decides whether
// a page of another site may make the exporter probe or reload; programs,
// which send neither header, are never refused. The same table runs against
// /probe and /-/reload.
func TestCrossSiteRequests(t *testing.T) {
	const host = "exporter.internal:9667"
	cases := []struct {
		name    string
		method  string
		headers map[string]string
		probe   int // the status of /probe
		reload  int // of /-/reload (POST)
	}{
		{"Prometheus: neither header", http.MethodGet, nil, 200, 200},
		{"the landing page's form", http.MethodGet, map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-User": "?1"}, 200, 200},
		{"typed into the address bar", http.MethodGet, map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}, 200, 200},
		{"same origin behind a proxy that rewrote Host", http.MethodGet, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://exporter.example.com"}, 200, 200},
		{"cross-site", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, 403},
		{"cross-site image", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}, 403, 403},
		{"cross-site fetch", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Origin": "https://evil.example"}, 403, 403},
		{"cross-site navigation by a script", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 403, 403},
		// A link a person clicked on a dashboard; never for /-/reload.
		{"cross-site link clicked", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-User": "?1"}, 200, 403},
		{"foreign Origin, no Sec-Fetch-Site", http.MethodGet, map[string]string{"Origin": "https://evil.example"}, 403, 403},
		{"null Origin", http.MethodGet, map[string]string{"Origin": "null"}, 403, 403},
		{"same-site fetch from a sibling host", http.MethodGet, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://grafana.internal:3000"}, 403, 403},
		{"same-site link to a sibling host", http.MethodGet, map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"}, 200, 200},
		{"own Origin, no Sec-Fetch-Site", http.MethodGet, map[string]string{"Origin": "http://" + host}, 200, 200},
		{"own Origin in other case", http.MethodGet, map[string]string{"Origin": "http://EXPORTER.internal:9667"}, 200, 200},
		{"own host on another port", http.MethodGet, map[string]string{"Origin": "http://exporter.internal:8080"}, 403, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, calls, _ := newTestProbe(t, guardConfig)
			req := httptest.NewRequest(tc.method, "http://"+host+"/probe?target=mx.example.com:25", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.probe {
				t.Errorf("/probe: %d %q, want %d", rec.Code, rec.Body, tc.probe)
			}
			refused := testutil.ToFloat64(h.Metrics.refused.WithLabelValues(RefusedCrossSite))
			if tc.probe == 403 {
				if calls.Load() != 0 || refused != 1 || !strings.Contains(rec.Body.String(), "refused") {
					t.Errorf("/probe refused: %d probes run, refused{cross_site} = %v, body %q", calls.Load(), refused, rec.Body)
				}
			} else if calls.Load() != 1 || refused != 0 {
				t.Errorf("/probe allowed: %d probes run, refused{cross_site} = %v", calls.Load(), refused)
			}

			reloads := 0
			reload := RefuseCrossSite(Reload(func() error { reloads++; return nil }))
			req = httptest.NewRequest(http.MethodPost, "http://"+host+"/-/reload", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec = httptest.NewRecorder()
			reload.ServeHTTP(rec, req)
			if rec.Code != tc.reload || (tc.reload == 403) != (reloads == 0) {
				t.Errorf("/-/reload: %d %q after %d reloads, want %d", rec.Code, rec.Body, reloads, tc.reload)
			}
		})
	}
}
