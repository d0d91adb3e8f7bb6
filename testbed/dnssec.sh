#!/usr/bin/env bash
# DNSSEC, DANE and MTA-STS test bed for smtp_exporter's integration tests: real servers from
# Debian, loopback only.
#
#   testbed/dnssec.sh [start|stop|restart|status|env|clean]
#
# start (default): starts the Postfix test bed (testbed/postfix.sh, whose certificates the TLSA
#   records are made from), installs NSD, Unbound, nginx and ldnsutils if missing (their system
#   services are neither started nor left enabled), and runs three servers of its own:
#   - NSD on 127.0.0.1:$TESTBED_DNSSEC_AUTH_PORT (10054), authoritative for
#       testbed.local  signed: mail.testbed.local and TLSA records for the Postfix listeners
#       policy.test    signed: mail domains with MTA-STS and TLS-RPT records
#       bogus.test     signed, then a TLSA and an A record altered: their signatures no longer
#                      validate
#       expired.test   signed with signatures that expired yesterday: the whole zone is bogus
#       insecure.test  unsigned: TLSA records without DNSSEC
#     Zones are signed at setup with keys made on the first start (ldns-keygen, ECDSA P-256),
#     re-signed when a zone changes or its signatures are a week old.
#   - Unbound on 127.0.0.1:$TESTBED_DNSSEC_PORT (10055): a validating resolver with the signed
#     zones' keys as trust anchors, stub zones to the NSD above (and domains.test to
#     testbed/dns.sh's NSD on 10053 when that runs). The exporter's test modules use it as
#     dns.server: AD on secure answers, SERVFAIL on bogus ones.
#   - nginx on 127.0.0.20:443 serving the MTA-STS policies of policy.test's domains, with a
#     certificate from the Postfix test bed's CA for every mta-sts.<domain>.
#   Idempotent: returns at once when all are up with the same zones; restarts what changed.
# stop: stops only these three (through their pid files). status: 0 when all run, 3 when not.
# env: (re)writes $TESTBED_DNSSEC_DIR/dnssec.env (KEY=VALUE lines) and prints it.
# clean: stop, then remove $TESTBED_DNSSEC_DIR (the next start makes fresh keys).
set -euo pipefail

TB_PROG=dnssec.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=testbed/lib.sh
. "$HERE/lib.sh"

DIR=$(tb_state_dir TESTBED_DNSSEC_DIR /var/tmp/smtp_exporter-dnssec)
PF_DIR=${TESTBED_DIR:-/var/tmp/smtp_exporter-testbed}
PKI=$PF_DIR/pki
AUTH_PORT=${TESTBED_DNSSEC_AUTH_PORT:-10054}
PORT=${TESTBED_DNSSEC_PORT:-10055}
DOMAINS_DNS_PORT=${TESTBED_DNS_PORT:-10053}
# A private copy of the bed (other ports, another state directory) needs its own web address too.
WEB_ADDR=${TESTBED_DNSSEC_WEB_ADDR:-127.0.0.20}
# Where an mta-sts host points when its policy server is down: nothing listens there.
DEAD_ADDR=${TESTBED_DNSSEC_DEAD_ADDR:-127.0.0.29}

ZONEDIR=$DIR/zones
KEYDIR=$DIR/keys
ANCHORS=$DIR/anchors
WWW=$DIR/www
TLS=$DIR/tls
ENV_FILE=$DIR/dnssec.env
MARKER=$DIR/.smtp_exporter-testbed-dnssec
NSD_CONF=$DIR/nsd.conf
NSD_PID=$DIR/nsd.pid
UNBOUND_CONF=$DIR/unbound.conf
UNBOUND_PID=$DIR/unbound.pid
NGINX_CONF=$DIR/nginx.conf
NGINX_PID=$DIR/nginx.pid

SIGNED_ZONES=(testbed.local policy.test bogus.test expired.test)
UNSIGNED_ZONES=(insecure.test)
MAIL=mail.testbed.local

# MTA-STS domains under policy.test: NAME MODE-OF-ITS-POLICY (see zone_policy_test).
POLICY_DOMAINS=(enforce testing broken violation badcert unreachable)
MAX_AGE_ENFORCE=86400

