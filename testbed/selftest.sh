#!/usr/bin/env bash
# Checks every listener of the Postfix test bed with swaks, openssl s_client and plain SMTP over
# bash's /dev/tcp (loopback only). Starts the test bed first (idempotent) unless --no-start.
# Prints one line per check and "N passed, N failed" at the end; exits 1 when any check failed.
set -uo pipefail

TB_PROG=selftest.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=testbed/lib.sh
. "$HERE/lib.sh"

DIR=${TESTBED_DIR:-/var/tmp/smtp_exporter-testbed}
DIR=${DIR%/}
if [ "${1:-}" != --no-start ]; then
	"$HERE/postfix.sh" start || tb_die "the test bed did not start"
fi
[ -s "$DIR/testbed.env" ] || tb_die "no $DIR/testbed.env: run testbed/postfix.sh start first"
for tool in swaks openssl; do
	command -v "$tool" >/dev/null || tb_die "$tool is not installed (testbed/postfix.sh start installs it)"
done

# testbed.env is KEY=VALUE without quoting; read it without executing anything.
while IFS='=' read -r key value; do
	case "$key" in TESTBED_[A-Z0-9_]*) printf -v "$key" '%s' "$value" ;; esac
done <"$DIR/testbed.env"

H=127.0.0.1
CA=$TESTBED_CA_FILE
USER=$TESTBED_USERNAME
PASS=$(cat "$TESTBED_PASSWORD_FILE")
WRONG=$(cat "$TESTBED_WRONG_PASSWORD_FILE")
LOG_START=$(stat -c %s "$TESTBED_LOG_FILE" 2>/dev/null || echo 0)

PASSED=0
FAILED=0
OUT=""
SEEN=0

pass() {
	PASSED=$((PASSED + 1))
	printf 'ok   %s\n' "$1"
}
failed() {
	FAILED=$((FAILED + 1))
	printf 'FAIL %s\n' "$1"
	[ -n "$OUT" ] && printf '%s\n' "$OUT" | sed 's/^/     | /' | tail -n 25
}
# expect NAME EXTENDED_REGEX: passes when $OUT has a line matching it.
expect() {
	if grep -Eq -- "$2" <<<"$OUT"; then pass "$1"; else failed "$1 (no line matching /$2/)"; fi
}
# expect_not NAME EXTENDED_REGEX: passes when no line of $OUT matches, and $OUT is a real
# conversation (SEEN=1: a greeting was read), so that a dead listener cannot pass it.
expect_not() {
	if [ "$SEEN" != 1 ]; then
		failed "$1 (no conversation to look at)"
	elif grep -Eq -- "$2" <<<"$OUT"; then failed "$1 (a line matches /$2/)"; else pass "$1"; fi
}

# chat HOST PORT [COMMAND...]: a plain SMTP conversation; sets OUT to "S: ..." and "C: ..." lines.
chat() {
	OUT=$(
		host=$1 port=$2
		shift 2
		exec 2>&1
		exec 3<>"/dev/tcp/$host/$port" || exit 0
		reply() {
			local line
			while IFS= read -r -t 10 line <&3; do
				line=${line%$'\r'}
				echo "S: $line"
				[[ $line =~ ^[0-9]{3}\  ]] && return 0
				[[ $line =~ ^[0-9]{3}- ]] || return 1
			done
			echo "S: <no reply: timeout or connection closed>"
			return 1
		}
		reply || exit 0
		for c in "$@"; do
			echo "C: $c"
			printf '%s\r\n' "$c" >&3 || exit 0
			reply || exit 0
		done
		exec 3>&-
	)
	SEEN=0
	grep -Eq '^S: [0-9]{3}[ -]' <<<"$OUT" && SEEN=1
	return 0
}

# certs [s_client args...]: the PEM certificates the server sends (s_client -showcerts); sets OUT.
certs() {
	OUT=$(timeout 20 openssl s_client -showcerts "$@" </dev/null 2>/dev/null | awk '/BEGIN CERT/,/END CERT/')
}
# first_not_after: notAfter (unix seconds) of the first certificate in $OUT, 0 when none.
first_not_after() {
	local d
	d=$(openssl x509 -noout -enddate <<<"$OUT" 2>/dev/null | cut -d= -f2)
	date -u -d "$d" +%s 2>/dev/null || echo 0
}

# tls [s_client args...]: openssl s_client to a listener; sets OUT (stdout+stderr) and RC.
tls() {
	OUT=$(timeout 20 openssl s_client -brief -CAfile "$CA" "$@" </dev/null 2>&1)
	RC=$?
}

