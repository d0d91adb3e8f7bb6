// Package alertgen turns the Prometheus alert rules of
// alerts/smtp_exporter.rules.yml, the one place the alerts are defined, into
// Grafana-managed alert rules: a file-provisioning YAML for Grafana's
// provisioning/alerting directory and the same rule group as JSON for
// Grafana's alerting provisioning HTTP API, built with the foundation SDK's
// alerting types. `go generate ./alerts` writes both (alerts/gen).
//
// To add an alert, add it to the rule file (with its promtool tests and
// runbook section, as for every alert) and run `go generate ./alerts`; the
// alerts tests fail until the Grafana files are regenerated.
package alertgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// PromRule is an alerting or recording rule of a Prometheus rule file.
type PromRule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// PromGroup is a rule group of a Prometheus rule file.
type PromGroup struct {
	Name     string     `yaml:"name"`
	Interval string     `yaml:"interval"`
	Limit    int        `yaml:"limit"`
	Rules    []PromRule `yaml:"rules"`
}

// ParseRules reads a Prometheus rule file; unknown keys are errors, so a
// misspelt field never silently drops out of the Grafana rules.
func ParseRules(b []byte) ([]PromGroup, error) {
	var f struct {
		Groups []PromGroup `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("rule file: %w", err)
	}
	if len(f.Groups) == 0 {
		return nil, errors.New("rule file: no groups")
	}
	return f.Groups, nil
}
