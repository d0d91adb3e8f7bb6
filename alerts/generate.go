package alerts

// The Grafana-managed rules (alerting/smtp_exporter.yml for file
// provisioning, alerts/grafana/*.json for the provisioning API) are
// generated from smtp_exporter.rules.yml by internal/alertgen.
//go:generate go run ./gen
