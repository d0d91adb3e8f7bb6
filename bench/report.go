package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one run of the driver measured; it is written as
// JSON and printed as tables.
type Report struct {
	Generated time.Time    `json:"generated"`
	Machine   Machine      `json:"machine"`
	Settings  Settings     `json:"settings"`
	Cost      []CostRow    `json:"cost,omitempty"`
	Verdict   []VerdictRow `json:"time_to_verdict,omitempty"`
	Scale     []ScaleRow   `json:"scale,omitempty"`
	// Hostile is probes held in flight by the worst hostile server.
	Hostile   []ScaleRow     `json:"hostile,omitempty"`
	Sustained []SustainedRow `json:"sustained,omitempty"`
	// Domain is a mail domain of 2 MX x 2 addresses against its pairs alone.
	Domain []DomainRow `json:"domain,omitempty"`
	// Bounds is what a domain probe costs in series, DNS questions and
	// memory at its worst, and domains per minute (issue 23).
	Bounds *BoundsReport `json:"bounds,omitempty"`
	// Notes say what was left out and why.
	Notes []string `json:"notes,omitempty"`
}

// Machine describes where the figures come from.
type Machine struct {
	CPU          string            `json:"cpu"`
	Cores        int               `json:"cores"`
	Kernel       string            `json:"kernel"`
	GoVersion    string            `json:"go_version"`
	Commit       string            `json:"commit,omitempty"`
	Exporters    map[string]string `json:"exporters"`
	LoadAvgStart string            `json:"loadavg_start"`
	LoadAvgEnd   string            `json:"loadavg_end"`
}

// Settings are the driver's parameters for this report.
type Settings struct {
	ProbesPerRun   int      `json:"probes_per_run"`
	Rounds         int      `json:"rounds"`
	Concurrency    []int    `json:"concurrency"`
	VerdictRuns    int      `json:"verdict_runs"`
	VerdictTimeout Duration `json:"verdict_timeout"`
	ScaleProbes    int      `json:"scale_probes"`
	ScaleTimeout   Duration `json:"scale_timeout"`
	HostileProbes  int      `json:"hostile_probes"`
	SustainedStep  Duration `json:"sustained_step"`
}

// Duration is a time.Duration written as a string ("3s") in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// CostRow is one server, conversation and concurrency, for each exporter.
type CostRow struct {
	Server      string                `json:"server"`
	Kind        kind                  `json:"kind"`
	Concurrency int                   `json:"concurrency"`
	Exporters   map[string]*CostStats `json:"exporters"`
	// Ratio is smtp_exporter's figure divided by blackbox_exporter's.
	Ratio *Ratios `json:"ratio_ours_to_blackbox,omitempty"`
}

// CostStats sums up an exporter's runs of one cost row.
type CostStats struct {
	Probes          int       `json:"probes"`
	Succeeded       int       `json:"succeeded"`
	HTTPErrors      int       `json:"http_errors"`
	CPUPerProbeUS   float64   `json:"cpu_per_probe_us"`
	AllocsPerProbe  float64   `json:"allocs_per_probe"`
	ProbesPerSecond float64   `json:"probes_per_second"`
	PeakRSSBytes    int64     `json:"peak_rss_bytes"`
	P50MS           float64   `json:"p50_ms"`
	P99MS           float64   `json:"p99_ms"`
	Runs            []CostRun `json:"runs"`
}

// CostRun is one measured run (one A or B of A B A B).
type CostRun struct {
	Probes       int     `json:"probes"`
	Succeeded    int     `json:"succeeded"`
	WallSeconds  float64 `json:"wall_seconds"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	Mallocs      float64 `json:"mallocs"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
}

// Ratios compare smtp_exporter with blackbox_exporter (ours / theirs).
type Ratios struct {
	CPUPerProbe     float64 `json:"cpu_per_probe"`
	ProbesPerSecond float64 `json:"probes_per_second"`
	PeakRSS         float64 `json:"peak_rss"`
}

// VerdictRow is the time until a failing probe returns.
type VerdictRow struct {
	Failure    string                   `json:"failure"`
	Server     string                   `json:"server"`
	WantReason string                   `json:"want_reason"`
	Exporters  map[string]*VerdictStats `json:"exporters"`
}

