// Package alerts holds no code. smtp_exporter.rules.yml is the Prometheus
// alert rule file; its tests run `promtool check rules` and `promtool test
// rules` on testdata/*.test.yml, and check that every alert has a severity,
// a summary, a description and a runbook_url into docs/runbooks.md, and is
// tested both firing and not firing.
package alerts
