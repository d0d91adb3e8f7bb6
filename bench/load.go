package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// newClient returns an HTTP client that keeps up to conns connections to
// an exporter, so that the load measures probes, not TCP setup to /probe.
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}}
}

// outcome is one /probe request as the driver saw it.
type outcome struct {
	latency time.Duration
	ok      bool   // HTTP 200 with probe_success 1
	reason  string // smtp_exporter's failure reason, if any
	err     error  // the HTTP request itself failed
}

var (
	successLine = []byte("\nprobe_success 1\n")
	reasonRE    = regexp.MustCompile(`(?m)^probe_smtp_failure\{reason="([a-z_]+)"\} 1$`)
	// A mail domain's: its own reason, and a failing pair's.
	domainReasonRE = regexp.MustCompile(`(?m)^probe_smtp_domain_failure\{reason="([a-z_]+)"\} 1$`)
	pairReasonRE   = regexp.MustCompile(`(?m)^probe_smtp_failure\{address="[^"]*",mx="[^"]*",reason="([a-z_]+)"\} 1$`)
)

// scrape issues one /probe request, as a Prometheus scrape does, and reads the whole answer.
func scrape(ctx context.Context, client *http.Client, url string) outcome {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcome{err: err}
	}
	// What Debian 12's Prometheus (2.42) asks for; Go's client adds
	// Accept-Encoding: gzip, as Prometheus does.
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		return outcome{latency: time.Since(start), err: err}
	}
	var body bytes.Buffer
	_, err = io.Copy(&body, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	o := outcome{latency: time.Since(start), err: err}
	if err == nil && resp.StatusCode == http.StatusOK {
		o.ok = bytes.Contains(body.Bytes(), successLine)
		if m := reasonRE.FindSubmatch(body.Bytes()); m != nil {
			o.reason = string(m[1])
		} else if m := domainReasonRE.FindSubmatch(body.Bytes()); m != nil {
			o.reason = string(m[1])
			if m := pairReasonRE.FindSubmatch(body.Bytes()); m != nil {
				o.reason += " (a pair: " + string(m[1]) + ")"
			}
		}
	}
	return o
}

// loadResult sums up many probes.
type loadResult struct {
	probes, succeeded, httpErrors int
	wall                          time.Duration
	latencies                     []time.Duration // sorted
	reasons                       map[string]int  // of the probes that failed
}

func (r *loadResult) add(o outcome) {
	r.probes++
	if o.ok {
		r.succeeded++
	} else if o.reason != "" {
		if r.reasons == nil {
			r.reasons = map[string]int{}
		}
		r.reasons[o.reason]++
	}
	if o.err != nil {
		r.httpErrors++
	}
	r.latencies = append(r.latencies, o.latency)
}

func (r *loadResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

// closedLoop runs n probes with conc of them in flight at all times.
func closedLoop(ctx context.Context, client *http.Client, url string, n, conc int) loadResult {
	var (
		next atomic.Int64
		mu   sync.Mutex
		res  loadResult
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				o := scrape(ctx, client, url)
				mu.Lock()
				res.add(o)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// openLoop starts probes at a fixed rate for d, whatever the answers'
// pace, as Prometheus' scrapes do. A probe's latency counts from the
// moment it was due, so a driver falling behind shows as latency too.
// More than maxInFlight probes outstanding count as failed, unsent.
func openLoop(ctx context.Context, client *http.Client, url string, rate float64, d time.Duration, maxInFlight int) loadResult {
	var (
		mu       sync.Mutex
		res      loadResult
		wg       sync.WaitGroup
		inFlight atomic.Int64
	)
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		if inFlight.Load() >= int64(maxInFlight) {
			mu.Lock()
			res.add(outcome{latency: time.Since(due), err: context.DeadlineExceeded})
			mu.Unlock()
			continue
		}
		inFlight.Add(1)
		wg.Go(func() {
			defer inFlight.Add(-1)
			o := scrape(ctx, client, url)
			o.latency = time.Since(due)
			mu.Lock()
			res.add(o)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	slices.Sort(res.latencies)
	return res
}
