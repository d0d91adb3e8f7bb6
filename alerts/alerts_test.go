package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/internal/promnames"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

const (
	rulesFile = "smtp_exporter.rules.yml"
	// RunbookBase is where runbook_url points by default; docs/alerting.md
	// says how to point it elsewhere.
	runbookBase = "https://github.com/smtp-exporter/smtp_exporter/blob/main/docs/runbooks.md"
	runbooks    = "../docs/runbooks.md"
)

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			EvalTime  string `yaml:"eval_time"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// decode reads a YAML file into v; strict, unknown keys are errors (a
// misspelt annotation would otherwise vanish silently).
func decode(t *testing.T, path string, v any, strict bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(strict)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func alertRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	decode(t, rulesFile, &f, true)
	var rules []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				rules = append(rules, r)
			}
		}
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no alerts", rulesFile)
	}
	return rules
}

// perJob says the alert is one per job, not per target (the monitor gone
// blind for all of a job's targets): it has no instance label, so it names
// the job, and each target in turn.
func (r rule) perJob() bool {
	return strings.HasPrefix(strings.TrimSpace(r.Expr), "count by (job)")
}

func unitTestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.test.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.test.yml: %v", err)
	}
	return files
}

func runbookURL(alert string) string { return runbookBase + "#" + strings.ToLower(alert) }

func TestPromtoolCheckRules(t *testing.T) {
	promtool := testtool.Need(t, "promtool", "promtool")
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if want := "SUCCESS: " + strconv.Itoa(len(alertRules(t))) + " rules found"; !strings.Contains(string(out), want) {
		t.Errorf("promtool check rules said %q, want %q", out, want)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := testtool.Need(t, "promtool", "promtool")
	for _, f := range unitTestFiles(t) {
		out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
		if err != nil {
			t.Errorf("promtool test rules %s: %v\n%s", f, err, out)
		}
	}
}

// TestPromtoolTestRulesCanFail proves the unit tests hold the rules to their
// exact behaviour: each mutation of the rule file must fail them.
func TestPromtoolTestRulesCanFail(t *testing.T) {
	if testing.Short() {
		// More promtool runs that only prove the rule tests can fail; the
		// full suite keeps them.
		t.Skip("-short: the mutation runs of the rule tests are left to the full suite")
	}
	promtool := testtool.Need(t, "promtool", "promtool")
	orig, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	// Each mutation names the unit test file that must catch it: one
	// promtool run each, not one per file.
	tests := []struct{ name, old, new, file string }{
		{"blocked port waits longer", "        for: 10m\n", "        for: 20m\n", "smtp_exporter.rules.test.yml"},
		{"runbook moved", "runbooks.md#smtpcertificateinvalid", "runbooks.md#certificates", "smtp_exporter.rules.test.yml"},
		{"warning threshold lowered", "< 21 >= 7", "< 14 >= 7", "smtp_exporter.rules.test.yml"},
		{"severity changed", "severity: warning", "severity: info", "egress.rules.test.yml"},
		// Issue 25: a probe over a path the egress canaries do not vouch
		// for must not page for its target.
		{"egress hold-back dropped", "            unless probe_smtp_egress_open == 0\n          )\n          >= clamp_max", "          )\n          >= clamp_max", "egress.rules.test.yml"},
		{"vantage quorum of 1", "\n          ), 2)\n        for: 10m", "\n          ), 1)\n        for: 10m", "egress.rules.test.yml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(string(orig), tc.old) {
				t.Fatalf("%s does not contain %q", rulesFile, tc.old)
			}
			dir := t.TempDir()
			mutated := strings.Replace(string(orig), tc.old, tc.new, 1)
			if err := os.WriteFile(filepath.Join(dir, rulesFile), []byte(mutated), 0o644); err != nil {
				t.Fatal(err)
			}
			// The unit test files name the rules as ../smtp_exporter.rules.yml.
			if err := os.Mkdir(filepath.Join(dir, "testdata"), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			copied := filepath.Join(dir, "testdata", tc.file)
			if err := os.WriteFile(copied, b, 0o644); err != nil {
				t.Fatal(err)
			}
			failed := exec.Command(promtool, "test", "rules", copied).Run() != nil
			if !failed {
				t.Errorf("promtool test rules passed with %q replaced by %q", tc.old, tc.new)
			}
		})
	}
}

// TestEveryAlertTested: every alert has a case where it fires and one where
// it must not, and every expected alert names its severity and runbook.
func TestEveryAlertTested(t *testing.T) {
	firing, silent := map[string]bool{}, map[string]bool{}
	for _, f := range unitTestFiles(t) {
		var u unitTestFile
		decode(t, f, &u, false)
		if !slices.Equal(u.RuleFiles, []string{"../" + rulesFile}) {
			t.Errorf("%s: rule_files %v, want [../%s]", f, u.RuleFiles, rulesFile)
		}
		for _, tc := range u.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
				}
				for _, exp := range at.ExpAlerts {
					firing[at.Alertname] = true
					if exp.ExpLabels["severity"] == "" {
						t.Errorf("%s: %q: %s expected without a severity label", f, tc.Name, at.Alertname)
					}
					if got, want := exp.ExpAnnotations["runbook_url"], runbookURL(at.Alertname); got != want {
						t.Errorf("%s: %q: %s expected with runbook_url %q, want %q", f, tc.Name, at.Alertname, got, want)
					}
					for _, a := range []string{"summary", "description"} {
						if exp.ExpAnnotations[a] == "" {
							t.Errorf("%s: %q: %s expected without a %s", f, tc.Name, at.Alertname, a)
						}
					}
				}
			}
		}
	}
	for _, r := range alertRules(t) {
		if !firing[r.Alert] {
			t.Errorf("%s: no unit test where it fires", r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("%s: no unit test where it must not fire", r.Alert)
		}
	}
}

// TestAlertConventions checks what on-call relies on in every alert, and
// that its runbook section exists.
func TestAlertConventions(t *testing.T) {
	anchors := runbookAnchors(t)
	name := regexp.MustCompile(`^SMTP[A-Z][A-Za-z]+$`)
	for _, r := range alertRules(t) {
		if !name.MatchString(r.Alert) {
			t.Errorf("alert %q: want a name like SMTPPortBlocked", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		if r.For == "" {
			t.Errorf("%s: no `for`: one failed probe would page", r.Alert)
		}
		perJob := r.perJob()
		for _, a := range []string{"summary", "description"} {
			switch {
			case !perJob && !strings.Contains(r.Annotations[a], "$labels.instance"):
				t.Errorf("%s: %s does not name the target ($labels.instance)", r.Alert, a)
			case perJob && !strings.Contains(r.Annotations[a], "$labels.job"):
				t.Errorf("%s: %s does not name the job ($labels.job)", r.Alert, a)
			}
		}
		if perJob && !strings.Contains(r.Annotations["description"], ".Labels.instance") {
			t.Errorf("%s: the description does not name the job's targets (.Labels.instance of a query)", r.Alert)
		}
		if got, want := r.Annotations["runbook_url"], runbookURL(r.Alert); got != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, want)
		}
		if !anchors[strings.ToLower(r.Alert)] {
			t.Errorf("%s: %s has no section %q", r.Alert, runbooks, "## "+r.Alert)
		}
	}
}

// runbookAnchors returns the GitHub anchors of the runbooks' headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbooks)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for line := range strings.SplitSeq(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")] = true
		}
	}
	return anchors
}

// TestRulesUseExporterMetrics: every metric an alert reads is one the
// exporter's probe or its own /metrics emits, or Prometheus's own `up`.
func TestRulesUseExporterMetrics(t *testing.T) {
	known := append(promnames.Probe(), promnames.FromPrometheus...)
	known = append(known, promnames.Exporter()...)
	for _, r := range alertRules(t) {
		names := promnames.InQuery(r.Expr)
		if len(names) == 0 {
			t.Errorf("%s: expression names no metric: %s", r.Alert, r.Expr)
		}
		for _, n := range names {
			if !slices.Contains(known, n) {
				t.Errorf("%s: metric %s is not emitted by the exporter", r.Alert, n)
			}
		}
	}
}

// TestDocRunbookOverride keeps the sed command of docs/alerting.md, which
// points runbook_url elsewhere, in step with the URL the rules use.
func TestDocRunbookOverride(t *testing.T) {
	doc, err := os.ReadFile("../docs/alerting.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "sed -i 's|" + runbookBase + "|"; !strings.Contains(string(doc), want) {
		t.Errorf("docs/alerting.md has no %q: the override it documents no longer matches the rules", want)
	}
}

// TestProbeCommandsNameTheConfig: every `smtp_exporter probe` command the
// runbooks and the dashboards print for a module carries --config.file, so
// that on-call probes with the exporter's modules, not the built-in ones
// (issue 24: the printed commands said FAILED where the exporter said OK).
func TestProbeCommandsNameTheConfig(t *testing.T) {
	files, err := filepath.Glob("../dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	files = append(files, runbooks)
	cmd := regexp.MustCompile(`smtp_exporter probe(\s|\\n)+(--?[a-z.]+[ =]\S+(\s|\\n)+)*`)
	found := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cmd.FindAllString(string(b), -1) {
			if !strings.Contains(m, "--module") {
				continue // the command's own description, not a command for a module
			}
			found++
			if !strings.Contains(m, "--config.file") {
				t.Errorf("%s: %q probes without --config.file", f, m)
			}
		}
	}
	if found < 10 {
		t.Errorf("only %d probe commands found: the pattern no longer matches them", found)
	}
}