PACKAGES=(nsd unbound nginx-light ldnsutils openssl)

# ---------------------------------------------------------------- certificates and TLSA data

# spki_sha256 CERT: the SHA-256 of the certificate's SubjectPublicKeyInfo (TLSA selector 1,
# matching type 1). The Postfix test bed keeps its keys when it re-issues certificates, so these
# stay valid across its renewals.
spki_sha256() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------- zones

zone_head() {
	cat <<EOF
\$ORIGIN $1.
\$TTL 300
@ IN SOA ns.$1. hostmaster.$1. 1 3600 600 86400 60
@ IN NS ns.$1.
ns IN A 127.0.0.1
EOF
}

# testbed.local: the name the Postfix certificates carry, with one TLSA set per listener port
# (the TLSA name is _PORT._tcp.HOST, so each port is its own case):
#   10025 SMTP       3 1 1 of the valid leaf's key               -> validated (DANE-EE)
#   12525 ALT2525    2 1 1 of the intermediate CA                -> validated (DANE-TA)
#   10587 SUBMISSION 3 1 1 with a wrong digest                   -> failed
#   10029 TLS12      1 1 1 of the valid leaf (PKIX-EE only)      -> unusable
#   10026 EXPIRED    2 1 1 of the intermediate, leaf expired     -> failed (DANE-TA wants dates)
#   10027 WRONGHOST  3 1 1 of the wronghost leaf's key           -> validated (DANE-EE ignores names)
#   10050 DANESELF   3 1 1 of the self-signed leaf's key         -> validated, WebPKI untrusted
#   10028 NOTLS      3 1 1 of the valid leaf's key, no STARTTLS  -> failed
#   10031 EXPIRING   none (secure denial)                        -> none
# and mailcn.testbed.local, a CNAME into the unsigned insecure.test, whose 10025 has a secure
# 3 1 1 of the valid leaf's key: its address records are insecure, so DANE does not apply
# (RFC 7672 §2.2.2)                                               -> insecure, TLSA not asked
zone_testbed_local() {
	local valid inter wrong self
	valid=$(spki_sha256 "$PKI/valid.pem")
	inter=$(spki_sha256 "$PKI/intermediate.pem")
	wrong=$(spki_sha256 "$PKI/wronghost.pem")
	self=$(spki_sha256 "$PKI/selfsigned.pem")
	cat <<EOF
mail IN A 127.0.0.1
_10025._tcp.mail IN TLSA 3 1 1 $valid
_12525._tcp.mail IN TLSA 2 1 1 $inter
_10587._tcp.mail IN TLSA 3 1 1 $(printf '%064d' 0)
_10029._tcp.mail IN TLSA 1 1 1 $valid
_10026._tcp.mail IN TLSA 2 1 1 $inter
_10027._tcp.mail IN TLSA 3 1 1 $wrong
_10050._tcp.mail IN TLSA 3 1 1 $self
_10028._tcp.mail IN TLSA 3 1 1 $valid
mailcn IN CNAME mail.insecure.test.
_10025._tcp.mailcn IN TLSA 3 1 1 $valid
EOF
}

