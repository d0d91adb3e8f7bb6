package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// shardCount is how many Prometheus servers the sharding example has.
const shardCount = 2

// The example's module names, served by exporters configured for the test
// bed: the example's configs then need no change but addresses and times.
var shardModules = map[string]string{"smtp": "tb_smtp", "smtps": "tb_smtps", "submission": "tb_submission"}

// shardTargets are the test bed's listeners, by the example's target file
// (and so by job and module). Failing ones are included: a shard keeps a
// target whatever its probe says.
func shardTargets(tb *testbed) map[string][]string {
	return map[string][]string{
		"targets/smtp.yml": {
			tb.addr("SMTP"), tb.addr("REJECT"), tb.addr("EXPIRED"), tb.addr("WRONGHOST"),
			tb.addr("EXPIRING"), tb.addr("NOTLS"), tb.addr("TLS12"), tb.addr("AUTHPLAIN"),
		},
		"targets/smtps.yml":      {tb.addr("SMTPS")},
		"targets/submission.yml": {tb.addr("SUBMISSION"), tb.addr("ALT2525")},
	}
}

// shardConfig is examples/prometheus/sharding/prometheus-shard-N.yml as
// documented, with only what must differ on a test machine replaced: the
// exporter's address, the intervals (seconds, not minutes), and the rule
// file's path (relative to the example's directory). Each replacement must
// match, so a change of the example that the test does not follow fails
// here rather than testing something else.
func shardConfig(t *testing.T, shard int, exporterAddr string) string {
	t.Helper()
	path := filepath.Join(repoRoot, "examples", "prometheus", "sharding", fmt.Sprintf("prometheus-shard-%d.yml", shard))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, r := range []struct{ old, new string }{
		{"127.0.0.1:9667", exporterAddr},
		{"scrape_interval: 60s", "scrape_interval: 2s"},
		{"scrape_timeout: 15s", "scrape_timeout: 2s"},
		{"evaluation_interval: 60s", "evaluation_interval: 2s"},
		{"../../../alerts/", filepath.Join(repoRoot, "alerts") + "/"},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("%s no longer contains %q: update the sharding test", path, r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	return cfg
}

// targetFile is a file_sd target list.
func targetFile(targets []string) string {
	b, err := json.Marshal([]map[string][]string{{"targets": targets}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// probedTargets reads an exporter's JSON log and returns the targets it
// probed: every probe logs its outcome with the target.
func probedTargets(t *testing.T, logFile string) map[string]bool {
	t.Helper()
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	probed := map[string]bool{}
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		var rec struct {
			Msg    string `json:"msg"`
			Target string `json:"target"`
		}
		if json.Unmarshal(s.Bytes(), &rec) == nil && rec.Target != "" && strings.HasPrefix(rec.Msg, "Probe ") {
			probed[rec.Target] = true
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return probed
}

// TestShardingAcrossPrometheusServers runs the documented sharding setup for
// real: two exporters and two Prometheus servers with the example's
// hashmod configs, probing the test bed. Through each server's targets and
// query APIs (and each exporter's log) every target must be probed by
// exactly one shard, and the shards together must cover all targets.
func TestShardingAcrossPrometheusServers(t *testing.T) {
	tb, shared := needTestbed(t)

	var modules []testbedModule
	for _, m := range testbedModules(tb) {
		for name, tbName := range shardModules {
			if m.name == tbName {
				modules = append(modules, testbedModule{name: name, fields: m.fields})
			}
		}
	}
	if len(modules) != len(shardModules) {
		t.Fatalf("test bed modules for %v: found %d", shardModules, len(modules))
	}

	files := map[string]string{}
	want := map[string]string{} // target -> job
	for file, targets := range shardTargets(tb) {
		files[file] = targetFile(targets)
		job := strings.TrimSuffix(filepath.Base(file), ".yml")
		for _, target := range targets {
			want[target] = job
		}
	}

	exporters := make([]*exporterProcess, shardCount)
	proms := make([]*prometheusServer, shardCount)
	for i := range shardCount {
		exp, err := startExporter(shared.bin, t.TempDir(), renderModules(modules), "--log.format=json")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(exp.Stop)
		exporters[i] = exp
		cfg := shardConfig(t, i, exp.Addr)
		for file := range files {
			if !strings.Contains(cfg, "files: ["+file+"]") {
				t.Fatalf("prometheus-shard-%d.yml does not read %s", i, file)
			}
		}
		proms[i] = startPrometheus(t, cfg, files)
	}

	// probeTargets returns a server's kept (or dropped) probe targets as
	// target -> job.
	probeTargets := func(ts []scrapeTarget) map[string]string {
		m := map[string]string{}
		for _, st := range ts {
			job := st.DiscoveredLabels["job"]
			if _, ok := shardModules[job]; ok {
				m[st.DiscoveredLabels["__address__"]] = job
			}
		}
		return m
	}
	// Wait until each server has discovered every target (kept or dropped)
	// and scraped each target it keeps twice.
	waitUntil(t, 30*time.Second, "every target discovered and each kept one scraped twice", func() error {
		for i, p := range proms {
			active, dropped := p.targets(t)
			kept := probeTargets(active)
			if n := len(kept) + len(probeTargets(dropped)); n < len(want) {
				return fmt.Errorf("shard %d has discovered %d of %d targets", i, n, len(want))
			}
			if s := p.query(t, `count_over_time(probe_success[1m]) >= 2`); len(s) < len(kept) {
				return fmt.Errorf("shard %d has scraped twice %v of %d kept targets; %s", i, byInstance(s), len(kept), p.scrapeProblems(t))
			}
		}
		return nil
	})

	owner := map[string][]int{} // target -> shards that probe it
	for i, p := range proms {
		active, dropped := p.targets(t)
		kept, notKept := probeTargets(active), probeTargets(dropped)
		t.Logf("shard %d keeps %d targets: %v", i, len(kept), slices.Sorted(maps.Keys(kept)))
		if len(kept) == 0 {
			t.Errorf("shard %d keeps no target: the hash puts every test bed target on one shard", i)
		}
		// Targets API: each shard sees every target, keeps its share with
		// the right job and drops the rest.
		for target, job := range want {
			_, k := kept[target]
			_, d := notKept[target]
			if k == d {
				t.Errorf("shard %d: target %s kept %v, dropped %v: want exactly one", i, target, k, d)
			}
			if k && kept[target] != job {
				t.Errorf("shard %d: target %s in job %s, want %s", i, target, kept[target], job)
			}
			if k {
				owner[target] = append(owner[target], i)
			}
		}
		for target := range kept {
			if _, ok := want[target]; !ok {
				t.Errorf("shard %d keeps unknown target %s", i, target)
			}
		}

		// Query API: the series are those of the kept targets, and only those.
		series := map[string]string{}
		for _, s := range p.query(t, `count by (job, instance) (count_over_time(probe_success[1m]))`) {
			series[s.Labels["instance"]] = s.Labels["job"]
		}
		if !maps.Equal(series, kept) {
			t.Errorf("shard %d: probe_success series for %v, want the kept targets %v", i, series, kept)
		}
		for _, s := range p.query(t, `probe_success`) {
			if mod := s.Labels["module"]; mod != s.Labels["job"] {
				t.Errorf("shard %d: %s has module %q, want its job's module %q", i, s.Labels["instance"], mod, s.Labels["job"])
			}
		}
		if up := p.query(t, `up{job="smtp_exporter"} == 1`); len(up) != 1 {
			t.Errorf("shard %d: its exporter's /metrics is not scraped: %v", i, up)
		}

		// The exporter behind this shard probed this shard's targets only.
		probed := probedTargets(t, exporters[i].logFile)
		for target := range want {
			if _, k := kept[target]; k != probed[target] {
				t.Errorf("exporter of shard %d: probed %s %v, shard keeps it %v (log %s)", i, target, probed[target], k, exporters[i].logFile)
			}
		}
	}

	// Exactly one shard per target; together all of them.
	for target := range want {
		if len(owner[target]) != 1 {
			t.Errorf("target %s is probed by shards %v, want exactly one", target, owner[target])
		}
	}

	// The probes were real: what each shard stored is what the test bed says.
	success := map[string]float64{}
	for _, p := range proms {
		maps.Copy(success, byInstance(p.query(t, `probe_success`)))
	}
	for target, v := range map[string]float64{
		tb.addr("SMTP"): 1, tb.addr("REJECT"): 0, tb.addr("SMTPS"): 1, tb.addr("SUBMISSION"): 1, tb.addr("ALT2525"): 1,
	} {
		if got, ok := success[target]; !ok || got != v {
			t.Errorf("probe_success{instance=%q} = %v (present %v), want %v", target, got, ok, v)
		}
	}
}
