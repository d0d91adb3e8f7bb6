//go:build benchsmoke

// The bench driver's smoke test runs every section with real probes, and
// its figures move with the machine's load: it is kept out of
// `go test ./...`, which tests the product, and runs on its own in CI
// (scripts/test.sh), where no other package's tests compete for the CPU:
//
//	go test -tags benchsmoke -race -count=1 ./bench

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDriverSmoke runs every section of the driver for a handful of probes
// against an in-process exporter, so that CI keeps the driver working
// without paying for a real benchmark. It checks what the driver reports,
// not how fast anything was.
func TestDriverSmoke(t *testing.T) {
	o := options{
		sections:       map[string]bool{"cost": true, "verdict": true, "scale": true, "hostile": true, "sustained": true, "domain": true},
		probes:         6,
		rounds:         2,
		costServers:    map[string]bool{"in-process": true},
		costKinds:      []kind{kindEHLO, kindStartTLS, kindImplicit, kindPosture},
		concurrency:    []int{2},
		verdictRuns:    1,
		verdictTimeout: time.Second,
		scaleProbes:    20,
		scaleTimeout:   2 * time.Second,
		hostileProbes:  5,
		sustainedKinds: []kind{kindStartTLS},
		sustainedStep:  500 * time.Millisecond,
		sustainedStart: 10,
		sustainedMax:   10,
		domainProbes:   3,
		log:            io.Discard,
	}
	ip := startInProcess(t)
	dom, err := startDomainBed(t)
	if err != nil {
		t.Fatal(err)
	}
	e := inProcessExporter(t, append(moduleSpecs(o, ip, nil), domainSpecs(dom)...))
	r := newReport(o)
	if err := runBench(context.Background(), o, []*exporter{e}, ip, nil, dom, r); err != nil {
		t.Fatal(err)
	}

	if len(r.Domain) != 1 {
		t.Fatalf("got %d domain rows, want 1", len(r.Domain))
	}
	if d := r.Domain[0]; d.Probes != 6 || d.Succeeded != 6 || d.SingleProbes != 24 || d.SingleSucceeded != 24 ||
		d.DomainCPUUS < 0 || d.SinglesCPUUS < 0 || d.DomainP50MS <= 0 || d.SlowestPairP50MS <= 0 || d.SumOfPairsP50MS < d.SlowestPairAloneP50MS {
		t.Errorf("domain: %+v, want 6 domain probes and 24 single ones, all successful, with plausible figures", d)
	}

	if len(r.Cost) != 4 {
		t.Fatalf("got %d cost rows, want 4 (ehlo, starttls, implicit, posture)", len(r.Cost))
	}
	for _, c := range r.Cost {
		s := c.Exporters[ours]
		if s == nil || s.Probes != 12 || s.Succeeded != 12 || len(s.Runs) != 2 {
			t.Errorf("cost %s: %+v, want 12 successful probes in 2 runs", c.Kind, s)
			continue
		}
		if s.AllocsPerProbe <= 0 || s.ProbesPerSecond <= 0 || s.CPUPerProbeUS < 0 || s.PeakRSSBytes <= 0 {
			t.Errorf("cost %s: implausible figures %+v", c.Kind, s)
		}
		if c.Ratio != nil {
			t.Errorf("cost %s: ratio without blackbox_exporter", c.Kind)
		}
	}

	if len(r.Verdict) != 8 {
		t.Errorf("got %d time-to-verdict rows, want 8", len(r.Verdict))
	}
	for _, v := range r.Verdict {
		s := v.Exporters[ours]
		if s == nil || s.Runs != 1 || s.Succeeded != 0 || !slices.Equal(s.Reasons, []string{v.WantReason}) {
			t.Errorf("verdict %q: got %+v, want one failed probe with reason %s", v.Failure, s, v.WantReason)
		}
	}

	if len(r.Scale) != 1 {
		t.Fatalf("got %d scale rows, want 1", len(r.Scale))
	}
	sc := r.Scale[0]
	if sc.HeldAtOnce != 20 || sc.Reasons["banner_timeout"] != 20 || sc.HTTPErrors != 0 {
		t.Errorf("scale: held %d, reasons %v, %d HTTP errors; want 20 held, 20 banner_timeout", sc.HeldAtOnce, sc.Reasons, sc.HTTPErrors)
	}
	if sc.InFlightGoroutines <= sc.BaselineGoroutines || sc.LeftBehind != 0 {
		t.Errorf("scale: goroutines %v idle, %v held, %v left behind", sc.BaselineGoroutines, sc.InFlightGoroutines, sc.LeftBehind)
	}

	if len(r.Hostile) != 1 {
		t.Fatalf("got %d hostile rows, want 1", len(r.Hostile))
	}
	if h := r.Hostile[0]; h.HeldAtOnce != 5 || h.Reasons["cert_hostname_mismatch"] != 5 || h.HTTPErrors != 0 || h.LeftBehind != 0 {
		t.Errorf("hostile: held %d, reasons %v, %d HTTP errors, %v goroutines left behind; want 5 held, 5 cert_hostname_mismatch",
			h.HeldAtOnce, h.Reasons, h.HTTPErrors, h.LeftBehind)
	}
	// A first probe came before the idle figures. (The heap and stack
	// split is not asserted: with 5 probes after the other sections, the
	// runtime may hold them in memory it had already.)
	if h := r.Hostile[0]; h.FreshRSSBytes <= 0 {
		t.Errorf("hostile: fresh RSS %d, want the RSS from before the first probe", h.FreshRSSBytes)
	}

	if len(r.Sustained) != 1 || len(r.Sustained[0].Steps) != 1 || r.Sustained[0].Steps[0].Failed != 0 {
		t.Errorf("sustained: %+v, want one step without failures", r.Sustained)
	}

	path := filepath.Join(t.TempDir(), "results", "r.json")
	if err := writeJSON(path, r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	for _, key := range []string{"machine", "settings", "cost", "time_to_verdict", "scale", "hostile", "sustained", "domain"} {
		if _, ok := back[key]; !ok {
			t.Errorf("JSON report has no %q", key)
		}
	}
	var out bytes.Buffer
	printTables(&out, r)
	for _, want := range []string{"Cost per probe", "Time to verdict", "Scale", "Hostile server", "Sustained rate", "Mail domain", "connect_refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table output lacks %q:\n%s", want, out.String())
		}
	}
}