# policy.test: mail domains whose MX is the Postfix test bed (port 25 is the module's port):
#   enforce      policy enforce, mx mail.testbed.local; TLS-RPT valid         -> compliant
#   testing      policy testing (CRLF lines), mx *.testbed.local; TLS-RPT http: (invalid)
#   broken       policy with a max_age that is not a number                  -> mta_sts_invalid
#   violation    policy enforce naming an MX the domain does not use          -> mta_sts_violation
#   badcert      policy enforce, MX mx2.policy.test matches *.policy.test, but the certificate
#                does not name it                                             -> mta_sts_violation
#   unreachable  record, but mta-sts.unreachable.policy.test points where nothing listens
#   plain        MX only, no MTA-STS, no TLS-RPT
# and mail domains without MTA-STS whose DNS is broken in one way each:
#   bogusmx      MX badaddr.bogus.test, whose A record fails validation   -> dnssec_bogus
#   ghostmx      MX ghost.policy.test, which does not exist (NXDOMAIN)    -> nxdomain
#   sendonly     null MX (RFC 7505): a domain that sends mail only        -> null_mx
zone_policy_test() {
	local d
	for d in "${POLICY_DOMAINS[@]}"; do
		echo "_mta-sts.$d IN TXT \"v=STSv1; id=20261202T$d\""
		if [ "$d" = unreachable ]; then
			echo "mta-sts.$d IN A $DEAD_ADDR"
		else
			echo "mta-sts.$d IN A $WEB_ADDR"
		fi
		if [ "$d" = badcert ]; then
			echo "$d IN MX 10 mx2"
		else
			echo "$d IN MX 10 $MAIL."
		fi
	done
	cat <<EOF
mx2 IN A 127.0.0.1
plain IN MX 10 $MAIL.
bogusmx IN MX 10 badaddr.bogus.test.
ghostmx IN MX 10 ghost.policy.test.
sendonly IN MX 0 .
_smtp._tls.enforce IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@policy.test"
_smtp._tls.testing IN TXT "v=TLSRPTv1; rua=http://reports.policy.test/tlsrpt"
EOF
}

# bogus.test: mail.bogus.test with a TLSA record whose data is changed after signing, and
# badaddr.bogus.test whose A record is too (127.0.0.1 signed, 127.0.0.2 served).
zone_bogus_test() {
	cat <<EOF
mail IN A 127.0.0.1
_10025._tcp.mail IN TLSA 3 1 1 $(spki_sha256 "$PKI/valid.pem")
badaddr IN A 127.0.0.1
EOF
}

# expired.test: a mail domain whose zone signatures have expired (signed below with dates in the
# past), as when a signer stops re-signing: Unbound answers SERVFAIL with EDE 7 for every name.
zone_expired_test() {
	cat <<EOF
@ IN MX 10 $MAIL.
EOF
}

# insecure.test: the same records as bogus.test, unsigned.
zone_insecure_test() {
	cat <<EOF
mail IN A 127.0.0.1
_10025._tcp.mail IN TLSA 3 1 1 $(spki_sha256 "$PKI/valid.pem")
EOF
}

zone_text() {
	zone_head "$1"
	"zone_${1//./_}"
}

# policy_text DOMAIN: the policy nginx serves for DOMAIN.policy.test.
policy_text() {
	case "$1" in
	enforce) printf 'version: STSv1\nmode: enforce\nmx: %s\nmax_age: %s\n' "$MAIL" "$MAX_AGE_ENFORCE" ;;
	testing) printf 'version: STSv1\r\nmode: testing\r\nmx: *.testbed.local\r\nmax_age: 604800\r\n' ;;
	broken) printf 'version: STSv1\nmode: enforce\nmx: %s\nmax_age: forever\n' "$MAIL" ;;
	violation) printf 'version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 86400\n' ;;
	badcert) printf 'version: STSv1\nmode: enforce\nmx: *.policy.test\nmax_age: 86400\n' ;;
	unreachable) printf 'version: STSv1\nmode: enforce\nmx: %s\nmax_age: 86400\n' "$MAIL" ;;
	esac
}

# write_if_changed FILE CONTENT: returns 0 when the file changed.
write_if_changed() {
	if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then
		return 1
	fi
	printf '%s\n' "$2" >"$1.tmp"
	chmod 0644 "$1.tmp"
	mv -f "$1.tmp" "$1"
	return 0
}

# ensure_key ZONE: the zone's key (one combined signing key, KSK flag), made on first use.
ensure_key() {
	local z=$1 base
	base=$(cat "$KEYDIR/$z.base" 2>/dev/null || true)
	if [ -z "$base" ] || [ ! -s "$KEYDIR/$base.private" ]; then
		tb_log "making a DNSSEC key for $z"
		base=$(cd "$KEYDIR" && ldns-keygen -a ECDSAP256SHA256 -k "$z") || tb_die "ldns-keygen failed for $z"
		echo "$base" >"$KEYDIR/$z.base"
	fi
	echo "$base"
}

