package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/internal/amtest"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

const (
	alertmanagerConfig = "alertmanager/alertmanager.yml"
	incidentsFile      = "alertmanager/testdata/incidents.yml"
)

// incident is one entry of testdata/incidents.yml.
type incident struct {
	Incident string              `yaml:"incident"`
	Alerts   []map[string]string `yaml:"alerts"`
	Pages    []string            `yaml:"pages"`
	Tickets  []string            `yaml:"tickets"`
}

func TestAmtoolCheckConfig(t *testing.T) {
	amtool := testtool.Need(t, "amtool", "alertmanager")
	if out, err := exec.Command(amtool, "check-config", alertmanagerConfig).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
}

func TestWatchdogRules(t *testing.T) {
	promtool := testtool.Need(t, "promtool", "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alertmanager/watchdog.rules.yml"},
		{"test", "rules", "alertmanager/watchdog.rules.test.yml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// TestAlertmanagerIncidents feeds a real Alertmanager, configured with the
// example, the alerts of each incident, and checks it pages once per
// affected target or domain (group_by instance), makes tickets of the
// warnings no page covers, and routes every alert by its severity.
func TestAlertmanagerIncidents(t *testing.T) {
	b, err := os.ReadFile(incidentsFile)
	if err != nil {
		t.Fatal(err)
	}
	var incidents []incident
	if err := yaml.Unmarshal(b, &incidents); err != nil {
		t.Fatalf("%s: %v", incidentsFile, err)
	}
	if len(incidents) < 5 {
		t.Fatalf("%s has %d incidents", incidentsFile, len(incidents))
	}
	config, err := filepath.Abs(alertmanagerConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incidents {
		t.Run(inc.Incident, func(t *testing.T) {
			am := amtest.Start(t, config)
			for _, a := range inc.Alerts {
				want := map[string]string{"critical": "pager", "warning": "tickets"}[a["severity"]]
				if got := am.Route(t, a); got != want {
					t.Errorf("amtool config routes test %v: %q, want %q", a, got, want)
				}
			}
			am.Add(t, inc.Alerts)
			groups := am.Groups(t, len(inc.Alerts))
			if got := amtest.Notifying(groups, "pager", "instance"); !slices.Equal(got, nonNil(inc.Pages)) {
				t.Errorf("pages for %v, want %v; groups %+v", got, inc.Pages, groups)
			}
			if got := amtest.Notifying(groups, "tickets", "instance"); !slices.Equal(got, nonNil(inc.Tickets)) {
				t.Errorf("tickets for %v, want %v; groups %+v", got, inc.Tickets, groups)
			}
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestWatchdogRoute: the dead-man's switch goes to its own receiver, often.
func TestWatchdogRoute(t *testing.T) {
	config, err := filepath.Abs(alertmanagerConfig)
	if err != nil {
		t.Fatal(err)
	}
	am := amtest.Start(t, config)
	if got := am.Route(t, map[string]string{"alertname": "SMTPMonitoringWatchdog", "severity": "none"}); got != "deadmansswitch" {
		t.Errorf("the watchdog goes to %q, want deadmansswitch", got)
	}
}
