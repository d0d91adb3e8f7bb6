// Command bench measures what a probe costs smtp_exporter, side by side
// with blackbox_exporter doing the same SMTP conversation: CPU time,
// allocations and peak memory per probe, probes per second, the time until
// a failing probe returns, memory and goroutines with many probes held
// open, and the rate sustained before latency degrades. It builds and runs
// the real exporter binary, talks to it over HTTP like Prometheus does, and
// reads the exporters' CPU and memory from /proc. Everything stays on
// loopback. docs/performance.md has the results and how to read them.
//
//	go run ./bench --json bench/results/latest.json
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("bench", "Measures smtp_exporter's cost per probe, time to verdict and scale, side by side with blackbox_exporter.")
	repo := app.Flag("repo", "The smtp_exporter repository to build the exporter from.").Default(".").String()
	binary := app.Flag("exporter.binary", "Use this smtp_exporter binary instead of building one.").String()
	blackbox := app.Flag("blackbox.binary", "blackbox_exporter to compare with; empty: none.").Default("/usr/bin/prometheus-blackbox-exporter").String()
	testbedEnv := app.Flag("testbed.env", "The Postfix test bed's environment file (testbed/postfix.sh start writes it).").Default("/var/tmp/smtp_exporter-testbed/testbed.env").String()
	sections := app.Flag("sections", "What to measure, comma separated: cost, verdict, scale, hostile, sustained, domain, bounds (a domain probe's series, DNS questions, hostile memory and domains per minute; as root: it serves an MTA-STS policy on 127.0.0.6:443).").Default("cost,verdict,scale,hostile,sustained,domain,bounds").String()
	probes := app.Flag("probes", "Probes per measured run of a cost row.").Default("1000").Int()
	rounds := app.Flag("rounds", "Measured runs per exporter and cost row, alternating the exporters (A B A B).").Default("2").Int()
	costServers := app.Flag("cost.servers", "Servers of the cost rows, comma separated: in-process, postfix.").Default("in-process,postfix").String()
	costKinds := app.Flag("cost.kinds", "Conversations of the cost rows, comma separated: ehlo, starttls, implicit, posture (starttls with tls_posture).").Default("ehlo,starttls,implicit,posture").String()
	concurrency := app.Flag("concurrency", "Probes in flight during the cost runs, comma separated.").Default("8,64").String()
	verdictRuns := app.Flag("verdict.runs", "Probes per exporter and failure for the time to verdict.").Default("5").Int()
	verdictTimeout := app.Flag("verdict.timeout", "Module timeout of the time-to-verdict probes.").Default("3s").Duration()
	scaleProbes := app.Flag("scale.probes", "Probes held open at once by the tarpit.").Default("1000").Int()
	scaleTimeout := app.Flag("scale.timeout", "Module timeout of the tarpit probes: how long they are held.").Default("15s").Duration()
	hostileProbes := app.Flag("hostile.probes", "Probes held in flight at once by the worst hostile server (smtp_exporter only).").Default("100").Int()
	sustainedKinds := app.Flag("sustained.kinds", "Conversations ramped in the sustained-rate test (ehlo, starttls, implicit, posture).").Default("ehlo,starttls").String()
	sustainedStep := app.Flag("sustained.step", "Duration of each rate of the ramp.").Default("4s").Duration()
	sustainedStart := app.Flag("sustained.start", "First rate of the ramp, probes per second (raised 1.5x per step).").Default("50").Float64()
	sustainedMax := app.Flag("sustained.max", "Highest rate tried, probes per second.").Default("6000").Float64()
	domainProbes := app.Flag("domain.probes", "Domain probes per measured run of a domain row (and as many of each of its pairs alone).").Default("200").Int()
	boundsInFlight := app.Flag("bounds.in-flight", "Hostile domain probes held in flight at once (bounds section).").Default("20").Int()
	boundsRateProbes := app.Flag("bounds.rate.probes", "Domain probes of the domains-per-minute run (bounds section).").Default("2000").Int()
	boundsRateConc := app.Flag("bounds.rate.concurrency", "Domain probes in flight during the domains-per-minute run (bounds section).").Default("64").Int()
	jsonOut := app.Flag("json", "Write the report as JSON to this file.").Default("bench/results/latest.json").String()
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	o := options{
		sections:       map[string]bool{},
		probes:         *probes,
		rounds:         *rounds,
		verdictRuns:    *verdictRuns,
		verdictTimeout: *verdictTimeout,
		scaleProbes:    *scaleProbes,
		scaleTimeout:   *scaleTimeout,
		hostileProbes:  *hostileProbes,
		sustainedStep:  *sustainedStep,
		sustainedStart: *sustainedStart,
		sustainedMax:   *sustainedMax,
		domainProbes:   *domainProbes,
		boundsInFlight: *boundsInFlight, boundsRateProbes: *boundsRateProbes, boundsRateConc: *boundsRateConc,
		log: stderr,
	}
	for s := range strings.SplitSeq(*sections, ",") {
		switch s = strings.TrimSpace(s); s {
		case "cost", "verdict", "scale", "hostile", "sustained", "domain", "bounds":
			o.sections[s] = true
		default:
			fmt.Fprintf(stderr, "bench: unknown section %q in --sections; use cost, verdict, scale, hostile, sustained, domain or bounds\n", s)
			return 2
		}
	}
	for c := range strings.SplitSeq(*concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "bench: bad concurrency %q in --concurrency; use whole numbers of at least 1\n", c)
			return 2
		}
		o.concurrency = append(o.concurrency, n)
	}
	var ok bool
	if o.sustainedKinds, ok = parseKinds(*sustainedKinds, stderr); !ok {
		return 2
	}
	if o.costKinds, ok = parseKinds(*costKinds, stderr); !ok {
		return 2
	}
	o.costServers = map[string]bool{}
	for s := range strings.SplitSeq(*costServers, ",") {
		switch s = strings.TrimSpace(s); s {
		case "in-process", "postfix":
			o.costServers[s] = true
		default:
			fmt.Fprintf(stderr, "bench: unknown server %q in --cost.servers; use in-process or postfix\n", s)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// The in-process servers come from internal/smtptest, as in the tests.
	h, err := smtptest.NewEnv()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	defer h.Close()
	report, err := benchProcesses(ctx, o, h, *repo, *binary, *blackbox, *testbedEnv)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	printTables(stdout, report)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, report); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nJSON written to %s\n", *jsonOut)
	}
	return 0
}