# sign_zone ZONE: signs $ZONEDIR/ZONE.zone into ZONE.signed and writes its trust anchor (DS).
sign_zone() {
	local z=$1 base now from=-3600 until=$((30 * 86400))
	base=$(ensure_key "$z")
	now=$(date -u +%s)
	if [ "$z" = expired.test ]; then
		from=$((-30 * 86400)) until=-86400
	fi
	ldns-signzone -i "$(date -u -d "@$((now + from))" +%Y%m%d%H%M%S)" \
		-e "$(date -u -d "@$((now + until))" +%Y%m%d%H%M%S)" \
		-f "$ZONEDIR/$z.signed" "$ZONEDIR/$z.zone" "$KEYDIR/$base" || tb_die "ldns-signzone failed for $z"
	cp "$KEYDIR/$base.ds" "$ANCHORS/$z.ds"
	if [ "$z" = bogus.test ]; then
		# Change the TLSA data after signing: its RRSIG no longer matches, so a validating
		# resolver answers SERVFAIL for it (the A record stays valid).
		awk -F'\t' 'BEGIN { OFS = "\t" }
			$4 == "TLSA" { $5 = "3 1 1 " sprintf("%064d", 1) }
			$1 == "badaddr.bogus.test." && $4 == "A" { $5 = "127.0.0.2" }
			{ print }' "$ZONEDIR/$z.signed" >"$ZONEDIR/$z.signed.tmp"
		mv -f "$ZONEDIR/$z.signed.tmp" "$ZONEDIR/$z.signed"
		grep -q $'\tTLSA\t3 1 1 0000' "$ZONEDIR/$z.signed" || tb_die "could not break the TLSA signature of $z"
		grep -q $'^badaddr.bogus.test.\t.*\tA\t127.0.0.2' "$ZONEDIR/$z.signed" || tb_die "could not break the A signature of $z"
	fi
	date -u +%s >"$ZONEDIR/$z.signed-at"
}

# write_zones: writes and signs every zone; returns 0 when one changed.
write_zones() {
	local z changed=1 text at
	for z in "${SIGNED_ZONES[@]}" "${UNSIGNED_ZONES[@]}"; do
		text=$(zone_text "$z") || tb_die "could not make zone $z"
		if write_if_changed "$ZONEDIR/$z.zone" "$text"; then
			changed=0
			rm -f "$ZONEDIR/$z.signed-at"
		fi
	done
	for z in "${SIGNED_ZONES[@]}"; do
		at=$(cat "$ZONEDIR/$z.signed-at" 2>/dev/null || echo 0)
		if [ ! -s "$ZONEDIR/$z.signed" ] || [ $(($(date -u +%s) - at)) -gt $((7 * 86400)) ]; then
			sign_zone "$z"
			changed=0
		fi
		nsd-checkzone "$z" "$ZONEDIR/$z.signed" >/dev/null || tb_die "signed zone $z does not check (nsd-checkzone)"
	done
	for z in "${UNSIGNED_ZONES[@]}"; do
		nsd-checkzone "$z" "$ZONEDIR/$z.zone" >/dev/null || tb_die "zone $z does not check (nsd-checkzone)"
	done
	return "$changed"
}

# ---------------------------------------------------------------- server configurations

nsd_conf() {
	local z
	cat <<EOF
# Generated by testbed/dnssec.sh; edits are overwritten on the next start.
server:
	ip-address: 127.0.0.1@$AUTH_PORT
	port: $AUTH_PORT
	do-ip6: no
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: "$ZONEDIR"
	database: ""
	pidfile: "$NSD_PID"
	logfile: "$DIR/nsd.log"
	xfrdfile: "$DIR/xfrd.state"
	xfrdir: "$DIR/xfr"
	zonelistfile: "$DIR/zone.list"
	hide-version: yes
	verbosity: 1
	refuse-any: yes
remote-control:
	control-enable: no
EOF
	for z in "${SIGNED_ZONES[@]}"; do
		printf 'zone:\n\tname: "%s"\n\tzonefile: "%s.signed"\n' "$z" "$z"
	done
	for z in "${UNSIGNED_ZONES[@]}"; do
		printf 'zone:\n\tname: "%s"\n\tzonefile: "%s.zone"\n' "$z" "$z"
	done
}

