# shellcheck shell=bash
# Shared settings for build-image.sh and test-image.sh; sourced, not run.
#
# buildah keeps its images in a store of its own (vfs driver: no overlay
# mounts needed; chroot isolation: no runc, no user namespaces), so it never
# collides with a Docker or Podman store on the same machine.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${IMAGE:-localhost/smtp-exporter:dev}
BASE_IMAGE=${BASE_IMAGE:-localhost/smtp-exporter-base:local}
BUILDAH_ROOT=${BUILDAH_ROOT:-/var/lib/containers/smtp_exporter-vfs}
BUILDAH_RUNROOT=${BUILDAH_RUNROOT:-/run/containers/smtp_exporter-vfs}
export BUILDAH_ISOLATION=chroot

bh() {
	buildah --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" --storage-driver vfs "$@"
}

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# need_packages installs Debian packages that are missing (root only).
need_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (apt-get install ${missing[*]})"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${missing[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; } ||
		die "apt-get install ${missing[*]} failed"
}