# swk [swaks args...]: swaks against the test bed; sets OUT and RC.
swk() {
	OUT=$(timeout 30 swaks --server "$H" --helo selftest.invalid --timeout 10 "$@" 2>&1)
	RC=$?
	SEEN=0
	grep -Eq '^<[~-]  220 ' <<<"$OUT" && SEEN=1
}

# tls_ok NAME [s_client args...]: handshake with verification must succeed.
tls_ok() {
	local name=$1
	shift
	tls -verify_return_error "$@"
	if [ "$RC" = 0 ] && grep -q '^Verification: OK' <<<"$OUT"; then pass "$name"; else failed "$name (exit $RC)"; fi
}
# tls_fails NAME REGEX [s_client args...]: handshake must fail with a message matching REGEX.
tls_fails() {
	local name=$1 re=$2
	shift 2
	tls -verify_return_error "$@"
	if [ "$RC" != 0 ] && grep -Eq -- "$re" <<<"$OUT"; then pass "$name"; else failed "$name (exit $RC, want failure /$re/)"; fi
}

auth_ok() { # NAME PORT MECH [swaks tls args]
	local name=$1 port=$2 mech=$3
	shift 3
	swk --port "$port" "$@" --quit-after AUTH --auth "$mech" --auth-user "$USER" --auth-password "$PASS"
	expect "$name" '^<.  235 '
}
auth_wrong() {
	local name=$1 port=$2 mech=$3
	shift 3
	swk --port "$port" "$@" --quit-after AUTH --auth "$mech" --auth-user "$USER" --auth-password "$WRONG"
	if grep -Eq '^<[~*]\* 535 ' <<<"$OUT" && ! grep -Eq '^<.  235 ' <<<"$OUT"; then
		pass "$name"
	else
		failed "$name (want 535)"
	fi
}

now=$(date +%s)
echo "# test bed $DIR, user $USER"
if "$HERE/postfix.sh" status >/dev/null 2>&1; then pass "test bed is running"; else
	failed "test bed is running ($HERE/postfix.sh status)"
fi

# ---- SMTP (like 25): plain, STARTTLS offered, no AUTH.
P=$TESTBED_PORT_SMTP
chat $H "$P" "EHLO selftest.invalid" QUIT
expect "smtp: 220 greeting" '^S: 220 mail\.testbed\.local ESMTP'
expect "smtp: STARTTLS offered" '^S: 250[- ]STARTTLS$'
expect_not "smtp: no AUTH before TLS" '^S: 250[- ]AUTH'
tls_ok "smtp: STARTTLS handshake verifies (ip 127.0.0.1)" -connect $H:"$P" -starttls smtp -verify_ip 127.0.0.1
expect "smtp: TLS 1.3 by default" '^Protocol version: TLSv1\.3$'
tls_ok "smtp: verifies for mail.testbed.local" -connect $H:"$P" -starttls smtp -servername mail.testbed.local -verify_hostname mail.testbed.local
tls_ok "smtp: verifies for localhost" -connect $H:"$P" -starttls smtp -verify_hostname localhost
tls_ok "smtp: TLS 1.2 also accepted" -connect $H:"$P" -starttls smtp -tls1_2 -verify_ip 127.0.0.1
expect "smtp: TLS 1.2 negotiated when asked" '^Protocol version: TLSv1\.2$'
certs -connect $H:"$P" -starttls smtp
n=$(grep -c 'BEGIN CERTIFICATE' <<<"$OUT")
if [ "$n" = 2 ]; then pass "smtp: serves leaf + intermediate"; else failed "smtp: serves leaf + intermediate (got $n certificates)"; fi
swk --port "$P" --tls --quit-after EHLO
expect "smtp: EHLO after STARTTLS answered" '^<~  250 '
expect_not "smtp: no AUTH after TLS either" '^<~  250[- ]AUTH'
swk --port "$P" --tls --from probe@testbed.local --to someone@example.com --quit-after RCPT
expect "smtp: never relays (RCPT rejected)" '^<~\* 554 5\.7\.1 .*Relay access denied'

# ---- IPv6 on the same port.
if [ "$TESTBED_IPV6" = 1 ]; then
	chat ::1 "$P" "EHLO selftest.invalid" QUIT
	expect "smtp ipv6: 220 greeting on [::1]" '^S: 220 mail\.testbed\.local ESMTP'
	expect "smtp ipv6: STARTTLS offered" '^S: 250[- ]STARTTLS$'
	tls_ok "smtp ipv6: STARTTLS handshake verifies (ip ::1)" -connect "[::1]:$P" -starttls smtp -verify_ip ::1
else
	echo "# IPv6 checks skipped: no ::1 on lo (TESTBED_IPV6=0)"
fi

