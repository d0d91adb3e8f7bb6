#!/usr/bin/env bash
# Installs the tools the deployment checks use, pinned:
#   kubeconform  (Go module proxy)  deploy/deploy_test.go
#   promtool, prometheus (Debian prometheus) examples/, integration/
#   alertmanager, amtool (Debian prometheus-alertmanager) examples/, integration/
#   systemd-analyze (Debian systemd) examples/examples_test.go
#   buildah, busybox-static, ca-certificates (Debian)  scripts/test-image.sh
# Usage: scripts/install-deploy-tools.sh [kubeconform|promtool|prometheus|alertmanager|systemd|image]...
# (no argument: all). apt-get needs root; kubeconform goes to $(go env GOPATH)/bin.
set -euo pipefail
KUBECONFORM_VERSION=v0.8.0

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

kubeconform() {
	local bin
	bin="$(go env GOPATH)/bin/kubeconform"
	if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]].*[[:space:]]$KUBECONFORM_VERSION[[:space:]]"; then
		return 0
	fi
	# Outside the repository's module: the tool's dependencies stay out of go.mod.
	(cd / && GOFLAGS= go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION")
}

[ $# -gt 0 ] || set -- kubeconform promtool systemd image
for tool; do
	case $tool in
	kubeconform) kubeconform ;;
	promtool | prometheus) apt_install prometheus ;;
	alertmanager) apt_install prometheus-alertmanager ;;
	systemd) apt_install systemd ;;
	image) apt_install buildah busybox-static ca-certificates ;;
	*) echo "install-deploy-tools.sh: unknown tool $tool" >&2; exit 2 ;;
	esac
done
