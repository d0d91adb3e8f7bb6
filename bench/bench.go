package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"time"
)

// options are the driver's parameters.
type options struct {
	sections       map[string]bool
	probes         int
	rounds         int
	costServers    map[string]bool
	costKinds      []kind
	concurrency    []int
	verdictRuns    int
	verdictTimeout time.Duration
	scaleProbes    int
	scaleTimeout   time.Duration
	hostileProbes  int
	sustainedKinds []kind
	sustainedStep  time.Duration
	sustainedStart float64
	sustainedMax   float64
	domainProbes   int
	// The bounds section: hostile domain probes held at once, and the
	// good domain's probes and concurrency of the rate.
	boundsInFlight, boundsRateProbes, boundsRateConc int
	log                                              io.Writer
}

// costTimeout is the module timeout of the cost runs: long enough never to
// end a healthy probe, so that a slow one shows in the latency instead.
const costTimeout = 10 * time.Second

// modulePrefix names a server's modules: "ip_starttls", "pf_ehlo".
var modulePrefix = map[string]string{"in-process": "ip", "postfix": "pf"}

func moduleName(server string, k kind) string { return modulePrefix[server] + "_" + string(k) }

// verdictModule is the module of the time-to-verdict probes: STARTTLS, the
// longest conversation, so that each failure happens where it would in use.
func verdictModule(server string) string { return "verdict_" + modulePrefix[server] }

const tarpitModule = "tarpit"

// hostileModule probes the worst hostile server: STARTTLS, its CA trusted,
// pinned to a name its certificate does not hold.
const hostileModule = "hostile"

// hostileTimeout is the hostile module's timeout: its conversations are
// long (a 200 KB certificate to parse and verify, 256 KB replies), so
// filling it takes longer than filling the tarpit.
func hostileTimeout(o options) time.Duration { return 4 * o.scaleTimeout }

// moduleSpecs are the modules both exporters are configured with.
func moduleSpecs(o options, ip *inProcess, pf *postfix) []moduleSpec {
	var specs []moduleSpec
	for _, s := range targetSets(ip, pf) {
		for _, k := range []kind{kindEHLO, kindStartTLS, kindImplicit, kindPosture} {
			specs = append(specs, moduleSpec{name: moduleName(s.server, k), kind: k, timeout: costTimeout, caFile: s.caFile, serverName: s.serverName})
		}
		specs = append(specs, moduleSpec{name: verdictModule(s.server), kind: kindStartTLS, timeout: o.verdictTimeout, caFile: s.caFile, serverName: s.serverName})
	}
	specs = append(specs, moduleSpec{name: hostileModule, kind: kindStartTLS, timeout: hostileTimeout(o), caFile: ip.worstCA, serverName: "localhost"})
	return append(specs, moduleSpec{name: tarpitModule, kind: kindEHLO, timeout: o.scaleTimeout})
}

// targetSets are the well-behaved servers: the in-process ones, and
// Postfix's when the test bed runs.
func targetSets(ip *inProcess, pf *postfix) []targetSet {
	if pf == nil {
		return []targetSet{ip.fast}
	}
	return []targetSet{ip.fast, pf.targets}
}

