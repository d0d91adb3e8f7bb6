#!/usr/bin/env bash
# Builds the smtp_exporter image from ./Dockerfile with Debian's buildah: no
# Docker engine, no registry, no network. The Dockerfile's base image is
# replaced by a local stand-in made from Debian's busybox-static and
# ca-certificates (same layout as Prometheus' busybox image: /bin/busybox
# plus applet links, a CA bundle, nobody = 65534).
#
# Usage: scripts/build-image.sh            (after `make build`)
# Env:   BINARY      static binary to copy (default: ./smtp_exporter)
#        IMAGE       tag to build        (default: localhost/smtp-exporter:dev)
#        BASE_IMAGE  stand-in base tag   (default: localhost/smtp-exporter-base:local)
#        REBUILD_BASE=1  rebuild the stand-in even if it exists
#        BUILDAH_ROOT, BUILDAH_RUNROOT   buildah store (see buildah-common.sh)
set -euo pipefail
# shellcheck source=scripts/buildah-common.sh
. "$(dirname "$0")/buildah-common.sh"

BINARY=${BINARY:-$REPO_ROOT/smtp_exporter}
[ -f "$BINARY" ] || die "no binary at $BINARY: run 'make build' first"

need_packages buildah busybox-static ca-certificates

build_base() {
	local ctr mnt applet
	log "building stand-in base image $BASE_IMAGE"
	ctr=$(bh from scratch)
	mnt=$(bh mount "$ctr")
	mkdir -p "$mnt"/{bin,etc/ssl/certs,home,tmp}
	chmod 1777 "$mnt/tmp"
	install -m 0755 /bin/busybox "$mnt/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[ -e "$mnt/bin/$applet" ] || ln -s busybox "$mnt/bin/$applet"
	done
	install -m 0644 /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$mnt/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$mnt/etc/group"
	bh umount "$ctr" >/dev/null
	bh config --cmd /bin/sh --os linux --arch amd64 "$ctr"
	bh commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
}

if [ "${REBUILD_BASE:-0}" = 1 ] || ! bh inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
	build_base
fi

# A minimal build context: exactly what the Dockerfile copies.
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
install -m 0755 "$BINARY" "$ctx/smtp_exporter"
cp "$REPO_ROOT/config.example.yml" "$REPO_ROOT/Dockerfile" "$REPO_ROOT/.dockerignore" "$ctx/"
# busybox has no CA bundle: the image takes Debian's (ca-certificates).
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"

log "building $IMAGE"
bh bud --quiet --pull=never --isolation chroot \
	--build-arg "BASE=$BASE_IMAGE" \
	--tag "$IMAGE" --file "$ctx/Dockerfile" "$ctx" >/dev/null
log "built $IMAGE ($(bh inspect --type image --format '{{.FromImageID}}' "$IMAGE" | cut -c1-12))"
