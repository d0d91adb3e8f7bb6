package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// The mail-domain rows: a domain of 2 MX hosts x 2 addresses, probed as one
// domain probe and as its four pairs probed one by one as single targets,
// against the same in-process STARTTLS servers. The domain probe adds the
// DNS questions (MX, then A and AAAA of each host) and the fan-out.

const (
	domainModule = "domain_2x2"
	domainName   = "bench.test"
)

// domainBed is the domain's servers: mx1.bench.test on 127.0.0.2 and
// 127.0.0.3, mx2.bench.test on 127.0.0.4 and 127.0.0.5, one port for all,
// and an in-process DNS server answering for them.
type domainBed struct {
	port   int
	dns    string
	caFile string
	// pairs are the four (MX host, address) pairs.
	pairs []domainPair
}

type domainPair struct{ mx, addr string }

func startDomainBed(tb smtptest.T) (*domainBed, error) {
	ca := smtptest.NewCA(tb)
	cfg := smtptest.Config{StartTLS: smtptest.ServerTLS(ca.Issue(tb, smtptest.Leaf{DNSNames: []string{"mx1.bench.test", "mx2.bench.test"}}))}
	pairs := []domainPair{{"mx1.bench.test", "127.0.0.2"}, {"mx1.bench.test", "127.0.0.3"}, {"mx2.bench.test", "127.0.0.4"}, {"mx2.bench.test", "127.0.0.5"}}
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			return nil, err
		}
		_, portStr, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		var started []*smtptest.Server
		for _, p := range pairs {
			s, err := smtptest.NewServerOn(tb, net.JoinHostPort(p.addr, portStr), cfg)
			if err != nil {
				break
			}
			started = append(started, s)
		}
		if len(started) < len(pairs) {
			for _, s := range started {
				s.Close()
			}
			continue
		}
		port, _ := strconv.Atoi(portStr)
		records := []string{
			domainName + ". 300 IN MX 10 mx1.bench.test.",
			domainName + ". 300 IN MX 20 mx2.bench.test.",
		}
		for _, p := range pairs {
			records = append(records, p.mx+". 300 IN A "+p.addr)
		}
		dns := dnstest.Start(tb, records...)
		return &domainBed{port: port, dns: dns.Addr, caFile: ca.File, pairs: pairs}, nil
	}
	return nil, fmt.Errorf("no port free on 127.0.0.2-5")
}

// singleModule is the module of one pair probed alone: the same
// conversation, with the MX host as TLS server name.
func singleModule(mx string) string { return "domain_single_" + strings.SplitN(mx, ".", 2)[0] }

// domainSpecs are the modules of the domain rows, in smtp_exporter's config
// only (blackbox_exporter has no mail-domain probe).
func domainSpecs(d *domainBed) []moduleSpec {
	specs := []moduleSpec{{name: domainModule, raw: fmt.Sprintf(
		"    timeout: %s\n    port: %d\n    tls: starttls\n    ehlo_hostname: %s\n    tls_config: {ca_file: %q}\n    dns: {server: %q}\n    mx: {}\n",
		costTimeout, d.port, ehloHostname, d.caFile, d.dns)}}
	for _, mx := range []string{"mx1.bench.test", "mx2.bench.test"} {
		specs = append(specs, moduleSpec{name: singleModule(mx), kind: kindStartTLS, timeout: costTimeout, caFile: d.caFile, serverName: mx})
	}
	return specs
}

// domainRow measures n domain probes and n probes of each pair alone, at
// one concurrency, alternating the two (A B A B) over o.rounds.
func domainRow(ctx context.Context, o options, e *exporter, d *domainBed, conc int) (DomainRow, error) {
	row := DomainRow{Concurrency: conc, Pairs: len(d.pairs)}
	client := newClient(conc)
	defer client.CloseIdleConnections()
	domainURL := e.probeURL(domainModule, domainName)
	pairURL := func(p domainPair) string {
		return e.probeURL(singleModule(p.mx), net.JoinHostPort(p.addr, strconv.Itoa(d.port)))
	}
	// Warm up both.
	closedLoop(ctx, client, domainURL, 2*conc, conc)
	for _, p := range d.pairs {
		closedLoop(ctx, client, pairURL(p), 2*conc, conc)
	}
	var domainCPU, singlesCPU float64
	var domainLat []float64
	pairLat := make([][]float64, len(d.pairs))
	for range o.rounds {
		run, res, err := measuredRun(ctx, client, e, domainURL, o.domainProbes, conc)
		if err != nil {
			return row, err
		}
		row.Probes += run.Probes
		row.Succeeded += run.Succeeded
		domainCPU += run.CPUSeconds
		for _, l := range res.latencies {
			domainLat = append(domainLat, ms(l))
		}
		for i, p := range d.pairs {
			run, res, err := measuredRun(ctx, client, e, pairURL(p), o.domainProbes, conc)
			if err != nil {
				return row, err
			}
			row.SingleProbes += run.Probes
			row.SingleSucceeded += run.Succeeded
			singlesCPU += run.CPUSeconds
			for _, l := range res.latencies {
				pairLat[i] = append(pairLat[i], ms(l))
			}
		}
	}
	perDomain := float64(o.rounds * o.domainProbes)
	row.DomainCPUUS = domainCPU / perDomain * 1e6
	// The four pairs' probes together, per domain's worth (one of each).
	row.SinglesCPUUS = singlesCPU / perDomain * 1e6
	row.CPURatio = row.DomainCPUUS / row.SinglesCPUUS
	row.DomainP50MS = median(domainLat)
	for _, l := range pairLat {
		row.SlowestPairAloneP50MS = max(row.SlowestPairAloneP50MS, median(l))
		row.SumOfPairsP50MS += median(l)
	}
	// The slowest pair as the domain meets it: the four pairs probed at
	// once (four /probe requests, as Prometheus would scrape four targets),
	// sharing the CPU as the domain's pairs do; per round, the last answer.
	urls := make([]string, len(d.pairs))
	for i, p := range d.pairs {
		urls[i] = pairURL(p)
	}
	row.SlowestPairP50MS = median(pairsAtOnce(ctx, client, urls, o.rounds*o.domainProbes, conc))
	row.WallRatio = row.DomainP50MS / row.SlowestPairP50MS
	return row, nil
}

// pairsAtOnce runs n rounds of one probe of each URL at once, conc rounds
// in flight, and returns each round's slowest answer in milliseconds.
func pairsAtOnce(ctx context.Context, client *http.Client, urls []string, n, conc int) []float64 {
	var (
		next atomic.Int64
		mu   sync.Mutex
		out  []float64
		wg   sync.WaitGroup
	)
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				lat := make([]time.Duration, len(urls))
				var round sync.WaitGroup
				for i, u := range urls {
					round.Go(func() { lat[i] = scrape(ctx, client, u).latency })
				}
				round.Wait()
				mu.Lock()
				out = append(out, ms(slices.Max(lat)))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