// VerdictStats are one exporter's probes of one failure.
type VerdictStats struct {
	Runs      int     `json:"runs"`
	MedianMS  float64 `json:"median_ms"`
	MaxMS     float64 `json:"max_ms"`
	Succeeded int     `json:"succeeded"`
	// Reasons are smtp_exporter's failure reasons seen (blackbox has none).
	Reasons []string `json:"reasons,omitempty"`
}

// ScaleRow is one exporter holding many probes open at once.
type ScaleRow struct {
	Exporter         string  `json:"exporter"`
	Probes           int     `json:"probes"`
	HeldAtOnce       int64   `json:"held_at_once"`
	BaselineRSSBytes int64   `json:"baseline_rss_bytes"`
	InFlightRSSBytes int64   `json:"in_flight_rss_bytes"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
	RSSPerProbeBytes float64 `json:"rss_per_probe_bytes"`
	// FreshRSSBytes is the RSS before the first probe of the row's kind,
	// when one comes before BaselineRSSBytes (see holder.first).
	FreshRSSBytes int64 `json:"fresh_rss_bytes,omitempty"`
	// HeapPerProbeBytes and StackPerProbeBytes split the RSS per probe by
	// the exporter's own go_memstats: heap spans in use (live objects and
	// garbage not yet collected) and goroutine stacks.
	HeapPerProbeBytes  float64        `json:"heap_inuse_per_probe_bytes"`
	StackPerProbeBytes float64        `json:"stack_per_probe_bytes"`
	BaselineGoroutines float64        `json:"baseline_goroutines"`
	InFlightGoroutines float64        `json:"in_flight_goroutines"`
	GoroutinesPerProbe float64        `json:"goroutines_per_probe"`
	AfterGoroutines    float64        `json:"after_goroutines"`
	LeftBehind         float64        `json:"goroutines_left_behind"`
	Reasons            map[string]int `json:"reasons,omitempty"`
	HTTPErrors         int            `json:"http_errors"`
}

// DomainRow is one concurrency of the mail-domain comparison: the CPU of a
// domain probe against the sum of its pairs probed alone, and its median
// time against the slowest pair's.
type DomainRow struct {
	Concurrency     int `json:"concurrency"`
	Pairs           int `json:"pairs"`
	Probes          int `json:"domain_probes"`
	Succeeded       int `json:"domain_succeeded"`
	SingleProbes    int `json:"single_probes"`
	SingleSucceeded int `json:"single_succeeded"`
	// DomainCPUUS is the exporter's CPU per domain probe; SinglesCPUUS the
	// CPU of one probe of each pair alone, summed.
	DomainCPUUS  float64 `json:"domain_cpu_us"`
	SinglesCPUUS float64 `json:"singles_cpu_us"`
	CPURatio     float64 `json:"cpu_ratio"`
	// DomainP50MS is the median domain probe; SlowestPairP50MS the median
	// of the slowest answer when the four pairs are probed at once (as the
	// domain probes them, sharing the CPU), WallRatio the two's ratio.
	// SlowestPairAloneP50MS is the largest of the pairs' medians probed one
	// at a time, SumOfPairsP50MS their sum (probing one after the other).
	DomainP50MS           float64 `json:"domain_p50_ms"`
	SlowestPairP50MS      float64 `json:"slowest_pair_p50_ms"`
	WallRatio             float64 `json:"wall_ratio"`
	SlowestPairAloneP50MS float64 `json:"slowest_pair_alone_p50_ms"`
	SumOfPairsP50MS       float64 `json:"sum_of_pairs_p50_ms"`
}

// SustainedRow is an open-loop ramp against one exporter.
type SustainedRow struct {
	Exporter string `json:"exporter"`
	Kind     kind   `json:"kind"`
	// Sustained is the highest offered rate whose p99 stayed within the
	// criterion, probes per second.
	Sustained float64 `json:"sustained_probes_per_second"`
	Criterion string  `json:"criterion"`
	Steps     []Step  `json:"steps"`
}

// Step is one rate of a ramp.
type Step struct {
	Offered  float64 `json:"offered_per_second"`
	Achieved float64 `json:"achieved_per_second"`
	Failed   int     `json:"failed"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	// ExporterCores is the exporter's CPU time over wall time.
	ExporterCores float64 `json:"exporter_cores"`
	// DriverCores is the same for the driver: load generator and
	// in-process SMTP servers (and the exporter, in-process in tests).
	DriverCores float64 `json:"driver_cores"`
	Degraded    bool    `json:"degraded"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeJSON(path string, r *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

const (
	ours     = "smtp_exporter"
	theirs   = "blackbox_exporter"
	notRun   = "-"
	kibibyte = 1024.0
	mebibyte = 1024.0 * 1024.0
)

// printTables writes the report for people.
func printTables(w io.Writer, r *Report) {
	fmt.Fprintf(w, "machine: %s, %d cores, Linux %s, %s; load average %s -> %s\n",
		r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	f := func(format string, v float64) string { return fmt.Sprintf(format, v) }
	stat := func(m map[string]*CostStats, name string, get func(*CostStats) string) string {
		if s, ok := m[name]; ok {
			return get(s)
		}
		return notRun
	}

	if len(r.Cost) > 0 {
		fmt.Fprintln(w, "\nCost per probe (CPU: user+sys of the exporter process; allocs: its go_memstats_mallocs_total)")
		line("server", "kind", "conc", "ok/probes", "CPU us/probe", "bb CPU us", "ratio", "allocs/probe", "bb allocs",
			"probes/s", "bb probes/s", "ratio", "peak RSS MiB", "bb MiB", "ratio", "p99 ms", "bb p99 ms")
		for _, c := range r.Cost {
			o, b := c.Exporters, c.Exporters
			ratio := func(get func(*Ratios) float64) string {
				if c.Ratio == nil {
					return notRun
				}
				return f("%.2f", get(c.Ratio))
			}
			line(c.Server, string(c.Kind), fmt.Sprint(c.Concurrency),
				stat(o, ours, func(s *CostStats) string { return fmt.Sprintf("%d/%d", s.Succeeded, s.Probes) }),
				stat(o, ours, func(s *CostStats) string { return f("%.0f", s.CPUPerProbeUS) }),
				stat(b, theirs, func(s *CostStats) string { return f("%.0f", s.CPUPerProbeUS) }),
				ratio(func(r *Ratios) float64 { return r.CPUPerProbe }),
				stat(o, ours, func(s *CostStats) string { return f("%.0f", s.AllocsPerProbe) }),
				stat(b, theirs, func(s *CostStats) string { return f("%.0f", s.AllocsPerProbe) }),
				stat(o, ours, func(s *CostStats) string { return f("%.0f", s.ProbesPerSecond) }),
				stat(b, theirs, func(s *CostStats) string { return f("%.0f", s.ProbesPerSecond) }),
				ratio(func(r *Ratios) float64 { return r.ProbesPerSecond }),
				stat(o, ours, func(s *CostStats) string { return f("%.1f", float64(s.PeakRSSBytes)/mebibyte) }),
				stat(b, theirs, func(s *CostStats) string { return f("%.1f", float64(s.PeakRSSBytes)/mebibyte) }),
				ratio(func(r *Ratios) float64 { return r.PeakRSS }),
				stat(o, ours, func(s *CostStats) string { return f("%.1f", s.P99MS) }),
				stat(b, theirs, func(s *CostStats) string { return f("%.1f", s.P99MS) }),
			)
		}
		tw.Flush()
	}

	if len(r.Verdict) > 0 {
		fmt.Fprintf(w, "\nTime to verdict (median and max of %d probes, module timeout %s)\n", r.Settings.VerdictRuns, time.Duration(r.Settings.VerdictTimeout))
		line("failure", "server", "reason", "ours median ms", "ours max ms", "bb median ms", "bb max ms")
		for _, v := range r.Verdict {
			get := func(name string, pick func(*VerdictStats) float64) string {
				if s, ok := v.Exporters[name]; ok {
					return f("%.1f", pick(s))
				}
				return notRun
			}
			reason := notRun
			if s, ok := v.Exporters[ours]; ok {
				reason = strings.Join(s.Reasons, ",")
			}
			line(v.Failure, v.Server, reason,
				get(ours, func(s *VerdictStats) float64 { return s.MedianMS }),
				get(ours, func(s *VerdictStats) float64 { return s.MaxMS }),
				get(theirs, func(s *VerdictStats) float64 { return s.MedianMS }),
				get(theirs, func(s *VerdictStats) float64 { return s.MaxMS }))
		}
		tw.Flush()
	}

	if len(r.Scale) > 0 {
		fmt.Fprintln(w, "\nScale: probes held open by a tarpit")
		line("exporter", "probes", "held", "RSS idle MiB", "RSS held MiB", "KiB/probe", "goroutines idle", "held", "per probe", "after", "left behind")
		for _, s := range r.Scale {
			line(s.Exporter, fmt.Sprint(s.Probes), fmt.Sprint(s.HeldAtOnce),
				f("%.1f", float64(s.BaselineRSSBytes)/mebibyte), f("%.1f", float64(s.InFlightRSSBytes)/mebibyte),
				f("%.1f", s.RSSPerProbeBytes/kibibyte),
				f("%.0f", s.BaselineGoroutines), f("%.0f", s.InFlightGoroutines), f("%.2f", s.GoroutinesPerProbe),
				f("%.0f", s.AfterGoroutines), f("%.0f", s.LeftBehind))
		}
		tw.Flush()
	}

	if len(r.Hostile) > 0 {
		fmt.Fprintln(w, "\nHostile server: probes held in flight by the worst hostile server (long replies, huge certificate, no answer to QUIT)")
		line("exporter", "probes", "held", "RSS fresh MiB", "after 1 probe", "held MiB", "KiB/probe", "heap KiB", "stacks KiB", "peak RSS MiB", "goroutines per probe", "left behind", "reasons")
		for _, s := range r.Hostile {
			line(s.Exporter, fmt.Sprint(s.Probes), fmt.Sprint(s.HeldAtOnce),
				f("%.1f", float64(s.FreshRSSBytes)/mebibyte), f("%.1f", float64(s.BaselineRSSBytes)/mebibyte), f("%.1f", float64(s.InFlightRSSBytes)/mebibyte),
				f("%.1f", s.RSSPerProbeBytes/kibibyte), f("%.1f", s.HeapPerProbeBytes/kibibyte), f("%.1f", s.StackPerProbeBytes/kibibyte),
				f("%.1f", float64(s.PeakRSSBytes)/mebibyte),
				f("%.2f", s.GoroutinesPerProbe), f("%.0f", s.LeftBehind), fmt.Sprint(s.Reasons))
		}
		tw.Flush()
	}

	if len(r.Domain) > 0 {
		fmt.Fprintln(w, "\nMail domain: 2 MX x 2 addresses in one domain probe, against its 4 pairs probed alone (smtp_exporter only)")
		line("conc", "ok/domains", "ok/singles", "CPU us/domain", "CPU us 4 singles", "ratio", "p50 ms domain", "slowest of 4 at once", "ratio", "slowest alone", "4 in sequence")
		for _, d := range r.Domain {
			line(fmt.Sprint(d.Concurrency), fmt.Sprintf("%d/%d", d.Succeeded, d.Probes), fmt.Sprintf("%d/%d", d.SingleSucceeded, d.SingleProbes),
				f("%.0f", d.DomainCPUUS), f("%.0f", d.SinglesCPUUS), f("%.2f", d.CPURatio),
				f("%.2f", d.DomainP50MS), f("%.2f", d.SlowestPairP50MS), f("%.2f", d.WallRatio),
				f("%.2f", d.SlowestPairAloneP50MS), f("%.2f", d.SumOfPairsP50MS))
		}
		tw.Flush()
	}

	if len(r.Sustained) > 0 {
		fmt.Fprintln(w, "\nSustained rate (open loop, in-process server)")
		line("exporter", "kind", "offered/s", "achieved/s", "failed", "p50 ms", "p99 ms", "exporter cores", "driver cores", "degraded")
		for _, s := range r.Sustained {
			for _, st := range s.Steps {
				line(s.Exporter, string(s.Kind), f("%.0f", st.Offered), f("%.0f", st.Achieved), fmt.Sprint(st.Failed),
					f("%.1f", st.P50MS), f("%.1f", st.P99MS), f("%.2f", st.ExporterCores), f("%.2f", st.DriverCores), fmt.Sprint(st.Degraded))
			}
		}
		tw.Flush()
		for _, s := range r.Sustained {
			fmt.Fprintf(w, "%s %s: sustained %.0f probes/s (%s)\n", s.Exporter, s.Kind, s.Sustained, s.Criterion)
		}
	}
	if r.Bounds != nil {
		printBounds(w, r.Bounds)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}
