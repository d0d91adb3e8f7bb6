package examples

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

const repoRoot = ".."

// prometheusConfigs returns every example Prometheus configuration: the
// YAML files under prometheus/ that have scrape_configs (target files for
// file_sd are lists and are checked through the configs that read them).
func prometheusConfigs(t *testing.T) []string {
	t.Helper()
	var configs []string
	err := filepath.WalkDir("prometheus", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var top any
		if err := yaml.Unmarshal(b, &top); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if m, ok := top.(map[string]any); ok && m["scrape_configs"] != nil {
			configs = append(configs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) < 4 {
		t.Fatalf("found only %v", configs)
	}
	return configs
}

// TestPromtoolCheckConfig runs `promtool check config` on every example,
// which also checks the rule files and file_sd target files they name.
func TestPromtoolCheckConfig(t *testing.T) {
	promtool := testtool.Need(t, "promtool", "promtool")
	// The examples load the repository's alert rules (paths relative to the
	// config file), so promtool checks those too.
	if _, err := os.Stat(filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml")); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("no alert rules yet: %v", err)
	}
	for _, cfg := range prometheusConfigs(t) {
		t.Run(cfg, func(t *testing.T) {
			out, err := exec.Command(promtool, "check", "config", cfg).CombinedOutput()
			if err != nil {
				t.Errorf("promtool check config %s: %v\n%s", cfg, err, out)
			}
		})
	}
}

// The parts of a Prometheus configuration these tests read.
type promConfig struct {
	Global struct {
		ExternalLabels map[string]string `yaml:"external_labels"`
	} `yaml:"global"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName       string              `yaml:"job_name"`
	MetricsPath   string              `yaml:"metrics_path"`
	Params        map[string][]string `yaml:"params"`
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
	FileSDConfigs []struct {
		Files []string `yaml:"files"`
	} `yaml:"file_sd_configs"`
	RelabelConfigs []relabel `yaml:"relabel_configs"`
}

type relabel struct {
	SourceLabels []string `yaml:"source_labels"`
	TargetLabel  string   `yaml:"target_label"`
	Regex        string   `yaml:"regex"`
	Replacement  string   `yaml:"replacement"`
	Modulus      int      `yaml:"modulus"`
	Action       string   `yaml:"action"`
}

func readConfig(t *testing.T, path string) promConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c promConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func (r relabel) is(src, target string) bool {
	return reflect.DeepEqual(r.SourceLabels, []string{src}) && r.TargetLabel == target && (r.Action == "" || r.Action == "replace")
}

// indexOf returns the position of the first rule matching f, or -1.
func indexOf(rs []relabel, f func(relabel) bool) int {
	return slices.IndexFunc(rs, f)
}

// modulesForPort says which module a probe job may use for a target's port.
var modulesForPort = map[string][]string{
	"25":   {"smtp", "smtp_starttls"},
	"465":  {"smtps"},
	"587":  {"submission"},
	"2525": {"submission"},
}

// checkProbeJob checks the blackbox relabelling of one /probe job, in order:
// __address__ -> __param_target, then __param_target -> instance,
// __param_module -> module, and finally the exporter into __address__.
func checkProbeJob(t *testing.T, file string, sc scrapeConfig) {
	t.Helper()
	where := file + ": job " + sc.JobName
	if len(sc.Params["module"]) != 1 {
		t.Errorf("%s: params module = %v, want one module", where, sc.Params["module"])
	}
	rs := sc.RelabelConfigs
	toParam := indexOf(rs, func(r relabel) bool { return r.is("__address__", "__param_target") })
	toInstance := indexOf(rs, func(r relabel) bool { return r.is("__param_target", "instance") })
	toModule := indexOf(rs, func(r relabel) bool { return r.is("__param_module", "module") })
	toExporter := indexOf(rs, func(r relabel) bool {
		return len(r.SourceLabels) == 0 && r.TargetLabel == "__address__" && r.Replacement != ""
	})
	if toParam < 0 || toInstance < 0 || toModule < 0 || toExporter < 0 {
		t.Errorf("%s: incomplete relabelling (target %d, instance %d, module %d, exporter %d)", where, toParam, toInstance, toModule, toExporter)
		return
	}
	if !(toParam < toInstance && toParam < toExporter) {
		t.Errorf("%s: __address__ is overwritten before it becomes __param_target", where)
	}
	if toExporter != len(rs)-1 {
		t.Errorf("%s: the exporter address should be the last rule", where)
	}
}

// TestProbeJobs checks every /probe job of every example: the relabelling,
// and that each static target's port fits the job's module.
func TestProbeJobs(t *testing.T) {
	for _, file := range prometheusConfigs(t) {
		jobs := 0
		for _, sc := range readConfig(t, file).ScrapeConfigs {
			if sc.MetricsPath != "/probe" {
				continue
			}
			jobs++
			checkProbeJob(t, file, sc)
			module := ""
			if m := sc.Params["module"]; len(m) > 0 {
				module = m[0]
			}
			for _, target := range staticTargets(t, filepath.Dir(file), sc) {
				port := target[strings.LastIndex(target, ":")+1:]
				if !slices.Contains(modulesForPort[port], module) {
					t.Errorf("%s: job %s probes %s with module %s, want one of %v", file, sc.JobName, target, module, modulesForPort[port])
				}
			}
		}
		if jobs == 0 {
			t.Errorf("%s: no /probe job", file)
		}
	}
}

// staticTargets returns a job's targets from static_configs and file_sd files.
func staticTargets(t *testing.T, dir string, sc scrapeConfig) []string {
	t.Helper()
	var targets []string
	for _, s := range sc.StaticConfigs {
		targets = append(targets, s.Targets...)
	}
	for _, f := range sc.FileSDConfigs {
		for _, pattern := range f.Files {
			matches, err := filepath.Glob(filepath.Join(dir, pattern))
			if err != nil || len(matches) == 0 {
				t.Errorf("job %s: file_sd %s matches nothing", sc.JobName, pattern)
			}
			for _, m := range matches {
				var groups []struct {
					Targets []string `yaml:"targets"`
				}
				b, err := os.ReadFile(m)
				if err != nil {
					t.Fatal(err)
				}
				if err := yaml.Unmarshal(b, &groups); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				for _, g := range groups {
					targets = append(targets, g.Targets...)
				}
			}
		}
	}
	return targets
}

// TestShardingConfigs checks the two-server sharding example: identical
// configurations except the shard number, every probe job hashing the probed
// target (not the exporter address) modulo 2 and keeping its own shard, and
// both shards reading the same targets.
func TestShardingConfigs(t *testing.T) {
	const shards = 2
	files := make([]string, shards)
	texts := make([]string, shards)
	for i := range shards {
		files[i] = filepath.Join("prometheus", "sharding", fmt.Sprintf("prometheus-shard-%d.yml", i))
		b, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		texts[i] = string(b)
	}
	// Apart from comments naming the other file, the external shard label and
	// the keep regexes, the files must be the same.
	normalize := func(s string, shard int) string {
		var lines []string
		for l := range strings.SplitSeq(s, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			l = strings.ReplaceAll(l, fmt.Sprintf(`regex: "%d"`, shard), `regex: "N"`)
			l = strings.ReplaceAll(l, fmt.Sprintf(`shard: "%d"`, shard), `shard: "N"`)
			lines = append(lines, l)
		}
		return strings.Join(lines, "\n")
	}
	if normalize(texts[0], 0) != normalize(texts[1], 1) {
		t.Errorf("%s and %s differ in more than the shard number", files[0], files[1])
	}

	var targetsPerShard [shards][]string
	for i, f := range files {
		c := readConfig(t, f)
		if c.Global.ExternalLabels["shard"] != fmt.Sprint(i) {
			t.Errorf("%s: external label shard = %q, want %d", f, c.Global.ExternalLabels["shard"], i)
		}
		probeJobs := 0
		for _, sc := range c.ScrapeConfigs {
			if sc.MetricsPath != "/probe" {
				continue
			}
			probeJobs++
			where := f + ": job " + sc.JobName
			rs := sc.RelabelConfigs
			toParam := indexOf(rs, func(r relabel) bool { return r.is("__address__", "__param_target") })
			hash := indexOf(rs, func(r relabel) bool { return r.Action == "hashmod" })
			if hash < 0 {
				t.Errorf("%s: no hashmod rule", where)
				continue
			}
			h := rs[hash]
			if !reflect.DeepEqual(h.SourceLabels, []string{"__param_target"}) || h.Modulus != shards {
				t.Errorf("%s: hashmod on %v modulus %d, want __param_target modulus %d", where, h.SourceLabels, h.Modulus, shards)
			}
			if toParam < 0 || toParam > hash {
				t.Errorf("%s: hashmod runs before __param_target is set", where)
			}
			keep := indexOf(rs, func(r relabel) bool {
				return r.Action == "keep" && reflect.DeepEqual(r.SourceLabels, []string{h.TargetLabel})
			})
			if keep < hash || rs[keep].Regex != fmt.Sprint(i) {
				t.Errorf("%s: want a keep rule on %s with regex %q after the hashmod", where, h.TargetLabel, fmt.Sprint(i))
			}
			if len(sc.FileSDConfigs) == 0 {
				t.Errorf("%s: shards should read shared target files", where)
			}
			for _, target := range staticTargets(t, filepath.Dir(f), sc) {
				targetsPerShard[i] = append(targetsPerShard[i], sc.JobName+" "+target)
			}
		}
		if probeJobs == 0 {
			t.Errorf("%s: no /probe job", f)
		}
		sort.Strings(targetsPerShard[i])
	}
	if !slices.Equal(targetsPerShard[0], targetsPerShard[1]) {
		t.Errorf("shards see different targets:\n%v\n%v", targetsPerShard[0], targetsPerShard[1])
	}
}

// TestSystemdUnit runs `systemd-analyze verify` on the example unit. The
// unit's ExecStart names /usr/local/bin/smtp_exporter, which verify insists
// exists, so a copy of the unit points at an executable that does. Any
// warning (an unknown or misspelled directive is only a warning) fails.
func TestSystemdUnit(t *testing.T) {
	analyze := testtool.Need(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(filepath.Join("systemd", "smtp_exporter.service"))
	if err != nil {
		t.Fatal(err)
	}
	const installed = "/usr/local/bin/smtp_exporter"
	if !bytes.Contains(unit, []byte("ExecStart="+installed+" ")) {
		t.Fatalf("ExecStart does not run %s", installed)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	verify := func(t *testing.T, content []byte) (string, error) {
		dir := t.TempDir()
		path := filepath.Join(dir, "smtp_exporter.service")
		content = bytes.ReplaceAll(content, []byte(installed), []byte(self))
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", path)
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}

	t.Run("verify", func(t *testing.T) {
		out, err := verify(t, unit)
		if err != nil || out != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
	t.Run("misspelled directive is reported", func(t *testing.T) {
		bad := bytes.Replace(unit, []byte("NoNewPrivileges=yes"), []byte("NoNewPrivilege=yes"), 1)
		if bytes.Equal(bad, unit) {
			t.Fatal("the unit sets no NoNewPrivileges=yes")
		}
		out, _ := verify(t, bad)
		if !strings.Contains(out, "NoNewPrivilege") {
			t.Errorf("systemd-analyze verify did not report the misspelled directive: %q", out)
		}
	})
	t.Run("hardening", func(t *testing.T) {
		for _, want := range []string{
			"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
			"PrivateTmp=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
			"SystemCallFilter=@system-service", "ExecReload=/bin/kill -HUP $MAINPID",
		} {
			if !bytes.Contains(unit, []byte("\n"+want)) {
				t.Errorf("unit lacks %q", strings.TrimSpace(want))
			}
		}
		// systemd's own exposure score: 0 (locked down) to 10 (unprotected).
		// --threshold exists since systemd 250.
		dir := t.TempDir()
		path := filepath.Join(dir, "smtp_exporter.service")
		if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte(installed), []byte(self)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=25", "--no-pager", path).CombinedOutput()
		if err != nil {
			if bytes.Contains(out, []byte("unrecognized option")) {
				t.Skipf("systemd-analyze security --offline is not supported here: %s", out)
			}
			t.Errorf("systemd-analyze security: exposure above 2.5 or error: %v\n%s", err, out)
		}
	})
}
