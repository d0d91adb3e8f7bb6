// Package alerts holds the alert definitions: smtp_exporter.rules.yml is
// the Prometheus alert rule file, the one place alerts are defined. Its
// tests run `promtool check rules` and `promtool test rules` on
// testdata/*.test.yml, and check that every alert has a severity, a summary,
// a description, a runbook_url into docs/runbooks.md and a dashboard_url to
// a panel that shows it, and is tested both firing and not firing.
//
// `go generate ./alerts` (gen/, internal/alertgen) writes the same alerts
// as Grafana-managed rules: ../alerting/smtp_exporter.yml for Grafana's file
// provisioning, grafana/*.json for its provisioning API; the tests check
// they are up to date and decode strictly with the foundation SDK's types.
package alerts
