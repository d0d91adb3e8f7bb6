// Package amtest runs a real Alertmanager (Debian's prometheus-alertmanager)
// on loopback for tests, feeds it alerts with amtool as Prometheus would send
// them, and reads back how it grouped, routed and inhibited them: what pages
// and what makes a ticket under a given configuration.
package amtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	URL    string
	amtool string
	config string
}

// Start runs Alertmanager with the configuration file config until the test
// ends. Clustering is off; its state lives in a temporary directory.
func Start(t *testing.T, config string) *Alertmanager {
	t.Helper()
	bin := testtool.Need(t, "prometheus-alertmanager", "alertmanager")
	amtool := testtool.Need(t, "amtool", "alertmanager")
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	p, err := testtool.Start(bin, log, "--config.file="+config, "--storage.path="+filepath.Join(dir, "data"),
		"--cluster.listen-address=", "--log.level=debug")
	if err != nil {
		t.Fatalf("starting Alertmanager: %v", err)
	}
	t.Cleanup(p.Stop)
	return &Alertmanager{URL: p.URL, amtool: amtool, config: config}
}

// Add sends alerts, each a label set with alertname, through `amtool alert
// add`, as firing now.
func (am *Alertmanager) Add(t *testing.T, alerts []map[string]string) {
	t.Helper()
	for _, a := range alerts {
		args := []string{"alert", "add", "--alertmanager.url=" + am.URL}
		for _, k := range slices.Sorted(maps.Keys(a)) {
			args = append(args, k+"="+a[k])
		}
		if out, err := exec.Command(am.amtool, args...).CombinedOutput(); err != nil {
			t.Fatalf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Route says which receiver the configuration routes an alert to, through
// `amtool config routes test`.
func (am *Alertmanager) Route(t *testing.T, alert map[string]string) string {
	t.Helper()
	args := []string{"config", "routes", "test", "--config.file=" + am.config}
	for _, k := range slices.Sorted(maps.Keys(alert)) {
		args = append(args, k+"="+alert[k])
	}
	// The receiver on stdout; stderr has a warning when an amtool config
	// file (Debian ships /etc/amtool/config.yml) names an Alertmanager too.
	cmd := exec.Command(am.amtool, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// Group is one group of alerts as Alertmanager notifies it.
type Group struct {
	Receiver string
	// Labels are the group's labels (the route's group_by).
	Labels map[string]string
	// Active are the alerts that notify; Muted those inhibited or silenced.
	Active, Muted []map[string]string
}

// Notifying returns the groups with an active alert for receiver, by the
// value of their label key ("" when the group has none).
func Notifying(groups []Group, receiver, key string) []string {
	var out []string
	for _, g := range groups {
		if g.Receiver == receiver && len(g.Active) > 0 {
			out = append(out, g.Labels[key])
		}
	}
	slices.Sort(out)
	return out
}

// Groups returns the alert groups, waiting until Alertmanager has taken in
// want alerts.
func (am *Alertmanager) Groups(t *testing.T, want int) []Group {
	t.Helper()
	type apiGroup struct {
		Labels   map[string]string `json:"labels"`
		Receiver struct {
			Name string `json:"name"`
		} `json:"receiver"`
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		} `json:"alerts"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(am.URL + "/api/v2/alerts/groups")
		if err != nil {
			t.Fatal(err)
		}
		var raw []apiGroup
		err = json.NewDecoder(resp.Body).Decode(&raw)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("decoding the alert groups: %v", err)
		}
		var groups []Group
		seen := map[string]bool{}
		for _, g := range raw {
			out := Group{Receiver: g.Receiver.Name, Labels: g.Labels}
			for _, a := range g.Alerts {
				seen[fmt.Sprint(a.Labels)] = true
				if a.Status.State == "active" {
					out.Active = append(out.Active, a.Labels)
				} else {
					out.Muted = append(out.Muted, a.Labels)
				}
			}
			groups = append(groups, out)
		}
		if len(seen) >= want {
			return groups
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager holds %d alerts, want %d: %+v", len(seen), want, groups)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
