#!/usr/bin/env bash
# Installs the tools the deployment checks use, pinned:
#   kubeconform  (Go module proxy)  deploy/deploy_test.go, charts/chart_test.go
#   helm         (Go module proxy, built from source)  charts/chart_test.go
#   promtool, prometheus (Debian prometheus) examples/, integration/
#   alertmanager, amtool (Debian prometheus-alertmanager) examples/, integration/
#   systemd-analyze (Debian systemd) examples/examples_test.go
#   unbound-checkconf, root.ds (Debian unbound, dns-root-data)  charts/chart_test.go
#   buildah, busybox-static, ca-certificates (Debian)  scripts/test-image.sh
# Usage: scripts/install-deploy-tools.sh [kubeconform|helm|unbound|promtool|prometheus|alertmanager|systemd|image]...
# (no argument: all). apt-get needs root; kubeconform and helm go to
# $(go env GOPATH)/bin, and are rebuilt only when the pinned version changes.
set -euo pipefail
KUBECONFORM_VERSION=v0.8.0
HELM_VERSION=v4.3.2

apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deploy-tools.sh: need root to install ${missing[*]}" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Tests run in parallel and may meet another apt-get: wait for its lock.
	local apt=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
	"${apt[@]}" install "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null && "${apt[@]}" install "${missing[@]}" >/dev/null; }
}

# go_tool NAME PACKAGE VERSION: go install PACKAGE@VERSION unless
# $(go env GOPATH)/bin/NAME is that module at that version already.
go_tool() {
	local bin
	bin="$(go env GOPATH)/bin/$1"
	if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]].*[[:space:]]$3[[:space:]]"; then
		return 0
	fi
	# Outside the repository's module: the tool's dependencies stay out of go.mod.
	(cd / && GOFLAGS= go install "$2@$3")
}

[ $# -gt 0 ] || set -- kubeconform helm unbound promtool systemd image
for tool; do
	case $tool in
	kubeconform) go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" ;;
	# Helm 4 from source: 8 minutes of CPU with an empty build cache
	# (docs/deployment.md); nothing when it is there already.
	helm) go_tool helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION" ;;
	unbound) apt_install unbound dns-root-data ;;
	promtool | prometheus) apt_install prometheus ;;
	alertmanager) apt_install prometheus-alertmanager ;;
	systemd) apt_install systemd ;;
	image) apt_install buildah busybox-static ca-certificates ;;
	*) echo "install-deploy-tools.sh: unknown tool $tool" >&2; exit 2 ;;
	esac
done
