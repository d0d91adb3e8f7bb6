// Package examples holds no code. Its tests check the example Prometheus
// configurations (promtool, the blackbox relabelling, the sharding pair) and
// the systemd unit (systemd-analyze).
package examples