unbound_conf() {
	local z
	cat <<EOF
# Generated by testbed/dnssec.sh; edits are overwritten on the next start.
server:
	interface: 127.0.0.1@$PORT
	port: $PORT
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	username: ""
	chroot: ""
	directory: "$DIR"
	pidfile: "$UNBOUND_PID"
	logfile: "$DIR/unbound.log"
	use-syslog: no
	do-daemonize: yes
	num-threads: 1
	so-reuseport: no
	verbosity: 1
	val-log-level: 2
	ede: yes
	hide-identity: yes
	hide-version: yes
	module-config: "validator iterator"
	# The authoritative servers are on loopback, which Unbound refuses to ask by default.
	do-not-query-localhost: no
	# .test is one of Unbound's built-in empty zones (RFC 6761); these are served below.
	local-zone: "test." nodefault
	qname-minimisation: no
	# No root trust anchor: only the test zones' own keys. Names under no anchor are insecure.
EOF
	for z in "${SIGNED_ZONES[@]}"; do
		printf '\ttrust-anchor-file: "%s/%s.ds"\n' "$ANCHORS" "$z"
	done
	printf 'remote-control:\n\tcontrol-enable: no\n'
	for z in "${SIGNED_ZONES[@]}" "${UNSIGNED_ZONES[@]}"; do
		printf 'stub-zone:\n\tname: "%s"\n\tstub-addr: 127.0.0.1@%s\n' "$z" "$AUTH_PORT"
	done
	# testbed/dns.sh's unsigned mail domains, when its NSD runs.
	printf 'stub-zone:\n\tname: "domains.test"\n\tstub-addr: 127.0.0.1@%s\n' "$DOMAINS_DNS_PORT"
}

nginx_conf() {
	local names="" d
	for d in "${POLICY_DOMAINS[@]}"; do names="$names mta-sts.$d.policy.test"; done
	cat <<EOF
# Generated by testbed/dnssec.sh; edits are overwritten on the next start.
daemon on;
worker_processes 1;
pid $NGINX_PID;
error_log $DIR/nginx-error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $DIR/nginx-tmp/body;
	proxy_temp_path $DIR/nginx-tmp/proxy;
	fastcgi_temp_path $DIR/nginx-tmp/fastcgi;
	uwsgi_temp_path $DIR/nginx-tmp/uwsgi;
	scgi_temp_path $DIR/nginx-tmp/scgi;
	types { text/plain txt; }
	default_type application/octet-stream;
	server_tokens off;
	server {
		listen $WEB_ADDR:443 ssl;
		server_name$names;
		ssl_certificate $TLS/mta-sts.chain.pem;
		ssl_certificate_key $TLS/mta-sts.key;
		root $WWW/\$host;
		location = /.well-known/mta-sts.txt { try_files /mta-sts.txt =404; }
		location / { return 404; }
	}
}
EOF
}

