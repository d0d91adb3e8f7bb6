package main

import (
	"net/http"
	"time"
)

// serverLimits bound what a slow or careless HTTP client can hold on to.
type serverLimits struct {
	readHeader     time.Duration // request line and headers
	read           time.Duration // the whole request, body included
	idle           time.Duration // a kept-alive connection between requests
	maxHeaderBytes int
}

// defaultServerLimits leave Prometheus, whose requests are small and quick,
// far from every bound. There is no write timeout: it would have to exceed
// the longest module timeout, which a reload can change, and every reply is
// small enough to fit the socket buffer, so a client that does not read
// cannot block the writer.
var defaultServerLimits = serverLimits{
	readHeader:     10 * time.Second,
	read:           30 * time.Second,
	idle:           2 * time.Minute,
	maxHeaderBytes: 64 << 10,
}

func newHTTPServer(h http.Handler, l serverLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
	}
}
