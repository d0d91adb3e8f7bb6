package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// The bounds section (issue 23): what a probe costs in series and DNS
// questions, what the worst hostile domain costs in memory with 20 of it in
// flight, and how many mail domains a minute the exporter probes. It runs
// its own smtp_exporter process, with an allow-list of loopback only: the
// hostile domain's answers hold documentation addresses, which must be
// judged, never dialed.

// boundsBed is the DNS, SMTP and HTTPS servers of the section.
type boundsBed struct {
	port    int
	dns     *dnstest.Server
	caFile  string
	release chan struct{} // lets the tarpits go
	held    atomic.Int64  // connections the tarpits hold
}

const (
	goodDomain    = "good.bench.test"    // 2 MX x 2 addresses, DANE, MTA-STS, reverse DNS
	twelveDomain  = "twelve.bench.test"  // 12 MX hosts, one address each
	hostileDomain = "hostile.bench.test" // dnstest.HostileMX: 12 MX of 64 A + 64 AAAA
	// policyAddr serves https://mta-sts.good.bench.test (port 443: run as root).
	policyAddr = "127.0.0.6"
)

func startBoundsBed(h *smtptest.Env) (*boundsBed, error) {
	b := &boundsBed{release: make(chan struct{})}
	ca := smtptest.NewCA(h)
	b.caFile = ca.File
	names := []string{"mx1." + goodDomain, "mx2." + goodDomain}
	for i := range 12 {
		names = append(names, fmt.Sprintf("m%02d.%s", i, twelveDomain))
	}
	mxCert := ca.Issue(h, smtptest.Leaf{DNSNames: names})
	good := smtptest.Config{StartTLS: smtptest.ServerTLS(mxCert)}
	goodAddrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	addrs := append([]string(nil), goodAddrs...)
	for hst := range 12 {
		for i := range 2 { // max_addresses of the A records: the pairs dialed
			addrs = append(addrs, fmt.Sprintf("127.0.%d.%d", 10+hst, i+1))
		}
	}
	port, _, err := smtptest.NewServersOnOnePort(h, addrs, func(a string) func(net.Conn, *smtptest.Server) {
		if strings.HasPrefix(a, "127.0.0.") {
			return func(c net.Conn, s *smtptest.Server) { s.Converse(c, good) }
		}
		// A tarpit: it takes the connection and never speaks, until the
		// exporter gives up on it.
		return func(c net.Conn, _ *smtptest.Server) {
			b.held.Add(1)
			defer b.held.Add(-1)
			gone := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, c); close(gone) }()
			select {
			case <-gone:
			case <-b.release:
			case <-time.After(2 * time.Minute):
			}
		}
	})
	if err != nil {
		return nil, err
	}
	b.port = port

	records := []string{
		goodDomain + ". 300 IN MX 10 mx1." + goodDomain + ".",
		goodDomain + ". 300 IN MX 20 mx2." + goodDomain + ".",
		"_mta-sts." + goodDomain + `. 300 IN TXT "v=STSv1; id=20261207"`,
		"_smtp._tls." + goodDomain + `. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@` + goodDomain + `"`,
		"mta-sts." + goodDomain + ". 300 IN A " + policyAddr,
	}
	for i, a := range goodAddrs {
		mx := names[i/2]
		records = append(records, mx+". 300 IN A "+a, ptrName(a)+". 300 IN PTR "+mx+".")
	}
	tlsa, err := dns.CertificateToDANE(1, 1, mxCert.Leaf)
	if err != nil {
		return nil, err
	}
	for _, mx := range names[:2] {
		records = append(records, fmt.Sprintf("_25._tcp.%s. 300 IN TLSA 3 1 1 %s", mx, tlsa))
	}
	for i := range 12 {
		records = append(records,
			fmt.Sprintf("%s. 300 IN MX %d %s.", twelveDomain, 10+i, names[2+i]),
			fmt.Sprintf("%s. 300 IN A %s", names[2+i], goodAddrs[i%4]))
	}
	records = append(records, dnstest.HostileMX(hostileDomain, 12, 64)...)
	// Ten PTR names for each address dialed, none resolving back.
	for _, a := range addrs[4:] {
		for n := range 10 {
			records = append(records, fmt.Sprintf("%s. 300 IN PTR p%d-%s.%s.", ptrName(a), n, strings.ReplaceAll(a, ".", "-"), hostileDomain))
		}
	}
	b.dns = dnstest.Start(h, records...)
	// The good domain is signed: its MX hosts' addresses and TLSA records
	// come with the AD bit, so that DANE checks the certificate.
	for _, mx := range names[:2] {
		b.dns.Set(b.dns.Secure, mx)
		b.dns.Set(b.dns.Secure, "_25._tcp."+mx)
	}

	if err := servePolicy(h, ca); err != nil {
		return nil, err
	}
	return b, nil
}