// runBench runs the chosen sections against the exporters (smtp_exporter
// first, then blackbox_exporter if present).
func runBench(ctx context.Context, o options, exporters []*exporter, ip *inProcess, pf *postfix, dom *domainBed, r *Report) error {
	logf := func(format string, args ...any) { fmt.Fprintf(o.log, format+"\n", args...) }
	if o.sections["domain"] && dom != nil {
		for _, conc := range o.concurrency {
			logf("domain: 2 MX x 2 addresses, concurrency %d", conc)
			row, err := domainRow(ctx, o, exporters[0], dom, conc)
			if err != nil {
				return err
			}
			r.Domain = append(r.Domain, row)
		}
	}
	if o.sections["cost"] {
		for _, set := range targetSets(ip, pf) {
			if !o.costServers[set.server] {
				continue
			}
			for _, k := range o.costKinds {
				for _, conc := range o.concurrency {
					logf("cost: %s %s, concurrency %d", set.server, k, conc)
					row, err := costRow(ctx, o, exporters, set, k, conc)
					if err != nil {
						return err
					}
					r.Cost = append(r.Cost, row)
				}
			}
		}
	}
	if o.sections["verdict"] {
		logf("time to verdict")
		rows, err := verdicts(ctx, o, exporters, ip, pf)
		if err != nil {
			return err
		}
		r.Verdict = rows
	}
	if o.sections["scale"] {
		for _, e := range exporters {
			logf("scale: %s, %d probes held by a tarpit", e.name, o.scaleProbes)
			tp := holder{what: "the tarpit", module: tarpitModule, addr: ip.tarpit.addr, timeout: o.scaleTimeout, held: ip.tarpit.open.Load, release: func() {}}
			row, err := scale(ctx, o, e, tp, o.scaleProbes)
			if err != nil {
				return err
			}
			r.Scale = append(r.Scale, row)
		}
	}
	if o.sections["hostile"] {
		// smtp_exporter only: the row is about its bounds, and the worst
		// server holds probes once (Release is for good).
		if o.sections["cost"] || o.sections["scale"] || o.sections["sustained"] {
			r.Notes = append(r.Notes, "the hostile row was measured in the same exporter process after other sections: "+
				"its idle RSS includes the heap they grew, which the held probes reuse; run --sections hostile alone for its figure")
		}
		e := exporters[0]
		logf("hostile: %s, %d probes held by the worst hostile server", e.name, o.hostileProbes)
		w := ip.worst
		worst := holder{
			what: "the worst hostile server", module: hostileModule, addr: w.Addr, timeout: hostileTimeout(o),
			held: w.Held.Load, release: w.Release, first: ip.worstFree.Addr,
		}
		row, err := scale(ctx, o, e, worst, o.hostileProbes)
		if err != nil {
			return err
		}
		r.Hostile = append(r.Hostile, row)
	}
	if o.sections["sustained"] {
		for _, k := range o.sustainedKinds {
			for _, e := range exporters {
				logf("sustained: %s %s", e.name, k)
				row, err := sustained(ctx, o, e, ip.fast, k)
				if err != nil {
					return err
				}
				r.Sustained = append(r.Sustained, row)
			}
		}
	}
	return nil
}

// costRow measures one server, conversation and concurrency: a warm-up,
// then A B A B so that drift of a shared machine hits both exporters alike.
func costRow(ctx context.Context, o options, exporters []*exporter, set targetSet, k kind, conc int) (CostRow, error) {
	row := CostRow{Server: set.server, Kind: k, Concurrency: conc, Exporters: map[string]*CostStats{}}
	client := newClient(conc)
	defer client.CloseIdleConnections()
	module, target := moduleName(set.server, k), set.addr[k]
	latencies := map[string][]time.Duration{}
	for _, e := range exporters {
		closedLoop(ctx, client, e.probeURL(module, target), 2*conc, conc)
		row.Exporters[e.name] = &CostStats{}
	}
	for range o.rounds {
		for _, e := range exporters {
			run, res, err := measuredRun(ctx, client, e, e.probeURL(module, target), o.probes, conc)
			if err != nil {
				return row, err
			}
			s := row.Exporters[e.name]
			s.Runs = append(s.Runs, run)
			s.HTTPErrors += res.httpErrors
			latencies[e.name] = append(latencies[e.name], res.latencies...)
		}
	}
	for name, s := range row.Exporters {
		var wall, cpu, mallocs float64
		for _, run := range s.Runs {
			s.Probes += run.Probes
			s.Succeeded += run.Succeeded
			wall += run.WallSeconds
			cpu += run.CPUSeconds
			mallocs += run.Mallocs
			s.PeakRSSBytes = max(s.PeakRSSBytes, run.PeakRSSBytes)
		}
		n := float64(s.Probes)
		s.CPUPerProbeUS = cpu / n * 1e6
		s.AllocsPerProbe = mallocs / n
		s.ProbesPerSecond = n / wall
		all := loadResult{latencies: latencies[name]}
		slices.Sort(all.latencies)
		s.P50MS, s.P99MS = ms(all.quantile(0.5)), ms(all.quantile(0.99))
	}
	if a, b := row.Exporters[ours], row.Exporters[theirs]; a != nil && b != nil {
		row.Ratio = &Ratios{
			CPUPerProbe:     a.CPUPerProbeUS / b.CPUPerProbeUS,
			ProbesPerSecond: a.ProbesPerSecond / b.ProbesPerSecond,
			PeakRSS:         float64(a.PeakRSSBytes) / float64(b.PeakRSSBytes),
		}
	}
	return row, nil
}