# make_web_cert: one certificate from the Postfix test bed's intermediate CA naming every
# mta-sts.<domain>, renewed with that CA or when it has less than 30 days left.
make_web_cert() {
	local san="" d
	for d in "${POLICY_DOMAINS[@]}"; do san="${san:+$san,}DNS:mta-sts.$d.policy.test"; done
	if [ -s "$TLS/mta-sts.pem" ] && [ "$TLS/mta-sts.pem" -nt "$PKI/intermediate.pem" ] &&
		[ "$(cat "$TLS/san" 2>/dev/null)" = "$san" ] &&
		openssl x509 -in "$TLS/mta-sts.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1; then
		return 1
	fi
	tb_log "issuing the MTA-STS policy host certificate"
	[ -s "$TLS/mta-sts.key" ] || (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TLS/mta-sts.key" 2>/dev/null) ||
		tb_die "openssl genpkey failed"
	printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" >"$TLS/ext.cnf"
	openssl req -new -key "$TLS/mta-sts.key" -subj "/O=smtp_exporter testbed/CN=mta-sts.enforce.policy.test" -out "$TLS/req.csr" 2>/dev/null ||
		tb_die "openssl req failed"
	openssl x509 -req -in "$TLS/req.csr" -CA "$PKI/intermediate.pem" -CAkey "$PKI/intermediate.key" -CAcreateserial \
		-CAserial "$TLS/serial" -days 90 -sha256 -extfile "$TLS/ext.cnf" -out "$TLS/mta-sts.pem" 2>/dev/null ||
		tb_die "openssl x509 -req failed"
	cat "$TLS/mta-sts.pem" "$PKI/intermediate.pem" >"$TLS/mta-sts.chain.pem"
	echo "$san" >"$TLS/san"
	rm -f "$TLS/req.csr"
	return 0
}

write_www() {
	local d changed=1
	for d in "${POLICY_DOMAINS[@]}"; do
		mkdir -p "$WWW/mta-sts.$d.policy.test"
		chmod 0755 "$WWW/mta-sts.$d.policy.test"
		# printf keeps the CRLF of the testing policy; write_if_changed would add a newline.
		if [ "$(policy_text "$d" | od -An -tx1)" != "$(od -An -tx1 "$WWW/mta-sts.$d.policy.test/mta-sts.txt" 2>/dev/null)" ]; then
			policy_text "$d" >"$WWW/mta-sts.$d.policy.test/mta-sts.txt"
			chmod 0644 "$WWW/mta-sts.$d.policy.test/mta-sts.txt"
			changed=0
		fi
	done
	return "$changed"
}

# ---------------------------------------------------------------- processes

# running PIDFILE COMM: the process of PIDFILE runs and is COMM (NSD renames its processes
# "nsd: xfrd", "nsd: main").
running() {
	[ -s "$1" ] || return 1
	local pid comm
	pid=$(head -n 1 "$1" | tr -d ' ')
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null)
	[ "$comm" = "$2" ] || [ "${comm%%:*}" = "$2" ]
}

stop_one() {
	local pidfile=$1 comm=$2 i
	running "$pidfile" "$comm" || return 0
	tb_log "stopping $comm ($pidfile)"
	kill "$(head -n 1 "$pidfile" | tr -d ' ')" 2>/dev/null || true
	for i in $(seq 1 100); do
		running "$pidfile" "$comm" || return 0
		sleep 0.1
	done
	tb_die "$comm did not stop (pid file $pidfile)"
}

wait_running() {
	local pidfile=$1 comm=$2 log=$3 i
	for i in $(seq 1 100); do
		running "$pidfile" "$comm" && return 0
		sleep 0.1
	done
	tb_log "$comm is not running; last lines of $log:"
	tail -n 20 "$log" >&2 2>/dev/null || true
	exit 1
}

ensure_packages() {
	tb_ensure_packages "${PACKAGES[@]}"
	# The packages enable their system services (policy-rc.d only kept them from starting now): a
	# machine running the test bed must not start a resolver on port 53 or a web server on port
	# 80 at its next boot.
	local s
	for s in nsd unbound nginx; do
		if [ -e "/etc/systemd/system/multi-user.target.wants/$s.service" ]; then
			systemctl disable "$s.service" >/dev/null 2>&1 ||
				rm -f "/etc/systemd/system/multi-user.target.wants/$s.service"
		fi
	done
}

# lock: fd 8 holds the lock; the daemons are started with it closed, or they would hold it.
lock() {
	mkdir -p "$DIR"
	chmod 0755 "$DIR"
	exec 8>"$DIR/.lock"
	flock -w 600 8 || tb_die "could not lock $DIR/.lock"
}

