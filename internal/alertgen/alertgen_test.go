package alertgen

import (
	"strings"
	"testing"
)

// TestBuildErrors: rule files the generator cannot turn into valid Grafana
// rules fail with a message naming the alert.
func TestBuildErrors(t *testing.T) {
	tests := []struct{ name, file, err string }{
		{"no groups", "groups: []\n", "no groups"},
		{"unknown key", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 1m\n    annotation: {}\n", "field annotation not found"},
		{"no for", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n", "alert A: no expr or no for"},
		{
			"same name, no severity",
			"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n  - alert: A\n    expr: up == 1\n    for: 1m\n",
			"tell the rules apart by a severity label",
		},
		{
			"same name and severity",
			"groups:\n- name: g\n  rules:\n  - {alert: A, expr: up == 0, for: 1m, labels: {severity: warning}}\n  - {alert: A, expr: up == 1, for: 1m, labels: {severity: warning}}\n",
			"uid a-warning used twice",
		},
		{"uid too long", "groups:\n- name: g\n  rules:\n  - {alert: " + strings.Repeat("A", 41) + ", expr: up == 0, for: 1m}\n", "at most 40"},
		{"bad interval", "groups:\n- name: g\n  interval: soon\n  rules:\n  - {alert: A, expr: up == 0, for: 1m}\n", "interval"},
		{"bad template", "groups:\n- name: g\n  rules:\n  - {alert: A, expr: up == 0, for: 1m, annotations: {summary: '{{ $nope }}'}}\n", "annotation summary"},
	}
	for _, tc := range tests {
		_, err := Generate([]byte(tc.file), Defaults)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}

// TestGenerate: a small rule file as Grafana rules; recording rules stay
// with Prometheus; a name used twice gets the severity in title and uid;
// the group interval carries over.
func TestGenerate(t *testing.T) {
	file := `groups:
- name: g
  interval: 30s
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: Expiring
    expr: x < 21
    for: 15m
    labels: {severity: warning}
    annotations: {summary: 'in {{ $value }} days'}
  - alert: Expiring
    expr: x < 7
    for: 15m
    keep_firing_for: 5m
    labels: {severity: critical}
`
	groups, err := ParseRules([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	rgs, err := Build(groups, Defaults)
	if err != nil {
		t.Fatal(err)
	}
	if len(rgs) != 1 || len(rgs[0].Rules) != 2 || *rgs[0].Interval != 30 {
		t.Fatalf("groups %+v", rgs)
	}
	w, c := rgs[0].Rules[0], rgs[0].Rules[1]
	if w.Title != "Expiring (warning)" || *w.Uid != "expiring-warning" || c.Title != "Expiring (critical)" || *c.Uid != "expiring-critical" {
		t.Errorf("titles %q %q, uids %q %q", w.Title, c.Title, *w.Uid, *c.Uid)
	}
	if w.Annotations["summary"] != "in {{$values.B.Value}} days" {
		t.Errorf("summary %q", w.Annotations["summary"])
	}
	if c.KeepFiringFor == nil || *c.KeepFiringFor != "5m" || w.KeepFiringFor != nil {
		t.Errorf("keep_firing_for %v %v", w.KeepFiringFor, c.KeepFiringFor)
	}
	y, err := RenderProvisioning(rgs, Defaults)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"interval: 30s\n", "keepFiringFor: 5m\n", "datasourceUid: &datasource prometheus\n", "datasourceUid: *datasource\n"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("provisioning file lacks %q:\n%s", want, y)
		}
	}
}