// measuredRun runs n probes and reads the exporter's CPU time, allocations
// and peak RSS around them.
func measuredRun(ctx context.Context, client *http.Client, e *exporter, url string, n, conc int) (CostRun, loadResult, error) {
	if err := resetPeakRSS(e.pid); err != nil {
		return CostRun{}, loadResult{}, err
	}
	g0, err := e.gauges("go_memstats_mallocs_total")
	if err != nil {
		return CostRun{}, loadResult{}, err
	}
	p0, err := readProc(e.pid)
	if err != nil {
		return CostRun{}, loadResult{}, err
	}
	res := closedLoop(ctx, client, url, n, conc)
	p1, err := readProc(e.pid)
	if err != nil {
		return CostRun{}, loadResult{}, err
	}
	g1, err := e.gauges("go_memstats_mallocs_total")
	if err != nil {
		return CostRun{}, loadResult{}, err
	}
	return CostRun{
		Probes:       res.probes,
		Succeeded:    res.succeeded,
		WallSeconds:  res.wall.Seconds(),
		CPUSeconds:   (p1.CPU - p0.CPU).Seconds(),
		Mallocs:      g1["go_memstats_mallocs_total"] - g0["go_memstats_mallocs_total"],
		PeakRSSBytes: p1.PeakRSS,
	}, res, nil
}

// verdictCase is one failure whose time to verdict is measured.
type verdictCase struct {
	failure, server, target, module, want string
}