// ptrName is the in-addr.arpa name of an IPv4 address.
func ptrName(a string) string {
	name, _ := dns.ReverseAddr(a)
	return strings.TrimSuffix(name, ".")
}

// servePolicy serves the good domain's MTA-STS policy over HTTPS on
// policyAddr:443, with a certificate of the bench's CA.
func servePolicy(h *smtptest.Env, ca *smtptest.CA) error {
	cert := ca.Issue(h, smtptest.Leaf{DNSNames: []string{"mta-sts." + goodDomain}})
	ln, err := tls.Listen("tcp", net.JoinHostPort(policyAddr, "443"), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return fmt.Errorf("the MTA-STS policy host needs %s:443 (run as root): %w", policyAddr, err)
	}
	policy := "version: STSv1\nmode: enforce\nmx: mx1." + goodDomain + "\nmx: mx2." + goodDomain + "\nmax_age: 86400\n"
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, policy) // a client that left: nothing to do
	})}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed at cleanup
	h.Cleanup(func() { srv.Close() })
	return nil
}

// boundsConfig is the section's exporter configuration.
func (b *boundsBed) config() string {
	return fmt.Sprintf(`modules:
  starttls:
    timeout: 10s
    tls: starttls
    ehlo_hostname: %[1]s
    tls_config: {ca_file: %[2]q, server_name: mx1.%[5]s}
  mx:
    port: %[3]d
    tls: opportunistic
    timeout: 20s
    ehlo_hostname: %[1]s
    tls_config: {ca_file: %[2]q}
    dns: {server: %[4]q}
    dane: check
    mta_sts: true
    reverse_dns: true
    mx: {}
allowed_targets: {cidrs: [127.0.0.0/8]}
`, ehloHostname, b.caFile, b.port, b.dns.Addr, goodDomain)
}

// BoundsReport is what the bounds section measured.
type BoundsReport struct {
	// Series and DNS questions of one probe of each kind.
	Probes []ProbeCost `json:"probes"`
	// Hostile is the worst hostile domain with InFlight of it at once.
	Hostile HostileDomainRow `json:"hostile_domain"`
	// Rate is the good domain probed as fast as the exporter answers.
	Rate DomainRateRow `json:"domain_rate"`
}

// ProbeCost is one probe's series and DNS questions.
type ProbeCost struct {
	What       string  `json:"what"`
	Series     int     `json:"series"`
	DNSQueries float64 `json:"dns_queries"` // -1: a single target (not counted)
	Pairs      float64 `json:"pairs"`
	Skipped    float64 `json:"pairs_skipped"`
	Success    bool    `json:"success"`
}

