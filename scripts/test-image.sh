#!/usr/bin/env bash
# Builds the smtp_exporter image (make build + build-image.sh) and checks it:
#   - image config: user 65534:65534, entrypoint, cmd, port 9667 exposed;
#   - inside the image, as the image's user: the binary runs (--version, and
#     --config.check on the config the CMD points at), the CA bundle is readable;
#   - the entrypoint + cmd start a server that answers /-/healthy.
# Exits non-zero on any mismatch. Needs root (buildah with chroot isolation).
#
# Env: SKIP_BUILD=1   use the existing binary (BINARY, default ./smtp_exporter)
#      plus everything build-image.sh takes (IMAGE, BASE_IMAGE, ...).
set -euo pipefail
# shellcheck source=scripts/buildah-common.sh
. "$(dirname "$0")/buildah-common.sh"
start=$SECONDS
failures=0
pass() { log "ok: $*"; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
expect() { # expect NAME WANT GOT
	if [ "$2" = "$3" ]; then pass "$1 = $3"; else fail "$1: want $2, got $3"; fi
}

[ "$(id -u)" -eq 0 ] || die "must run as root (buildah, chroot isolation)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
	make -C "$REPO_ROOT" --no-print-directory build
fi
"$REPO_ROOT/scripts/build-image.sh"

# Image configuration.
cfg() { bh inspect --type image --format "{{$1}}" "$IMAGE"; }
expect user 65534:65534 "$(cfg .OCIv1.Config.User)"
# Lists are printed as space-separated quoted words.
expect entrypoint '"/bin/smtp_exporter"' "$(cfg 'range $i, $e := .OCIv1.Config.Entrypoint}}{{if $i}} {{end}}{{printf "%q" $e}}{{end')"
expect cmd '"--config.file=/etc/smtp_exporter/config.yml"' "$(cfg 'range $i, $e := .OCIv1.Config.Cmd}}{{if $i}} {{end}}{{printf "%q" $e}}{{end')"
expect exposed_ports 9667/tcp "$(cfg 'range $p, $_ := .OCIv1.Config.ExposedPorts}}{{$p}} {{end' | xargs)"

# Inside the image. `buildah run` uses the image's USER, so this also proves
# the binary and its config are usable by nobody.
ctr=$(bh from --quiet --pull=never "$IMAGE")
server_pid=
server_log=$(mktemp)
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	bh rm "$ctr" >/dev/null 2>&1 || true
	rm -f "$server_log"
}
trap cleanup EXIT
run() { bh run "$ctr" -- "$@"; }

expect uid 65534 "$(run /bin/id -u)"
if out=$(run /bin/smtp_exporter --version 2>&1) && grep -q '^smtp_exporter, version ' <<<"$out"; then
	pass "--version: $(head -n1 <<<"$out")"
	if [ "${SKIP_BUILD:-0}" != 1 ] && rev=$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null); then
		if grep -q "revision: $rev" <<<"$out"; then pass "--version names revision $rev"; else fail "--version lacks revision $rev: $out"; fi
	fi
else
	fail "--version: $out"
fi
if out=$(run /bin/smtp_exporter --config.check --config.file=/etc/smtp_exporter/config.yml 2>&1); then
	pass "--config.check on /etc/smtp_exporter/config.yml"
else
	fail "--config.check: $out"
fi
if run /bin/sh -c 'test -r /etc/ssl/certs/ca-certificates.crt && test -s /etc/ssl/certs/ca-certificates.crt'; then
	pass "CA bundle readable"
else
	fail "no readable /etc/ssl/certs/ca-certificates.crt"
fi

# Entrypoint + cmd as a container runtime would start them, on a free
# loopback port (host network), until /-/healthy answers or 20 s pass.
port=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 20000))
	if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then port=$p; break; fi
done
[ -n "$port" ] || die "no free port"
entrypoint=$(cfg 'range .OCIv1.Config.Entrypoint}}{{.}} {{end')
cmd=$(cfg 'range .OCIv1.Config.Cmd}}{{.}} {{end')
# shellcheck disable=SC2086 # entrypoint and cmd are word lists
bh run --network host "$ctr" -- $entrypoint $cmd --web.listen-address="127.0.0.1:$port" >"$server_log" 2>&1 &
server_pid=$!
healthy=
for _ in $(seq 100); do
	if curl -fsS "http://127.0.0.1:$port/-/healthy" >/dev/null 2>&1; then healthy=1; break; fi
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.2
done
if [ -n "$healthy" ]; then
	pass "entrypoint + cmd serve /-/healthy on 127.0.0.1:$port"
else
	fail "server did not answer /-/healthy; its output:"
	cat "$server_log" >&2
fi

log "image $IMAGE: $failures failure(s), $((SECONDS - start)) s"
[ "$failures" -eq 0 ]
