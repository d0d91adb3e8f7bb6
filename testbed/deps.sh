#!/usr/bin/env bash
# Installs, from Debian's packages, every program the test suite drives besides
# Postfix (which testbed/postfix.sh installs with its debconf answers):
#   prometheus   the real Prometheus and promtool (integration/, examples/, alerts/)
#   prometheus-alertmanager  the real Alertmanager and amtool (examples/alertmanager, integration/)
#   chromium     the headless browser of the landing-page test
#   nftables     the DROP rule that makes a filtered port (integration/), and
#                the egress tests' rules inside their own network namespaces
#   iproute2     `ip netns` and veth pairs for those namespaces (egress/, integration/)
#   systemd      systemd-analyze verify on the example unit (examples/)
#   unbound      unbound-checkconf on the Helm chart's resolver config (charts/)
#   dns-root-data  the root trust anchors the chart's resolver must carry (charts/)
# and builds, from the Go module proxy, the pinned kubeconform and helm that
# deploy/ and charts/ run (scripts/install-deploy-tools.sh), here rather
# than inside a test, whose timeout the helm build (minutes) would eat.
# Idempotent and quick when all are present; never starts a system service.
# Run as root: scripts/test.sh calls it before the tests.
set -euo pipefail
TB_PROG=deps.sh
# shellcheck source=testbed/lib.sh
. "$(dirname "$0")/lib.sh"
tb_require_root

PACKAGES=(prometheus prometheus-alertmanager chromium nftables iproute2 systemd ca-certificates unbound dns-root-data)
tb_ensure_packages "${PACKAGES[@]}"
# The package enables its service (policy-rc.d only kept it from starting now): a machine that
# ran the tests must not start an Alertmanager on port 9093 at its next boot.
if [ -e /etc/systemd/system/multi-user.target.wants/prometheus-alertmanager.service ]; then
	systemctl disable prometheus-alertmanager.service >/dev/null 2>&1 ||
		rm -f /etc/systemd/system/multi-user.target.wants/prometheus-alertmanager.service
fi
if [ "${SMTP_EXPORTER_DEPLOY_TOOLS:-}" = started ]; then
	tb_log "kubeconform and helm: scripts/test.sh builds them beside the installs"
elif command -v go >/dev/null; then
	bash "$(dirname "$0")/../scripts/install-deploy-tools.sh" kubeconform helm
else
	tb_log "no go on PATH: kubeconform and helm get built when a test first needs them"
fi