# ---- SUBMISSION (like 587): STARTTLS required, AUTH only after TLS.
P=$TESTBED_PORT_SUBMISSION
chat $H "$P" "EHLO selftest.invalid" "MAIL FROM:<probe@testbed.local>" QUIT
expect "submission: 220 greeting" '^S: 220 '
expect "submission: STARTTLS offered" '^S: 250[- ]STARTTLS$'
expect_not "submission: no AUTH before TLS" '^S: 250[- ]AUTH'
expect "submission: MAIL before STARTTLS refused (530)" '^S: 530 '
tls_ok "submission: STARTTLS handshake verifies" -connect $H:"$P" -starttls smtp -verify_ip 127.0.0.1
swk --port "$P" --tls --quit-after EHLO
expect "submission: AUTH PLAIN LOGIN after TLS" '^<~  250[- ]AUTH PLAIN LOGIN$'
auth_ok "submission: AUTH PLAIN succeeds" "$P" PLAIN --tls
auth_ok "submission: AUTH LOGIN succeeds" "$P" LOGIN --tls
auth_wrong "submission: AUTH with wrong password fails (535)" "$P" PLAIN --tls
swk --port "$P" --tls --quit-after RCPT --from probe@testbed.local --to someone@example.com \
	--auth PLAIN --auth-user "$USER" --auth-password "$PASS"
expect "submission: never relays, even authenticated" '^<~\* 554 5\.7\.1 .*Relay access denied'

# ---- SMTPS (like 465): implicit TLS, AUTH.
P=$TESTBED_PORT_SMTPS
tls_ok "smtps: implicit TLS handshake verifies" -connect $H:"$P" -verify_ip 127.0.0.1
expect "smtps: TLS 1.3" '^Protocol version: TLSv1\.3$'
swk --port "$P" --tlsc --quit-after EHLO
expect "smtps: 220 greeting inside TLS" '^<~  220 '
expect "smtps: AUTH PLAIN LOGIN" '^<~  250[- ]AUTH PLAIN LOGIN$'
expect_not "smtps: no STARTTLS inside TLS" '^<~  250[- ]STARTTLS$'
auth_ok "smtps: AUTH PLAIN succeeds" "$P" PLAIN --tlsc
auth_wrong "smtps: AUTH with wrong password fails (535)" "$P" LOGIN --tlsc

# ---- ALT2525: STARTTLS, AUTH after TLS.
P=$TESTBED_PORT_ALT2525
chat $H "$P" "EHLO selftest.invalid" QUIT
expect "alt2525: STARTTLS offered" '^S: 250[- ]STARTTLS$'
expect_not "alt2525: no AUTH before TLS" '^S: 250[- ]AUTH'
swk --port "$P" --tls --quit-after EHLO
expect "alt2525: AUTH PLAIN LOGIN after TLS" '^<~  250[- ]AUTH PLAIN LOGIN$'
auth_ok "alt2525: AUTH PLAIN succeeds" "$P" PLAIN --tls
auth_wrong "alt2525: AUTH with wrong password fails (535)" "$P" PLAIN --tls

# ---- EXPIRED certificate.
P=$TESTBED_PORT_EXPIRED
chat $H "$P" "EHLO selftest.invalid" QUIT
expect "expired: STARTTLS offered" '^S: 250[- ]STARTTLS$'
tls_fails "expired: verification fails: certificate has expired" 'certificate has expired' \
	-connect $H:"$P" -starttls smtp -verify_ip 127.0.0.1
certs -connect $H:"$P" -starttls smtp
na=$(first_not_after)
if [ "$na" = "$TESTBED_CERT_EXPIRED_NOT_AFTER" ] && [ "$na" -lt "$now" ]; then
	pass "expired: served notAfter is TESTBED_CERT_EXPIRED_NOT_AFTER, in the past"
else
	failed "expired: served notAfter $na vs env $TESTBED_CERT_EXPIRED_NOT_AFTER (now $now)"
fi

# ---- WRONGHOST certificate.
P=$TESTBED_PORT_WRONGHOST
tls_fails "wronghost: IP 127.0.0.1 mismatch" 'IP address mismatch' -connect $H:"$P" -starttls smtp -verify_ip 127.0.0.1
tls_fails "wronghost: mail.testbed.local mismatch" 'hostname mismatch' \
	-connect $H:"$P" -starttls smtp -verify_hostname mail.testbed.local
tls_ok "wronghost: chain itself valid (verifies for other.invalid)" \
	-connect $H:"$P" -starttls smtp -verify_hostname other.invalid