func parseKinds(list string, stderr io.Writer) ([]kind, bool) {
	var kinds []kind
	for k := range strings.SplitSeq(list, ",") {
		switch k := kind(strings.TrimSpace(k)); k {
		case kindEHLO, kindStartTLS, kindImplicit, kindPosture:
			kinds = append(kinds, k)
		default:
			fmt.Fprintf(stderr, "bench: unknown kind %q; use ehlo, starttls, implicit or posture\n", k)
			return nil, false
		}
	}
	return kinds, true
}

// defaultMaxConcurrent is smtp_exporter's --probe.max-concurrent default;
// a scale test beyond it raises the limit instead of meeting 503s.
const defaultMaxConcurrent = 500

// benchProcesses starts the servers and the exporter processes and runs
// the benchmark against them.
func benchProcesses(ctx context.Context, o options, h *smtptest.Env, repo, binary, blackbox, testbedEnv string) (*Report, error) {
	r := newReport(o)
	ip := startInProcess(h)
	pf, why := findPostfix(testbedEnv)
	if pf == nil {
		r.Notes = append(r.Notes, "Postfix rows left out: "+why)
	}
	if blackbox != "" {
		if _, err := os.Stat(blackbox); err != nil {
			r.Notes = append(r.Notes, "blackbox_exporter left out: "+err.Error())
			blackbox = ""
		}
	}
	if binary == "" {
		fmt.Fprintln(o.log, "building smtp_exporter")
		var err error
		if binary, err = testtool.Build(repo, h.TempDir()); err != nil {
			return nil, err
		}
		r.Machine.Commit = commandOutput(ctx, "git", "-C", repo, "rev-parse", "--short", "HEAD")
	}
	var oursArgs []string
	if o.sections["scale"] && o.scaleProbes > defaultMaxConcurrent {
		oursArgs = append(oursArgs, fmt.Sprintf("--probe.max-concurrent=%d", o.scaleProbes))
	}
	specs := moduleSpecs(o, ip, pf)
	var dom *domainBed
	if o.sections["domain"] {
		var err error
		if dom, err = startDomainBed(h); err != nil {
			r.Notes = append(r.Notes, "domain rows left out: "+err.Error())
		} else {
			specs = append(specs, domainSpecs(dom)...)
		}
	}
	exporters, err := startExporters(ctx, binary, blackbox, h.TempDir(), specs, oursArgs...)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, e := range exporters {
			e.stop()
		}
	}()
	for _, e := range exporters {
		r.Machine.Exporters[e.name] = e.version
	}
	err = runBench(ctx, o, exporters, ip, pf, dom, r)
	if err == nil && o.sections["bounds"] {
		err = boundsSection(ctx, o, h, binary, r)
	}
	r.Machine.LoadAvgEnd = loadAvg()
	return r, err
}

func newReport(o options) *Report {
	return &Report{
		Generated: time.Now().UTC().Truncate(time.Second),
		Machine: Machine{
			CPU:          cpuModel(),
			Cores:        runtime.NumCPU(),
			Kernel:       firstLine("/proc/sys/kernel/osrelease"),
			GoVersion:    runtime.Version(),
			Exporters:    map[string]string{},
			LoadAvgStart: loadAvg(),
		},
		Settings: Settings{
			ProbesPerRun:   o.probes,
			Rounds:         o.rounds,
			Concurrency:    o.concurrency,
			VerdictRuns:    o.verdictRuns,
			VerdictTimeout: Duration(o.verdictTimeout),
			ScaleProbes:    o.scaleProbes,
			ScaleTimeout:   Duration(o.scaleTimeout),
			HostileProbes:  o.hostileProbes,
			SustainedStep:  Duration(o.sustainedStep),
		},
	}
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for l := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	f := strings.Fields(firstLine("/proc/loadavg"))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func firstLine(path string) string {
	data, _ := os.ReadFile(path)
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	return line
}
