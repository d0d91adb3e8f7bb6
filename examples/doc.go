// Package examples holds no code. Its tests check the example Prometheus
// configurations (promtool, the blackbox relabelling, the sharding pair), the
// systemd unit (systemd-analyze), and the Alertmanager configuration and
// dead-man's switch (amtool, promtool, and a real Alertmanager fed the
// alerts of the incidents in alertmanager/testdata).
package examples