# check_resolver: the resolver validates as the tests expect (AD on a secure answer, SERVFAIL on
# the bogus one, no AD on the unsigned zone); catches a configuration that would make every DANE
# test fail with a less clear message.
check_resolver() {
	local out i
	for i in $(seq 1 50); do
		out=$(drill -p "$PORT" -D "_10025._tcp.$MAIL" TLSA @127.0.0.1 2>&1) || true
		grep -q 'rcode: NOERROR' <<<"$out" && break
		sleep 0.1
	done
	grep -Eq 'flags:.* ad[ ;]' <<<"$out" || { printf '%s\n' "$out" >&2; tb_die "Unbound did not validate _10025._tcp.$MAIL (no AD); see $DIR/unbound.log"; }
	out=$(drill -p "$PORT" -D _10025._tcp.mail.bogus.test TLSA @127.0.0.1 2>&1) || true
	grep -q 'rcode: SERVFAIL' <<<"$out" || { printf '%s\n' "$out" >&2; tb_die "the bogus zone is not bogus to Unbound"; }
	# Unbound gives the Extended DNS Error (7, Signature Expired) with its first answer only, not
	# with the cached SERVFAIL: what is checked is that CD=1 gets the data the validation refuses.
	out=$(drill -p "$PORT" -D expired.test MX @127.0.0.1 2>&1) || true
	grep -q 'rcode: SERVFAIL' <<<"$out" || { printf '%s\n' "$out" >&2; tb_die "the expired zone is not bogus to Unbound"; }
	out=$(drill -p "$PORT" -D -o CD expired.test MX @127.0.0.1 2>&1) || true
	grep -q 'rcode: NOERROR' <<<"$out" || { printf '%s\n' "$out" >&2; tb_die "Unbound does not answer the expired zone with CD=1"; }
	out=$(drill -p "$PORT" -D _10025._tcp.mail.insecure.test TLSA @127.0.0.1 2>&1) || true
	if ! grep -q 'rcode: NOERROR' <<<"$out" || grep -Eq 'flags:.* ad[ ;]' <<<"$out"; then
		printf '%s\n' "$out" >&2
		tb_die "the unsigned zone is not answered as insecure"
	fi
}

