#!/usr/bin/env bash
# Real Postfix test bed for smtp_exporter's integration tests.
#
#   testbed/postfix.sh [start|stop|restart|status|env|clean]
#
# start (default): installs Postfix and Cyrus SASL from Debian if missing, creates a test CA and
#   certificates, and starts one Postfix instance of its own under $TESTBED_DIR, bound to loopback
#   high ports only (CONTRIBUTING.md lists the listeners). Idempotent: returns at once when it is up.
# stop: stops only this instance (through its own config directory and pid file).
# status: exit 0 when this instance runs, 3 when it does not.
# env: (re)writes $TESTBED_DIR/testbed.env (KEY=VALUE lines) and prints it.
# clean: stop, then remove $TESTBED_DIR.
#
# It never reads or writes /etc/postfix's configuration, never starts the system Postfix, and never
# delivers or relays mail: every transport is error:, every recipient is rejected.
set -euo pipefail

TB_PROG=postfix.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=testbed/lib.sh
. "$HERE/lib.sh"

DIR=$(tb_state_dir TESTBED_DIR /var/tmp/smtp_exporter-testbed)

ETC=$DIR/etc
QUEUE=$DIR/queue
DATA=$DIR/data
LOG=$DIR/log/postfix.log
PKI=$DIR/pki
# Debian's smtpd reads <name>.conf from $config_directory/sasl whatever cyrus_sasl_config_path
# says (seen with strace on Postfix 3.7 in Debian 12), so the SASL files live there.
SASL=$ETC/sasl
SECRETS=$DIR/secrets
ENV_FILE=$DIR/testbed.env
PID_FILE=$QUEUE/pid/master.pid
MARKER=$DIR/.smtp_exporter-testbed

HOSTNAME_OK=mail.testbed.local
HOSTNAME_WRONG=other.invalid
SASL_REALM=testbed.local
SASL_USER=probe
USERNAME=$SASL_USER@$SASL_REALM

# Listener table: NAME PORT. The options of each are in master_cf below.
LISTENERS=(
	"SMTP 10025"
	"SUBMISSION 10587"
	"SMTPS 10465"
	"ALT2525 12525"
	"EXPIRED 10026"
	"WRONGHOST 10027"
	"NOTLS 10028"
	"TLS12 10029"
	"AUTHPLAIN 10030"
	"EXPIRING 10031"
	"REJECT 10032"
	"ENVELOPE 10040"
	"FQDNHELO 10041"
	"DANESELF 10050"
	"LEGACYTLS 10150"
	"TLS13ONLY 10151"
)
LEAVES=(valid expired wronghost expiring)

PACKAGES=(postfix libsasl2-modules sasl2-bin openssl iproute2 swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl)
# "No configuration": the package installs binaries only, writes no /etc/postfix/main.cf and starts
# no system Postfix, so nothing listens on port 25.
TB_DEBCONF='postfix postfix/main_mailer_type select No configuration'

# ipv6_enabled: 1 when ::1 is configured on lo (and not disabled by TESTBED_IPV6=0), else 0.
ipv6_enabled() {
	if [ "${TESTBED_IPV6:-}" = 0 ]; then echo 0; return; fi
	if awk '$1 == "00000000000000000000000000000001" && $6 == "lo" { f = 1 } END { exit !f }' \
		/proc/net/if_inet6 2>/dev/null; then
		echo 1
	else
		echo 0
	fi
}

log_tail() {
	if [ -s "$LOG" ]; then
		tb_log "last lines of $LOG:"
		tail -n "${1:-40}" "$LOG" >&2
	else
		tb_log "(no Postfix log at $LOG yet)"
	fi
}

fail() {
	tb_log "error: $*"
	log_tail
	exit 1
}

# running: true when this instance's master runs. "master -t" exits non-zero while another master
# holds the lock on this configuration's pid file (what "postfix status" checks, without its
# logging, which takes a second).
running() {
	[ -f "$ETC/main.cf" ] && [ -s "$PID_FILE" ] || return 1
	local pid
	pid=$(head -n 1 "$PID_FILE" | tr -d ' ')
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	! MAIL_CONFIG=$ETC "$(daemon_dir)/master" -t 2>/dev/null
}

