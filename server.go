package main

import (
	"net/http"
	"time"

	"github.com/smtp-exporter/smtp_exporter/config"
)

// serverLimits bound what a slow or careless HTTP client can hold on to.
type serverLimits struct {
	readHeader time.Duration // request line and headers
	read       time.Duration // the whole request, body included
	idle       time.Duration // a kept-alive connection between requests
	// write is the time to write a reply once the longest probe has run:
	// a client that does not read is cut off after it, with its goroutine
	// and buffers. A reply is at most some tens of kilobytes (a debug
	// report), seconds of work for any client that reads at all.
	write          time.Duration
	maxHeaderBytes int
}

// defaultServerLimits leave Prometheus, whose requests are small and quick,
// far from every bound.
var defaultServerLimits = serverLimits{
	readHeader:     10 * time.Second,
	read:           30 * time.Second,
	idle:           2 * time.Minute,
	write:          30 * time.Second,
	maxHeaderBytes: 64 << 10,
}

// newHTTPServer builds the exporter's HTTP server. running returns the
// running config, whose longest module timeout bounds a probe: a probe's deadline is
// its module's timeout, shortened by the scrape timeout header, never
// lengthened, so the longest module timeout bounds every probe. The write
// deadline is set per request from it, not as http.Server.WriteTimeout,
// because a reload may lengthen a module's timeout while the server runs.
func newHTTPServer(h http.Handler, l serverLimits, running func() *config.Config) *http.Server {
	longest := func() time.Duration { return longestProbe(running()) }
	return &http.Server{
		Handler:           withWriteDeadline(h, l.write, longest),
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
	}
}

func withWriteDeadline(h http.Handler, write time.Duration, longest func() time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Failing (a ResponseWriter that has no connection, in tests), the
		// reply is merely unbounded, as it was before.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(longest() + write))
		h.ServeHTTP(w, r)
	})
}

// longestProbe is the longest module timeout of cfg.
func longestProbe(cfg *config.Config) time.Duration {
	var longest time.Duration
	for _, m := range cfg.Modules {
		longest = max(longest, m.Timeout)
	}
	return longest
}
