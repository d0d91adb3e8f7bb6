package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// reloadState is what the reload metrics say.
type reloadState struct {
	successful float64
	successes  float64
	failures   float64
}

func readReloadMetrics(t *testing.T, reg *prometheus.Registry) (reloadState, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var s reloadState
	var timestamp float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "smtp_exporter_config_last_reload_successful":
				s.successful = m.GetGauge().GetValue()
			case "smtp_exporter_config_last_reload_success_timestamp_seconds":
				timestamp = m.GetGauge().GetValue()
			case "smtp_exporter_config_reloads_total":
				switch m.GetLabel()[0].GetValue() {
				case "success":
					s.successes = m.GetCounter().GetValue()
				case "failure":
					s.failures = m.GetCounter().GetValue()
				}
			}
		}
	}
	return s, timestamp
}

func TestSafeConfigReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	sc := NewSafeConfig(path, nil, reg)
	if sc.Get() != nil {
		t.Fatal("a config before the first load")
	}
	if sc.Source() != path {
		t.Errorf("Source: got %q, want %q", sc.Source(), path)
	}

	steps := []struct {
		name        string
		doc         string // empty: remove the file
		wantErr     string
		wantModules string // after the step
		want        reloadState
	}{
		{"first load", "modules:\n  first: {tls: none}\n", "", "first", reloadState{1, 1, 0}},
		{"good reload", "modules:\n  first: {tls: none}\n  second: {}\n", "", "first,second", reloadState{1, 2, 0}},
		{"bad field keeps the old config", "modules:\n  first: {bogus: 1}\n", `loading ` + path + `: module "first": unknown field "bogus" (line 2)`, "first,second", reloadState{0, 2, 1}},
		{"missing file keeps the old config", "", "loading " + path + ": open " + path + ": no such file or directory", "first,second", reloadState{0, 2, 2}},
		{"recovery", "modules:\n  third: {}\n", "", "third", reloadState{1, 3, 2}},
	}
	var lastTimestamp float64
	for _, step := range steps {
		if step.doc == "" {
			os.Remove(path)
		} else {
			write(step.doc)
		}
		before := time.Now().Unix()
		err := sc.Reload()
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != step.wantErr {
			t.Errorf("%s: error:\n got: %q\nwant: %q", step.name, gotErr, step.wantErr)
		}
		if got := strings.Join(sc.Get().ModuleNames(), ","); got != step.wantModules {
			t.Errorf("%s: modules %s, want %s", step.name, got, step.wantModules)
		}
		state, timestamp := readReloadMetrics(t, reg)
		if state != step.want {
			t.Errorf("%s: reload metrics %+v, want %+v", step.name, state, step.want)
		}
		// The timestamp moves on success only, and is the time of that reload.
		if step.wantErr == "" {
			if timestamp < float64(before) || timestamp > float64(time.Now().Unix()) {
				t.Errorf("%s: success timestamp %v is not the time of this reload (%d)", step.name, timestamp, before)
			}
		} else if timestamp != lastTimestamp {
			t.Errorf("%s: a failed reload changed the success timestamp from %v to %v", step.name, lastTimestamp, timestamp)
		}
		lastTimestamp = timestamp
	}
}

func TestSafeConfigBuiltin(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "config.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sc := NewSafeConfig("", example, reg)
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := sc.Source(), "built-in config.example.yml"; got != want {
		t.Errorf("Source: got %q, want %q", got, want)
	}
	if got, want := strings.Join(sc.Get().ModuleNames(), ","), "mx,smtp,smtp_starttls,smtps,submission"; got != want {
		t.Errorf("modules: got %s, want %s", got, want)
	}

	broken := NewSafeConfig("", []byte("modules: {}\n"), prometheus.NewRegistry())
	if err := broken.Reload(); err == nil || err.Error() != "loading built-in config.example.yml: config has no modules" {
		t.Errorf("bad built-in config: error %v", err)
	}
}

// Both reload results are exported from the start, so that a rate() over
// failures has a series before the first failure.
func TestSafeConfigMetricsBeforeReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewSafeConfig("unused.yml", nil, reg)
	want := `
# HELP smtp_exporter_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration reload, in seconds since the Unix epoch.
# TYPE smtp_exporter_config_last_reload_success_timestamp_seconds gauge
smtp_exporter_config_last_reload_success_timestamp_seconds 0
# HELP smtp_exporter_config_last_reload_successful Whether the last configuration reload attempt was successful (1) or not (0).
# TYPE smtp_exporter_config_last_reload_successful gauge
smtp_exporter_config_last_reload_successful 0
# HELP smtp_exporter_config_reloads_total Configuration reload attempts, by result (success or failure).
# TYPE smtp_exporter_config_reloads_total counter
smtp_exporter_config_reloads_total{result="failure"} 0
smtp_exporter_config_reloads_total{result="success"} 0
`
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&got, mf); err != nil {
			t.Fatal(err)
		}
	}
	if got.String() != strings.TrimPrefix(want, "\n") {
		t.Errorf("metrics before the first reload:\n%s\nwant:%s", got.String(), want)
	}
}

// Probes read the config while a reload swaps it; -race checks the swap.
func TestSafeConfigConcurrentReload(t *testing.T) {
	sc := NewSafeConfig("", []byte("modules:\n  m: {}\n"), nil)
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			sc.Reload()
		}
	}()
	for range 200 {
		if sc.Get().Modules["m"] == nil {
			t.Fatal("a reader saw a config without its module")
		}
	}
	<-done
}