// HostileDomainRow is the memory of hostile domain probes in flight.
type HostileDomainRow struct {
	InFlight         int     `json:"in_flight"`
	BaselineRSSBytes int64   `json:"baseline_rss_bytes"`
	InFlightRSSBytes int64   `json:"in_flight_rss_bytes"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
	RSSPerProbeBytes float64 `json:"rss_per_probe_bytes"`
	HeldConnections  int64   `json:"held_connections"`
	Answered         int     `json:"answered"`
	MaxLatencyMS     float64 `json:"max_latency_ms"`
}

// DomainRateRow is domains probed per minute.
type DomainRateRow struct {
	Concurrency    int     `json:"concurrency"`
	Probes         int     `json:"probes"`
	Succeeded      int     `json:"succeeded"`
	WallSeconds    float64 `json:"wall_seconds"`
	DomainsPerMin  float64 `json:"domains_per_minute"`
	CPUPerDomainMS float64 `json:"cpu_per_domain_ms"`
	// DriverCPUPerDomainMS is the bench's own CPU per domain: the
	// in-process SMTP, DNS and HTTPS servers (and the client), which share
	// the machine's cores with the exporter.
	DriverCPUPerDomainMS float64 `json:"driver_cpu_per_domain_ms"`
	// ExporterAloneDomainsPerMin is what the exporter's CPU per domain
	// allows on every core of the machine, were the servers elsewhere.
	ExporterAloneDomainsPerMin float64 `json:"exporter_alone_domains_per_minute"`
	P50MS                      float64 `json:"p50_ms"`
	P99MS                      float64 `json:"p99_ms"`
}

// boundsSection runs the section with its own exporter process.
func boundsSection(ctx context.Context, o options, h *smtptest.Env, binary string, r *Report) error {
	logf := func(format string, args ...any) { fmt.Fprintf(o.log, format+"\n", args...) }
	b, err := startBoundsBed(h)
	if err != nil {
		return err
	}
	defer close(b.release)
	dir := h.TempDir()
	cfg := filepath.Join(dir, "bounds.yml")
	if err := os.WriteFile(cfg, []byte(b.config()), 0o600); err != nil {
		return err
	}
	e, err := startProcess("smtp_exporter_bounds", dir, []string{binary, "--config.file=" + cfg, "--history.limit=0"})
	if err != nil {
		return err
	}
	defer e.stop()
	rep := &BoundsReport{}
	r.Bounds = rep

	logf("bounds: series and DNS questions per probe")
	client := newClient(64)
	defer client.CloseIdleConnections()
	for _, p := range []struct{ what, module, target string }{
		{"single target, STARTTLS", "starttls", net.JoinHostPort("127.0.0.2", strconv.Itoa(b.port))},
		{"domain: 2 MX x 2 addresses, DANE, MTA-STS, reverse DNS", "mx", goodDomain},
		{"domain: 12 MX hosts", "mx", twelveDomain},
	} {
		pc, err := probeCost(ctx, client, e.probeURL(p.module, p.target))
		if err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
		pc.What = p.what
		rep.Probes = append(rep.Probes, pc)
	}

	logf("bounds: the hostile domain, %d in flight", o.boundsInFlight)
	if rep.Hostile, err = hostileInFlight(ctx, o, e, b); err != nil {
		return err
	}
	// The hostile domain's series and questions, from one probe of it
	// (its tarpits let go at once now).
	pc, err := probeCost(ctx, client, e.probeURL("mx", hostileDomain))
	if err != nil {
		return err
	}
	pc.What = "domain: hostile (12 MX of 64 A + 64 AAAA, 10 PTR names each)"
	rep.Probes = append(rep.Probes, pc)

	logf("bounds: domains per minute, %d probes at concurrency %d", o.boundsRateProbes, o.boundsRateConc)
	rep.Rate, err = domainRate(ctx, e, goodDomain, o.boundsRateProbes, o.boundsRateConc)
	return err
}

// probeCost scrapes one probe and counts its series.
func probeCost(ctx context.Context, client *http.Client, url string) (ProbeCost, error) {
	pc := ProbeCost{DNSQueries: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return pc, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return pc, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return pc, fmt.Errorf("%s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		pc.Series++
		name, value, _ := strings.Cut(line, " ")
		v, _ := strconv.ParseFloat(value, 64)
		switch {
		case name == "probe_dns_queries":
			pc.DNSQueries = v
		case name == "probe_smtp_mx_addresses":
			pc.Pairs = v
		case strings.HasPrefix(name, "probe_smtp_domain_pairs_skipped"):
			pc.Skipped += v
		case name == "probe_success":
			pc.Success = v == 1
		}
	}
	return pc, sc.Err()
}

// hostileInFlight holds o.boundsInFlight hostile domain probes at once in
// the tarpits and reads the exporter's memory before and during.
func hostileInFlight(ctx context.Context, o options, e *exporter, b *boundsBed) (HostileDomainRow, error) {
	row := HostileDomainRow{InFlight: o.boundsInFlight}
	url := e.probeURL("mx", hostileDomain)
	// One probe first: what the exporter spends once (the first TLS and
	// DNS work, the heap's minimum) is not counted per probe.
	first := newClient(1)
	if out := scrape(ctx, first, url); out.err != nil {
		return row, out.err
	}
	first.CloseIdleConnections()
	if err := waitFor(ctx, 30*time.Second, func() bool { return b.held.Load() == 0 }); err != nil {
		return row, fmt.Errorf("the tarpits still hold %d connections", b.held.Load())
	}
	before, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	row.BaselineRSSBytes = before.RSS
	if err := resetPeakRSS(e.pid); err != nil {
		return row, err
	}
	client := newClient(o.boundsInFlight)
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var worst time.Duration
	for range o.boundsInFlight {
		wg.Go(func() {
			out := scrape(ctx, client, url)
			mu.Lock()
			defer mu.Unlock()
			if out.err == nil {
				row.Answered++
			}
			worst = max(worst, out.latency)
		})
	}
	// Each probe holds mx.concurrency tarpit conversations at most.
	_ = waitFor(ctx, 10*time.Second, func() bool { return b.held.Load() >= int64(o.boundsInFlight) })
	time.Sleep(time.Second)
	row.HeldConnections = b.held.Load()
	during, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	row.InFlightRSSBytes = during.RSS
	wg.Wait()
	after, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	row.PeakRSSBytes = after.PeakRSS
	row.RSSPerProbeBytes = float64(max(row.InFlightRSSBytes, row.PeakRSSBytes)-row.BaselineRSSBytes) / float64(o.boundsInFlight)
	row.MaxLatencyMS = ms(worst)
	return row, nil
}

// domainRate probes domain n times, conc at once, and says how many a
// minute the exporter answered.
func domainRate(ctx context.Context, e *exporter, domain string, n, conc int) (DomainRateRow, error) {
	row := DomainRateRow{Concurrency: conc, Probes: n}
	client := newClient(conc)
	defer client.CloseIdleConnections()
	url := e.probeURL("mx", domain)
	closedLoop(ctx, client, url, 2*conc, conc) // warm up
	before, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	driverBefore, err := readProc(os.Getpid())
	if err != nil {
		return row, err
	}
	start := time.Now()
	res := closedLoop(ctx, client, url, n, conc)
	row.WallSeconds = time.Since(start).Seconds()
	after, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	driverAfter, err := readProc(os.Getpid())
	if err != nil {
		return row, err
	}
	row.DriverCPUPerDomainMS = (driverAfter.CPU - driverBefore.CPU).Seconds() / float64(n) * 1e3
	row.Succeeded = res.succeeded
	row.DomainsPerMin = float64(n) / row.WallSeconds * 60
	row.CPUPerDomainMS = (after.CPU - before.CPU).Seconds() / float64(n) * 1e3
	row.ExporterAloneDomainsPerMin = float64(runtime.NumCPU()) * 60e3 / row.CPUPerDomainMS
	row.P50MS, row.P99MS = ms(res.quantile(0.5)), ms(res.quantile(0.99))
	if row.Succeeded < n {
		return row, fmt.Errorf("%d of %d probes of %s succeeded (%d HTTP errors; failures %v)", row.Succeeded, n, domain, res.httpErrors, res.reasons)
	}
	return row, nil
}

// printBounds prints the section's tables.
func printBounds(w io.Writer, b *BoundsReport) {
	var buf bytes.Buffer
	fmt.Fprintln(&buf, "\nSeries and DNS questions per probe")
	for _, p := range b.Probes {
		q := "-"
		if p.DNSQueries >= 0 {
			q = strconv.FormatFloat(p.DNSQueries, 'f', 0, 64)
		}
		fmt.Fprintf(&buf, "  %-70s series %5d  DNS questions %4s  pairs %3.0f  skipped %5.0f  success %v\n", p.What, p.Series, q, p.Pairs, p.Skipped, p.Success)
	}
	h := b.Hostile
	fmt.Fprintf(&buf, "\nHostile domain, %d in flight: RSS %.1f -> %.1f MiB (peak %.1f), %.0f KiB per probe; %d tarpit connections held; %d answered, slowest %.0f ms\n",
		h.InFlight, mib(h.BaselineRSSBytes), mib(h.InFlightRSSBytes), mib(h.PeakRSSBytes), h.RSSPerProbeBytes/1024, h.HeldConnections, h.Answered, h.MaxLatencyMS)
	r := b.Rate
	fmt.Fprintf(&buf, "\nDomains per minute (2 MX x 2 addresses, STARTTLS, DANE, MTA-STS, reverse DNS), concurrency %d: %.0f/min (%d/%d ok in %.1f s), p50 %.1f ms, p99 %.1f ms;\n  CPU per domain: exporter %.2f ms, the bench's servers and client %.2f ms; the exporter's CPU alone allows %.0f/min on these cores\n",
		r.Concurrency, r.DomainsPerMin, r.Succeeded, r.Probes, r.WallSeconds, r.P50MS, r.P99MS, r.CPUPerDomainMS, r.DriverCPUPerDomainMS, r.ExporterAloneDomainsPerMin)
	_, _ = w.Write(buf.Bytes())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
