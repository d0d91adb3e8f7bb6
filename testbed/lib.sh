# shellcheck shell=bash
# Shared helpers for the test bed scripts (sourced, not executed).

tb_log() { printf '%s: %s\n' "${TB_PROG:-testbed}" "$*" >&2; }
tb_die() { tb_log "error: $*"; exit 1; }

tb_require_root() {
	[ "$(id -u)" = 0 ] || tb_die "must run as root (it installs Debian packages and starts Postfix)"
}

# tb_pkg_installed PKG: true when dpkg reports PKG as fully installed.
tb_pkg_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# tb_ensure_packages PKG...: installs the missing packages from Debian without prompts and
# without starting any system service. Does nothing (and never touches apt) when all are present.
# Debconf answers can be given beforehand in TB_DEBCONF (debconf-set-selections format).
tb_ensure_packages() {
	local missing=() p
	# One dpkg-query for all: the common case (all installed) must stay fast.
	[ "$(dpkg-query -W -f='${db:Status-Status}\n' "$@" 2>/dev/null | grep -cx installed)" = "$#" ] && return 0
	for p in "$@"; do
		tb_pkg_installed "$p" || missing+=("$p")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	command -v apt-get >/dev/null || tb_die "missing packages (${missing[*]}) and no apt-get: install them by hand"
	tb_log "installing Debian packages: ${missing[*]}"
	if [ -n "${TB_DEBCONF:-}" ]; then
		printf '%s\n' "$TB_DEBCONF" | debconf-set-selections || tb_die "debconf-set-selections failed"
	fi
	# policy-rc.d exit 101 tells invoke-rc.d/deb-systemd-invoke not to start services, so the
	# packages' system daemons (postfix, prometheus, saslauthd) stay down. A policy-rc.d that
	# exists already is the machine's own: leave it alone.
	local own_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		own_policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# temporary, from smtp_exporter testbed\nexit 101\n' >"$own_policy"
		chmod 0755 "$own_policy"
	fi
	local rc=0
	local apt=(apt-get -y -q --no-install-recommends
		-o DPkg::Lock::Timeout=600
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >&2; then
		tb_log "install failed; running apt-get update and retrying"
		DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update >&2 &&
			DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >&2 || rc=1
	fi
	[ -n "$own_policy" ] && rm -f "$own_policy"
	[ "$rc" = 0 ] || tb_die "could not install: ${missing[*]}"
	for p in "${missing[@]}"; do
		tb_pkg_installed "$p" || tb_die "package $p is still not installed"
	done
}

# tb_wait_tcp HOST PORT SECONDS: waits until a TCP connect to HOST:PORT succeeds.
tb_wait_tcp() {
	local host=$1 port=$2 deadline=$((SECONDS + $3))
	while :; do
		if timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; then
			return 0
		fi
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# tb_clean: removes the test bed's directory $DIR (only when it carries
# $MARKER, so that a mistyped DIR never removes anything else), after cmd_stop.
tb_clean() {
	tb_require_root
	[ -d "$DIR" ] || return 0
	[ -e "$MARKER" ] || tb_die "$DIR has no $MARKER; not removing it"
	cmd_stop
	rm -rf -- "$DIR"
	tb_log "removed $DIR"
}

# tb_main COMMAND: the command line every test bed script shares; the script
# defines cmd_start, cmd_stop, cmd_status and cmd_env.
tb_main() {
	case "${1:-start}" in
	start) cmd_start ;;
	stop) cmd_stop ;;
	restart) cmd_stop && cmd_start ;;
	status) cmd_status ;;
	env) cmd_env ;;
	clean) tb_clean ;;
	-h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
	*) tb_die "unknown command '$1' (start|stop|restart|status|env|clean)" ;;
	esac
}

# tb_state_dir VAR DEFAULT: prints the test bed's state directory, from the
# environment variable VAR or DEFAULT, refused unless it is an absolute path
# that clean can remove safely (not /, no spaces, quotes, $ or \).
tb_state_dir() {
	local var=$1 dir=${!1:-$2}
	case "$dir" in
	/*) ;;
	*) tb_die "$var must be an absolute path: $dir" ;;
	esac
	case "$dir" in
	*[[:space:]\$\'\"\\]* | / | //*) tb_die "$var must not be / nor contain spaces, quotes, \$ or \\: $dir" ;;
	esac
	printf '%s\n' "${dir%/}"
}