env_text() {
	echo "TESTBED_DNSSEC_DIR=$DIR"
	echo "TESTBED_DNSSEC_RESOLVER=127.0.0.1:$PORT"
	echo "TESTBED_DNSSEC_AUTH=127.0.0.1:$AUTH_PORT"
	echo "TESTBED_DNSSEC_MAIL_HOST=$MAIL"
	echo "TESTBED_DNSSEC_BOGUS_HOST=mail.bogus.test"
	echo "TESTBED_DNSSEC_BOGUS_ADDR_HOST=badaddr.bogus.test"
	echo "TESTBED_DNSSEC_EXPIRED_DOMAIN=expired.test"
	echo "TESTBED_DNSSEC_KNOWN_GOOD=testbed.local"
	echo "TESTBED_DNSSEC_INSECURE_HOST=mail.insecure.test"
	echo "TESTBED_DNSSEC_INSECURE_ADDR_HOST=mailcn.testbed.local"
	echo "TESTBED_DNSSEC_POLICY_ZONE=policy.test"
	echo "TESTBED_DNSSEC_POLICY_ADDR=$WEB_ADDR"
	echo "TESTBED_DNSSEC_POLICY_DEAD_ADDR=$DEAD_ADDR"
	echo "TESTBED_DNSSEC_POLICY_CA_FILE=$PF_DIR/ca.pem"
	echo "TESTBED_DNSSEC_POLICY_MAX_AGE_ENFORCE=$MAX_AGE_ENFORCE"
	local na
	na=$(openssl x509 -in "$TLS/mta-sts.pem" -noout -enddate)
	echo "TESTBED_DNSSEC_POLICY_CERT_NOT_AFTER=$(date -u -d "${na#notAfter=}" +%s)"
	echo "TESTBED_DNSSEC_TLSA_VALID=3 1 1 $(spki_sha256 "$PKI/valid.pem")"
	echo "TESTBED_DNSSEC_TLSA_INTERMEDIATE=2 1 1 $(spki_sha256 "$PKI/intermediate.pem")"
	echo "TESTBED_DNSSEC_TLSA_SELFSIGNED=3 1 1 $(spki_sha256 "$PKI/selfsigned.pem")"
}

write_env() {
	local text
	text=$(env_text) || tb_die "could not read the test bed's certificates"
	printf '%s\n' "$text" >"$ENV_FILE.tmp"
	chmod 0644 "$ENV_FILE.tmp"
	mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_start() {
	local t0=$SECONDS zones=0 nsd=0 unbound=0 nginx=0
	tb_require_root
	TESTBED_DIR=$PF_DIR bash "$HERE/postfix.sh" start
	[ -s "$PKI/selfsigned.pem" ] || tb_die "$PKI/selfsigned.pem is missing: the Postfix test bed is older than this script"
	lock
	ensure_packages
	[ -e "$MARKER" ] || : >"$MARKER"
	mkdir -p "$ZONEDIR" "$KEYDIR" "$ANCHORS" "$WWW" "$TLS" "$DIR/xfr" "$DIR/nginx-tmp"
	chmod 0700 "$KEYDIR" "$TLS"
	chmod 0755 "$ZONEDIR" "$ANCHORS" "$WWW"

	write_zones && zones=1
	write_if_changed "$NSD_CONF" "$(nsd_conf)" && nsd=1
	write_if_changed "$UNBOUND_CONF" "$(unbound_conf)" && unbound=1
	make_web_cert && nginx=1
	write_www || true
	write_if_changed "$NGINX_CONF" "$(nginx_conf)" && nginx=1
	nsd-checkconf "$NSD_CONF" || tb_die "nsd.conf does not check (nsd-checkconf $NSD_CONF)"
	unbound-checkconf "$UNBOUND_CONF" >/dev/null || tb_die "unbound.conf does not check (unbound-checkconf $UNBOUND_CONF)"
	nginx -t -q -c "$NGINX_CONF" -e "$DIR/nginx-error.log" || tb_die "nginx.conf does not check (nginx -t -c $NGINX_CONF)"

	# New signatures or keys: NSD reloads the files, Unbound must drop its cache and anchors.
	if [ "$zones" = 1 ] || [ "$nsd" = 1 ]; then stop_one "$NSD_PID" nsd; fi
	if [ "$zones" = 1 ] || [ "$unbound" = 1 ]; then stop_one "$UNBOUND_PID" unbound; fi
	[ "$nginx" = 1 ] && stop_one "$NGINX_PID" nginx

	if ! running "$NSD_PID" nsd; then
		tb_log "starting NSD on 127.0.0.1:$AUTH_PORT"
		nsd -c "$NSD_CONF" 8>&- || tb_die "nsd failed to start; see $DIR/nsd.log"
		wait_running "$NSD_PID" nsd "$DIR/nsd.log"
	fi
	tb_wait_tcp 127.0.0.1 "$AUTH_PORT" 15 || tb_die "NSD does not accept TCP on 127.0.0.1:$AUTH_PORT"
	if ! running "$UNBOUND_PID" unbound; then
		tb_log "starting Unbound on 127.0.0.1:$PORT"
		: >"$DIR/unbound.log"
		unbound -c "$UNBOUND_CONF" 8>&- || tb_die "unbound failed to start; see $DIR/unbound.log"
		wait_running "$UNBOUND_PID" unbound "$DIR/unbound.log"
	fi
	tb_wait_tcp 127.0.0.1 "$PORT" 15 || tb_die "Unbound does not accept TCP on 127.0.0.1:$PORT"
	if ! running "$NGINX_PID" nginx; then
		tb_log "starting nginx on $WEB_ADDR:443"
		nginx -c "$NGINX_CONF" -e "$DIR/nginx-error.log" 8>&- || tb_die "nginx failed to start; see $DIR/nginx-error.log"
		wait_running "$NGINX_PID" nginx "$DIR/nginx-error.log"
	fi
	tb_wait_tcp "$WEB_ADDR" 443 15 || tb_die "nginx does not accept TCP on $WEB_ADDR:443"
	check_resolver
	write_env
	tb_log "up in $((SECONDS - t0))s; environment in $ENV_FILE"
}

cmd_stop() {
	tb_require_root
	[ -d "$DIR" ] || return 0
	lock
	stop_one "$NGINX_PID" nginx
	stop_one "$UNBOUND_PID" unbound
	stop_one "$NSD_PID" nsd
	tb_log "stopped"
}

cmd_status() {
	local ok=0 p
	for p in "$NSD_PID nsd" "$UNBOUND_PID unbound" "$NGINX_PID nginx"; do
		# shellcheck disable=SC2086 # two words on purpose
		if running $p; then echo "running: ${p#* }"; else echo "not running: ${p#* } ($DIR)"; ok=3; fi
	done
	return "$ok"
}

cmd_env() {
	lock
	write_env
	cat "$ENV_FILE"
}

tb_main "$@"