func verdicts(ctx context.Context, o options, exporters []*exporter, ip *inProcess, pf *postfix) ([]VerdictRow, error) {
	var cases []verdictCase
	for _, f := range ip.failing {
		cases = append(cases, verdictCase{f.name, "in-process", f.addr, verdictModule("in-process"), f.want})
	}
	if pf != nil {
		mod := verdictModule("postfix")
		cases = append(cases,
			verdictCase{"greeting 554 (Postfix)", "postfix", pf.reject, mod, "banner_rejected"},
			verdictCase{"expired certificate (Postfix)", "postfix", pf.expired, mod, "cert_expired"},
			verdictCase{"certificate for another name (Postfix)", "postfix", pf.wronghost, mod, "cert_hostname_mismatch"},
		)
	}
	client := newClient(4)
	defer client.CloseIdleConnections()
	var rows []VerdictRow
	for _, c := range cases {
		row := VerdictRow{Failure: c.failure, Server: c.server, WantReason: c.want, Exporters: map[string]*VerdictStats{}}
		samples := map[string][]time.Duration{}
		reasons := map[string]map[string]bool{}
		// One probe each first, unmeasured: Postfix starts an smtpd
		// process for a listener that has none idle, which takes longer
		// than the verdict itself.
		for _, e := range exporters {
			if c.server != "postfix" {
				break
			}
			pctx, cancel := context.WithTimeout(ctx, o.verdictTimeout+10*time.Second)
			scrape(pctx, client, e.probeURL(c.module, c.target))
			cancel()
		}
		for range o.verdictRuns {
			for _, e := range exporters {
				pctx, cancel := context.WithTimeout(ctx, o.verdictTimeout+10*time.Second)
				out := scrape(pctx, client, e.probeURL(c.module, c.target))
				cancel()
				if out.err != nil {
					return nil, fmt.Errorf("%s: %s: %w", e.name, c.failure, out.err)
				}
				s := row.Exporters[e.name]
				if s == nil {
					s = &VerdictStats{}
					row.Exporters[e.name] = s
					reasons[e.name] = map[string]bool{}
				}
				s.Runs++
				if out.ok {
					s.Succeeded++
				}
				if out.reason != "" {
					reasons[e.name][out.reason] = true
				}
				samples[e.name] = append(samples[e.name], out.latency)
			}
		}
		for name, s := range row.Exporters {
			d := samples[name]
			slices.Sort(d)
			s.MedianMS, s.MaxMS = ms(d[len(d)/2]), ms(d[len(d)-1])
			for reason := range reasons[name] {
				s.Reasons = append(s.Reasons, reason)
			}
			sort.Strings(s.Reasons)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// holder is a server that holds probes in flight: the tarpit, or the worst
// hostile server.
type holder struct {
	what, module, addr string
	timeout            time.Duration // the module's: probes are held up to half of it
	held               func() int64  // probes it holds now
	release            func()        // lets them go on, after the measurement
	// first, when set, is the same server without the hold: one probe of
	// it comes before the idle figures, so that what an exporter spends
	// once (its first TLS handshake and certificate parse, the garbage
	// collector's 4 MiB minimum heap) is not counted per probe. The row
	// keeps the RSS from before it.
	first string
}

// scale holds probes at once in a holder and reads the exporter's resident
// memory and goroutines before, during and after.
func scale(ctx context.Context, o options, e *exporter, h holder, probes int) (ScaleRow, error) {
	row := ScaleRow{Exporter: e.name, Probes: probes, Reasons: map[string]int{}}
	const goroutines = "go_goroutines"
	if err := waitFor(ctx, 10*time.Second, func() bool { return h.held() == 0 }); err != nil {
		return row, fmt.Errorf("%s still holds %d connections from before", h.what, h.held())
	}
	if h.first != "" {
		fresh, err := readProc(e.pid)
		if err != nil {
			return row, err
		}
		row.FreshRSSBytes = fresh.RSS
		c := newClient(1)
		out := scrape(ctx, c, e.probeURL(h.module, h.first))
		c.CloseIdleConnections() // its connection's goroutine is not the held probes'
		if out.err != nil {
			return row, fmt.Errorf("the first probe of %s: %w", h.what, out.err)
		}
	}
	before, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	memory := []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes"}
	idleMemory, err := e.gauges(memory...)
	if err != nil {
		return row, err
	}
	// The lowest of a few samples: connections of earlier work may still be closing.
	baseline, err := fewestGoroutines(ctx, e, time.Second, func(float64) bool { return false })
	if err != nil {
		return row, err
	}
	row.BaselineRSSBytes, row.BaselineGoroutines = before.RSS, baseline
	if err := resetPeakRSS(e.pid); err != nil {
		return row, err
	}

	client := newClient(probes)
	outcomes := make(chan outcome, probes)
	pctx, cancel := context.WithTimeout(ctx, h.timeout+30*time.Second)
	defer cancel()
	url := e.probeURL(h.module, h.addr)
	for range probes {
		go func() { outcomes <- scrape(pctx, client, url) }()
	}
	// Every probe sits in the holder; let the exporter settle, then look.
	held := waitFor(ctx, h.timeout/2, func() bool { return h.held() >= int64(probes) })
	time.Sleep(min(time.Second, h.timeout/4))
	row.HeldAtOnce = h.held()
	during, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	g, err := e.gauges(append(memory, goroutines)...)
	if err != nil {
		return row, err
	}
	row.InFlightRSSBytes, row.InFlightGoroutines = during.RSS, g[goroutines]
	h.release()
	for range probes {
		out := <-outcomes
		if out.err != nil {
			row.HTTPErrors++
		}
		row.Reasons[out.reason]++
	}
	after, err := readProc(e.pid)
	if err != nil {
		return row, err
	}
	row.PeakRSSBytes = after.PeakRSS
	if held != nil {
		return row, fmt.Errorf("%s: only %d of %d probes reached %s", e.name, row.HeldAtOnce, probes, h.what)
	}
	n := float64(probes)
	row.RSSPerProbeBytes = float64(row.InFlightRSSBytes-row.BaselineRSSBytes) / n
	row.HeapPerProbeBytes = (g[memory[0]] - idleMemory[memory[0]]) / n
	row.StackPerProbeBytes = (g[memory[1]] - idleMemory[memory[1]]) / n
	row.GoroutinesPerProbe = (row.InFlightGoroutines - row.BaselineGoroutines) / n

	// Idle keep-alive connections hold a goroutine each in the server: they
	// are the client's, not the probes', so close them before counting.
	client.CloseIdleConnections()
	settled, err := fewestGoroutines(ctx, e, 10*time.Second, func(n float64) bool { return n <= baseline })
	if err != nil {
		return row, err
	}
	row.AfterGoroutines = settled
	row.LeftBehind = max(0, row.AfterGoroutines-row.BaselineGoroutines)
	return row, nil
}

// fewestGoroutines samples the exporter's go_goroutines for up to d and
// returns the lowest, early once enough says so. Reading /metrics costs a
// goroutine or two itself, and closing connections take a moment to go.
func fewestGoroutines(ctx context.Context, e *exporter, d time.Duration, enough func(float64) bool) (float64, error) {
	const name = "go_goroutines"
	fewest := math.Inf(1)
	for deadline := time.Now().Add(d); ; {
		g, err := e.gauges(name)
		if err != nil {
			return 0, err
		}
		v, ok := g[name]
		if !ok {
			return 0, fmt.Errorf("%s: no %s in /metrics", e.name, name)
		}
		fewest = min(fewest, v)
		if enough(fewest) || time.Now().After(deadline) {
			return fewest, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sustained raises an open-loop rate until p99 latency degrades.
func sustained(ctx context.Context, o options, e *exporter, set targetSet, k kind) (SustainedRow, error) {
	row := SustainedRow{Exporter: e.name, Kind: k}
	const floor = 25 * time.Millisecond
	row.Criterion = fmt.Sprintf("p99 within max(3x the p99 at %.0f/s, %s), no failed probe, at least 95%% of the offered rate achieved",
		o.sustainedStart, floor)
	client := newClient(1000)
	defer client.CloseIdleConnections()
	url := e.probeURL(moduleName(set.server, k), set.addr[k])
	closedLoop(ctx, client, url, 200, 8)
	var limit time.Duration
	pids := []int{e.pid, os.Getpid()} // the exporter's, the driver's
	for rate := o.sustainedStart; rate <= o.sustainedMax; rate *= 1.5 {
		before, err := cpuTimes(pids...)
		if err != nil {
			return row, err
		}
		res := openLoop(ctx, client, url, rate, o.sustainedStep, 1000)
		after, err := cpuTimes(pids...)
		if err != nil {
			return row, err
		}
		cores := func(i int) float64 { return (after[i] - before[i]).Seconds() / res.wall.Seconds() }
		st := Step{
			Offered:       rate,
			Achieved:      float64(res.succeeded) / res.wall.Seconds(),
			Failed:        res.probes - res.succeeded,
			P50MS:         ms(res.quantile(0.5)),
			P99MS:         ms(res.quantile(0.99)),
			ExporterCores: cores(0),
			DriverCores:   cores(1),
		}
		p99 := res.quantile(0.99)
		if limit == 0 {
			limit = max(3*p99, floor)
		}
		st.Degraded = p99 > limit || st.Failed > 0 || st.Achieved < 0.95*rate
		row.Steps = append(row.Steps, st)
		if st.Degraded {
			break
		}
		row.Sustained = rate
		if ctx.Err() != nil {
			return row, ctx.Err()
		}
	}
	return row, nil
}

// waitFor polls cond until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