daemon_dir() {
	[ -n "${DAEMON_DIR:-}" ] || DAEMON_DIR=$(postconf -d -h daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)
	echo "$DAEMON_DIR"
}

ensure_packages() {
	if ! tb_pkg_installed postfix; then
		# Installing postfix would replace another MTA (exim4, sendmail, ...): refuse on a machine
		# that has one, unless asked to.
		local mta
		mta=$(dpkg-query -W -f='${db:Status-Status} ${Package} ${Provides}\n' 2>/dev/null |
			awk '$1 == "installed" && /mail-transport-agent/ { print $2 }' | head -n 1)
		if [ -n "$mta" ] && [ "${TESTBED_REPLACE_MTA:-}" != 1 ]; then
			tb_die "another MTA ($mta) is installed; installing postfix would replace it. Set TESTBED_REPLACE_MTA=1 to allow that."
		fi
	fi
	TB_DEBCONF=$TB_DEBCONF tb_ensure_packages "${PACKAGES[@]}"
}

# ---------------------------------------------------------------- certificates

# Bump when the PKI layout or dates change, so old certificates are replaced.
PKI_VERSION=3

openssl_cnf() {
	cat <<EOF
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = placeholder

[ root_ca ]
dir = $PKI/ca/root
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = $PKI/root.pem
private_key = $PKI/root.key
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
preserve = yes
copy_extensions = none

[ inter_ca ]
dir = $PKI/ca/inter
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = $PKI/intermediate.pem
private_key = $PKI/intermediate.key
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
preserve = yes
copy_extensions = none

[ policy_any ]
organizationName = optional
organizationalUnitName = optional
commonName = supplied

[ ext_root ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ ext_inter ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = \$ENV::TB_SAN
EOF
}

# asn1time UNIX_SECONDS: the UTCTime form openssl ca's -startdate/-enddate take.
asn1time() { date -u -d "@$1" +%y%m%d%H%M%SZ; }

# not_after FILE: the certificate's notAfter as unix seconds.
not_after() {
	local d
	d=$(openssl x509 -in "$1" -noout -enddate) || return 1
	date -u -d "${d#notAfter=}" +%s
}

ensure_key() {
	[ -s "$1" ] && return 0
	(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null) ||
		tb_die "openssl genpkey failed for $1"
}

# issue CA EXT SUBJECT SAN NOT_BEFORE NOT_AFTER KEY OUT [selfsign]
issue() {
	local ca=$1 ext=$2 subj=$3 san=$4 nb=$5 na=$6 key=$7 out=$8 self=${9:-}
	local csr=$PKI/ca/req.csr
	# openssl.cnf refers to $ENV::TB_SAN, which must be set even where ext_leaf is not used.
	export TB_SAN=${san:-DNS:unused.invalid}
	openssl req -new -config "$PKI/ca/openssl.cnf" -key "$key" -subj "$subj" -out "$csr" 2>"$PKI/ca/err" ||
		{ cat "$PKI/ca/err" >&2; tb_die "openssl req failed for $out"; }
	local args=(-batch -notext -config "$PKI/ca/openssl.cnf" -name "$ca" -extensions "$ext"
		-startdate "$(asn1time "$nb")" -enddate "$(asn1time "$na")" -in "$csr" -out "$out")
	[ -n "$self" ] && args+=(-selfsign -keyfile "$key")
	openssl ca "${args[@]}" 2>"$PKI/ca/err" ||
		{ cat "$PKI/ca/err" >&2; tb_die "openssl ca failed for $out"; }
	rm -f "$csr"
}

pki_fresh() {
	local f
	[ "$(cat "$PKI/.version" 2>/dev/null)" = "$PKI_VERSION" ] || return 1
	for f in root intermediate "${LEAVES[@]}"; do
		[ -s "$PKI/$f.pem" ] || return 1
	done
	for f in "${LEAVES[@]}"; do
		[ -s "$PKI/$f.chain.pem" ] || return 1
	done
	[ -s "$PKI/selfsigned.chain.pem" ] || return 1
	# "expiring" is issued for 10 days; renew everything once it is down to 9, so every date stays
	# within a day of what the tests expect.
	openssl x509 -in "$PKI/expiring.pem" -noout -checkend $((9 * 86400)) >/dev/null 2>&1 || return 1
	# The other certificates must still be (in)valid as intended.
	openssl x509 -in "$PKI/valid.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
	openssl x509 -in "$PKI/expired.pem" -noout -checkend 0 >/dev/null 2>&1 && return 1
	return 0
}

# make_pki: root CA -> intermediate CA -> leaves, with dates relative to now. Keys are kept
# across runs (RSA key generation is the slow part); certificates are re-issued.
make_pki() {
	local now d=86400 o='/O=smtp_exporter testbed'
	local san_ok="DNS:localhost,DNS:$HOSTNAME_OK,IP:127.0.0.1,IP:::1"
	now=$(date +%s)
	tb_log "creating test CA and certificates in $PKI"
	mkdir -p "$PKI"
	chmod 0700 "$PKI"
	rm -rf "$PKI/ca"
	mkdir -p "$PKI/ca/root/newcerts" "$PKI/ca/inter/newcerts"
	: >"$PKI/ca/root/index.txt"
	: >"$PKI/ca/inter/index.txt"
	openssl_cnf >"$PKI/ca/openssl.cnf"
	local k
	for k in root intermediate "${LEAVES[@]}"; do ensure_key "$PKI/$k.key"; done

	# The intermediate expires before the "valid" leaf on purpose: the chain's earliest expiry is
	# then the intermediate's, which a probe that only looks at the leaf gets wrong.
	issue root_ca ext_root "$o/CN=smtp_exporter testbed root CA" "" \
		$((now - 400 * d)) $((now + 3650 * d)) "$PKI/root.key" "$PKI/root.pem" selfsign
	issue root_ca ext_inter "$o/CN=smtp_exporter testbed intermediate CA" "" \
		$((now - 400 * d)) $((now + 500 * d)) "$PKI/intermediate.key" "$PKI/intermediate.pem"
	issue inter_ca ext_leaf "$o/OU=valid/CN=$HOSTNAME_OK" "$san_ok" \
		$((now - d)) $((now + 800 * d)) "$PKI/valid.key" "$PKI/valid.pem"
	issue inter_ca ext_leaf "$o/OU=expired/CN=$HOSTNAME_OK" "$san_ok" \
		$((now - 90 * d)) $((now - 2 * d)) "$PKI/expired.key" "$PKI/expired.pem"
	issue inter_ca ext_leaf "$o/OU=wronghost/CN=$HOSTNAME_WRONG" "DNS:$HOSTNAME_WRONG" \
		$((now - d)) $((now + 365 * d)) "$PKI/wronghost.key" "$PKI/wronghost.pem"
	issue inter_ca ext_leaf "$o/OU=expiring/CN=$HOSTNAME_OK" "$san_ok" \
		$((now - d)) $((now + 10 * d)) "$PKI/expiring.key" "$PKI/expiring.pem"

	# Self-signed, for the DANE listener: no CA vouches for it, only its TLSA record (3 1 1) does
	# (testbed/dnssec.sh publishes it). Its key is kept like the others, so the record stays valid
	# when the certificate is re-issued.
	ensure_key "$PKI/selfsigned.key"
	issue root_ca ext_leaf "$o/OU=selfsigned/CN=$HOSTNAME_OK" "$san_ok" \
		$((now - d)) $((now + 800 * d)) "$PKI/selfsigned.key" "$PKI/selfsigned.pem" selfsign

	# What Postfix serves (smtpd_tls_chain_files): key, leaf, intermediate.
	for k in "${LEAVES[@]}"; do
		(umask 077 && cat "$PKI/$k.key" "$PKI/$k.pem" "$PKI/intermediate.pem" >"$PKI/$k.chain.pem.tmp")
		mv -f "$PKI/$k.chain.pem.tmp" "$PKI/$k.chain.pem"
	done
	(umask 077 && cat "$PKI/selfsigned.key" "$PKI/selfsigned.pem" >"$PKI/selfsigned.chain.pem.tmp")
	mv -f "$PKI/selfsigned.chain.pem.tmp" "$PKI/selfsigned.chain.pem"
	# The CA certificate (not its key) is for clients to read.
	cp "$PKI/root.pem" "$DIR/ca.pem.tmp" && chmod 0644 "$DIR/ca.pem.tmp" && mv -f "$DIR/ca.pem.tmp" "$DIR/ca.pem"
	cat "$PKI/intermediate.pem" "$PKI/root.pem" >"$DIR/ca-chain.pem.tmp" && chmod 0644 "$DIR/ca-chain.pem.tmp" &&
		mv -f "$DIR/ca-chain.pem.tmp" "$DIR/ca-chain.pem"
	echo "$PKI_VERSION" >"$PKI/.version"
}

# ---------------------------------------------------------------- SASL

ensure_secrets() {
	local changed=0
	mkdir -p "$SECRETS"
	chmod 0700 "$SECRETS"
	if [ ! -s "$SECRETS/password" ]; then
		(umask 077 && printf '%s' "$(openssl rand -hex 16)" >"$SECRETS/password")
		changed=1
	fi
	if [ ! -s "$SECRETS/wrong-password" ] || cmp -s "$SECRETS/password" "$SECRETS/wrong-password"; then
		(umask 077 && printf '%s' "wrong-$(openssl rand -hex 12)" >"$SECRETS/wrong-password")
	fi
	chmod 0600 "$SECRETS/password" "$SECRETS/wrong-password"

	mkdir -p "$SASL"
	chown root:postfix "$SASL"
	chmod 0750 "$SASL"
	local conf
	conf=$(
		cat <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $SASL/sasldb2
mech_list: PLAIN LOGIN
EOF
	)
	if [ "$(cat "$SASL/smtpd.conf" 2>/dev/null)" != "$conf" ]; then
		printf '%s\n' "$conf" >"$SASL/smtpd.conf"
		chmod 0644 "$SASL/smtpd.conf"
	fi
	if [ "$changed" = 1 ] || [ ! -s "$SASL/sasldb2" ] || [ "$SECRETS/password" -nt "$SASL/sasldb2" ]; then
		rm -f "$SASL/sasldb2"
		# -p: password from stdin without a prompt; -u: realm, so the user is probe@testbed.local.
		printf '%s\n' "$(cat "$SECRETS/password")" |
			saslpasswd2 -p -c -f "$SASL/sasldb2" -u "$SASL_REALM" "$SASL_USER" ||
			tb_die "saslpasswd2 failed"
		# smtpd runs as postfix when it reads the sasldb.
		chown root:postfix "$SASL/sasldb2"
		chmod 0640 "$SASL/sasldb2"
	fi
}

# ---------------------------------------------------------------- Postfix configuration

main_cf() {
	local protocols=ipv4
	[ "$IPV6" = 1 ] && protocols=all
	cat <<EOF
# Generated by testbed/postfix.sh; edits are overwritten on the next start.
compatibility_level = 3.6
queue_directory = $QUEUE
data_directory = $DATA
mail_owner = postfix
setgid_group = postdrop
maillog_file = $LOG
maillog_file_prefixes = $DIR/log
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C

myhostname = $HOSTNAME_OK
mydomain = testbed.local
myorigin = \$mydomain
inet_interfaces = loopback-only
inet_protocols = $protocols
mynetworks_style = host
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP smtp_exporter testbed
biff = no

# Never deliver, never relay.
mydestination =
relay_domains =
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
default_transport = error:testbed never delivers mail
local_transport = error:testbed never delivers mail
relay_transport = error:testbed never delivers mail
virtual_transport = error:testbed never delivers mail
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject

# TLS: listeners override the certificate and level in master.cf.
smtpd_tls_chain_files = $PKI/valid.chain.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
tls_preempt_cipherlist = no
testbed_tls12_protocols = >=TLSv1, <=TLSv1.2
# The ENVELOPE listener: RCPT accepted for postmaster@testbed.local only, relay denied (554) for any
# other domain, MAIL FROM refused for blocked@testbed.local. smtpd refuses a recipient whose
# transport is error:, so postmaster@testbed.local resolves to discard: (the probe never sends DATA;
# other listeners reject every recipient before this matters).
transport_maps = inline:{ postmaster@testbed.local=discard: }
testbed_envelope_relay = check_recipient_access inline:{ postmaster@testbed.local=OK }, reject_unauth_destination
testbed_envelope_senders = check_sender_access inline:{ blocked@testbed.local=REJECT }
testbed_tls13_protocols = >=TLSv1.3
# Debian 12's OpenSSL 3 refuses TLS 1.0 and 1.1 above security level 0.
testbed_legacy_cipherlist = ALL:@SECLEVEL=0

# SASL through Cyrus sasldb, configured in $SASL/smtpd.conf; enabled per listener.
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASL
smtpd_sasl_auth_enable = no
smtpd_tls_auth_only = yes
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
EOF
}

master_cf() {
	local srv="inet  n       -       n       -       -       smtpd"
	cat <<EOF
# Generated by testbed/postfix.sh; edits are overwritten on the next start.
# service type  private unpriv  chroot  wakeup  maxproc command + args
# Like port 25: STARTTLS offered, no AUTH.
127.0.0.1:10025 $srv
  -o syslog_name=testbed/smtp
EOF
	if [ "$IPV6" = 1 ]; then
		cat <<EOF
[::1]:10025 $srv
  -o syslog_name=testbed/smtp6
EOF
	fi
	cat <<EOF
# Like 587: STARTTLS required, AUTH only after TLS.
127.0.0.1:10587 $srv
  -o syslog_name=testbed/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
# Like 465: implicit TLS, AUTH.
127.0.0.1:10465 $srv
  -o syslog_name=testbed/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
# Like 2525: STARTTLS offered, AUTH only after TLS.
127.0.0.1:12525 $srv
  -o syslog_name=testbed/alt2525
  -o smtpd_sasl_auth_enable=yes
# STARTTLS with an expired certificate.
127.0.0.1:10026 $srv
  -o syslog_name=testbed/expired
  -o smtpd_tls_chain_files=$PKI/expired.chain.pem
# STARTTLS with a certificate for another host name.
127.0.0.1:10027 $srv
  -o syslog_name=testbed/wronghost
  -o smtpd_tls_chain_files=$PKI/wronghost.chain.pem
# No STARTTLS at all.
127.0.0.1:10028 $srv
  -o syslog_name=testbed/notls
  -o smtpd_tls_security_level=none
# STARTTLS, TLS 1.2 at most.
127.0.0.1:10029 $srv
  -o syslog_name=testbed/tls12
  -o smtpd_tls_protocols=\$testbed_tls12_protocols
  -o smtpd_tls_mandatory_protocols=\$testbed_tls12_protocols
# AUTH advertised before TLS (credentials could go in clear).
127.0.0.1:10030 $srv
  -o syslog_name=testbed/authplain
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=no
# STARTTLS with a certificate that expires in about 10 days.
127.0.0.1:10031 $srv
  -o syslog_name=testbed/expiring
  -o smtpd_tls_chain_files=$PKI/expiring.chain.pem
# STARTTLS, TLS 1.2 at most, and still TLS 1.0 and 1.1 and weak ciphers (tls_posture).
127.0.0.1:10150 $srv
  -o syslog_name=testbed/legacytls
  -o smtpd_tls_protocols=\$testbed_tls12_protocols
  -o smtpd_tls_mandatory_protocols=\$testbed_tls12_protocols
  -o tls_medium_cipherlist=\$testbed_legacy_cipherlist
  -o tls_high_cipherlist=\$testbed_legacy_cipherlist
# STARTTLS, TLS 1.3 only.
127.0.0.1:10151 $srv
  -o syslog_name=testbed/tls13only
  -o smtpd_tls_protocols=\$testbed_tls13_protocols
  -o smtpd_tls_mandatory_protocols=\$testbed_tls13_protocols
# 554 greeting to every client.
127.0.0.1:10032 $srv
  -o syslog_name=testbed/reject
  -o smtpd_delay_reject=no
  -o smtpd_client_restrictions=reject
# Envelope checks: postmaster accepted, other domains relay-denied, one sender refused.
127.0.0.1:10040 $srv
  -o syslog_name=testbed/envelope
  -o smtpd_delay_reject=no
  -o smtpd_sender_restrictions=\$testbed_envelope_senders
  -o smtpd_relay_restrictions=\$testbed_envelope_relay
  -o smtpd_recipient_restrictions=permit
# EHLO names must be fully qualified (or address literals), refused at EHLO itself.
127.0.0.1:10041 $srv
  -o syslog_name=testbed/fqdnhelo
  -o smtpd_delay_reject=no
  -o smtpd_helo_required=yes
  -o smtpd_helo_restrictions=reject_non_fqdn_helo_hostname
# STARTTLS with a self-signed certificate that only its DANE-EE (3 1 1) record vouches for.
127.0.0.1:10050 $srv
  -o syslog_name=testbed/daneself
  -o smtpd_tls_chain_files=$PKI/selfsigned.chain.pem

# Internal services; nothing that delivers mail (smtp, local, virtual, pipe) is defined.
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
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

# ---------------------------------------------------------------- env file

# cert_dates: KEY=VALUE lines with the certificates' notAfter dates, cached in $PKI/dates.env
# (reading them takes an openssl call per certificate).
cert_dates() {
	local cache=$PKI/dates.env f
	if [ -s "$cache" ]; then
		local stale=0
		for f in root intermediate "${LEAVES[@]}"; do
			[ "$PKI/$f.pem" -nt "$cache" ] && stale=1
		done
		if [ "$stale" = 0 ]; then
			cat "$cache"
			return
		fi
	fi
	local root inter leaf upper chain l text
	root=$(not_after "$PKI/root.pem") || return 1
	inter=$(not_after "$PKI/intermediate.pem") || return 1
	text="TESTBED_CERT_ROOT_NOT_AFTER=$root
TESTBED_CERT_INTERMEDIATE_NOT_AFTER=$inter"
	for l in "${LEAVES[@]}"; do
		upper=$(tr '[:lower:]' '[:upper:]' <<<"$l")
		leaf=$(not_after "$PKI/$l.pem") || return 1
		chain=$leaf
		[ "$inter" -lt "$chain" ] && chain=$inter
		[ "$root" -lt "$chain" ] && chain=$root
		text="$text
TESTBED_CERT_${upper}_NOT_AFTER=$leaf
TESTBED_CHAIN_EARLIEST_NOT_AFTER_${upper}=$chain"
	done
	printf '%s\n' "$text" >"$cache.tmp" && mv -f "$cache.tmp" "$cache"
	printf '%s\n' "$text"
}

env_text() {
	local l name port
	echo "TESTBED_DIR=$DIR"
	echo "TESTBED_HOST=127.0.0.1"
	echo "TESTBED_HOST6=::1"
	echo "TESTBED_IPV6=$(ipv6_enabled)"
	echo "TESTBED_SERVER_NAME=$HOSTNAME_OK"
	echo "TESTBED_WRONG_SERVER_NAME=$HOSTNAME_WRONG"
	echo "TESTBED_CA_FILE=$DIR/ca.pem"
	echo "TESTBED_CA_CHAIN_FILE=$DIR/ca-chain.pem"
	echo "TESTBED_USERNAME=$USERNAME"
	echo "TESTBED_PASSWORD_FILE=$SECRETS/password"
	echo "TESTBED_WRONG_PASSWORD_FILE=$SECRETS/wrong-password"
	echo "TESTBED_AUTH_MECHANISMS=PLAIN,LOGIN"
	echo "TESTBED_LOG_FILE=$LOG"
	echo "TESTBED_PID_FILE=$PID_FILE"
	echo "TESTBED_CONFIG_DIR=$ETC"
	for l in "${LISTENERS[@]}"; do
		read -r name port <<<"$l"
		echo "TESTBED_PORT_$name=$port"
	done
	cert_dates
}

write_env() {
	[ -s "$PKI/root.pem" ] || tb_die "no test bed in $DIR yet: run '$0 start' first"
	local text
	text=$(env_text) || tb_die "could not read certificate dates in $PKI"
	printf '%s\n' "$text" >"$ENV_FILE.tmp"
	chmod 0644 "$ENV_FILE.tmp"
	mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- commands

wait_ready() {
	local l name port
	for l in "${LISTENERS[@]}"; do
		read -r name port <<<"$l"
		tb_wait_tcp 127.0.0.1 "$port" 15 || fail "listener $name (127.0.0.1:$port) does not accept connections"
	done
	if [ "$IPV6" = 1 ]; then
		tb_wait_tcp ::1 10025 15 || fail "listener SMTP on [::1]:10025 does not accept connections"
	fi
}

stop_instance() {
	running || return 0
	tb_log "stopping Postfix instance $ETC"
	postfix -c "$ETC" stop >/dev/null 2>&1 || true
	local i
	for i in $(seq 1 100); do
		running || return 0
		sleep 0.1
	done
	tb_log "Postfix did not stop; aborting it"
	postfix -c "$ETC" abort >/dev/null 2>&1 || true
	sleep 1
	running && fail "could not stop the Postfix instance in $ETC"
	return 0
}

lock() {
	mkdir -p "$DIR"
	chmod 0755 "$DIR"
	exec 9>"$DIR/.lock"
	flock -w 600 9 || tb_die "could not lock $DIR/.lock"
}

cmd_start() {
	local t0=$SECONDS
	tb_require_root
	lock
	ensure_packages
	command -v postfix >/dev/null || tb_die "postfix is not installed"
	[ -e "$MARKER" ] || : >"$MARKER"
	mkdir -p "$ETC" "$QUEUE" "$DIR/log"
	chmod 0755 "$ETC" "$QUEUE" "$DIR/log"

	IPV6=$(ipv6_enabled)
	local restart=0 reload=0
	if ! pki_fresh; then
		make_pki
		reload=1
	fi
	ensure_secrets
	write_if_changed "$ETC/main.cf" "$(main_cf)" && restart=1
	write_if_changed "$ETC/master.cf" "$(master_cf)" && restart=1

	if running; then
		if [ "$restart" = 1 ]; then
			tb_log "configuration changed; restarting"
			stop_instance
		elif [ "$reload" = 1 ]; then
			tb_log "certificates renewed; reloading"
			postfix -c "$ETC" reload >/dev/null 2>&1 || fail "postfix reload failed"
		fi
	fi
	if ! running; then
		tb_log "starting Postfix (config_directory $ETC)"
		local out
		if ! out=$(postfix -c "$ETC" start 2>&1); then
			printf '%s\n' "$out" >&2
			fail "postfix start failed"
		fi
		running || fail "postfix start returned but the instance is not running"
	fi
	wait_ready
	write_env
	tb_log "up in $((SECONDS - t0))s; environment in $ENV_FILE"
}

cmd_stop() {
	tb_require_root
	[ -d "$DIR" ] || return 0
	lock
	if ! running; then
		tb_log "not running"
		return 0
	fi
	stop_instance
	tb_log "stopped"
}

cmd_status() {
	if [ -f "$ETC/main.cf" ] && running; then
		echo "running: pid $(head -n 1 "$PID_FILE" | tr -d ' '), config_directory $ETC"
		return 0
	fi
	echo "not running ($DIR)"
	return 3
}

cmd_env() {
	lock
	write_env
	cat "$ENV_FILE"
}

tb_main "$@"