# ---- NOTLS: no STARTTLS at all.
P=$TESTBED_PORT_NOTLS
chat $H "$P" "EHLO selftest.invalid" STARTTLS QUIT
expect "notls: 220 greeting" '^S: 220 '
expect_not "notls: STARTTLS not offered" '^S: 250[- ]STARTTLS'
expect_not "notls: no AUTH" '^S: 250[- ]AUTH'
expect "notls: STARTTLS command refused (5xx)" '^C: STARTTLS$'
grep -A1 '^C: STARTTLS$' <<<"$OUT" | grep -Eq '^S: 5[0-9][0-9] ' && pass "notls: STARTTLS reply is 5xx" ||
	failed "notls: STARTTLS reply is 5xx"

# ---- TLS12: TLS 1.2 at most.
P=$TESTBED_PORT_TLS12
tls_ok "tls12: handshake verifies" -connect $H:"$P" -starttls smtp -verify_ip 127.0.0.1
expect "tls12: TLS 1.2 negotiated" '^Protocol version: TLSv1\.2$'
tls_fails "tls12: TLS 1.3 only client refused" 'alert protocol version' -connect $H:"$P" -starttls smtp -tls1_3

# ---- AUTHPLAIN: AUTH advertised before TLS.
P=$TESTBED_PORT_AUTHPLAIN
chat $H "$P" "EHLO selftest.invalid" QUIT
expect "authplain: STARTTLS offered" '^S: 250[- ]STARTTLS$'
expect "authplain: AUTH PLAIN LOGIN before TLS" '^S: 250[- ]AUTH PLAIN LOGIN$'
auth_ok "authplain: AUTH PLAIN without TLS succeeds" "$P" PLAIN
auth_wrong "authplain: AUTH without TLS, wrong password fails (535)" "$P" LOGIN

# ---- EXPIRING certificate (about 10 days).
P=$TESTBED_PORT_EXPIRING
tls_ok "expiring: handshake verifies" -connect $H:"$P" -starttls smtp -verify_ip 127.0.0.1
certs -connect $H:"$P" -starttls smtp
na=$(first_not_after)
left=$((na - now))
if [ "$na" = "$TESTBED_CERT_EXPIRING_NOT_AFTER" ] && [ "$left" -gt $((8 * 86400)) ] && [ "$left" -le $((10 * 86400)) ]; then
	pass "expiring: served notAfter is TESTBED_CERT_EXPIRING_NOT_AFTER, $((left / 3600))h away"
else
	failed "expiring: served notAfter $na vs env $TESTBED_CERT_EXPIRING_NOT_AFTER (now $now)"
fi

# ---- valid chain dates.
P=$TESTBED_PORT_SMTP
certs -connect $H:"$P" -starttls smtp
earliest="" cert=""
while IFS= read -r line; do
	cert+="$line"$'\n'
	if [[ $line == *"END CERTIFICATE"* ]]; then
		d=$(openssl x509 -noout -enddate <<<"$cert" | cut -d= -f2)
		t=$(date -u -d "$d" +%s)
		if [ -z "$earliest" ] || [ "$t" -lt "$earliest" ]; then earliest=$t; fi
		cert=""
	fi
done <<<"$OUT"
if [ "$earliest" = "$TESTBED_CHAIN_EARLIEST_NOT_AFTER_VALID" ] && [ "$earliest" -lt "$TESTBED_CERT_VALID_NOT_AFTER" ]; then
	pass "valid: earliest notAfter of the served chain is TESTBED_CHAIN_EARLIEST_NOT_AFTER_VALID (the intermediate's)"
else
	failed "valid: earliest served notAfter ${earliest:-none} vs env $TESTBED_CHAIN_EARLIEST_NOT_AFTER_VALID"
fi

# ---- REJECT: 554 greeting.
P=$TESTBED_PORT_REJECT
chat $H "$P" "EHLO selftest.invalid" QUIT
expect "reject: 554 greeting" '^S: 554 '
expect_not "reject: no 220 greeting" '^S: 220'

# ---- the instance listens on loopback only.
pid=$(head -n 1 "$TESTBED_PID_FILE" | tr -d ' ')
socks=$(ss -ltnpH 2>/dev/null | grep -E "\"master\",pid=$pid," | awk '{print $4}')
bad=$(grep -Ev '^(127\.0\.0\.1|\[::1\]):' <<<"$socks")
if [ -n "$socks" ] && [ -z "$bad" ]; then pass "all listening sockets of master $pid are on loopback"; else
	OUT=$socks
	failed "listening sockets of master $pid not all on loopback"
fi
n=$(wc -l <<<"$socks")
want=$((11 + TESTBED_IPV6))
if [ "$n" = "$want" ]; then pass "master $pid has $want listeners"; else
	OUT=$socks
	failed "master $pid has $n listeners, want $want"
fi

# ---- nothing fatal in the log written meanwhile.
OUT=$(tail -c +"$((LOG_START + 1))" "$TESTBED_LOG_FILE")
SEEN=1
expect_not "postfix log: no fatal or panic" '(fatal|panic):'

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
