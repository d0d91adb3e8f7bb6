// Package reasons says what each failure reason means to people, in one
// table per kind of reason: the words of the text report, the history and
// the verdict line (report, history), the short words and colour of the
// dashboards (internal/dashgen), the hint of what to check next, and when a
// reason can happen or only warns. docs/metrics.md prints the same table
// (go generate ./docs). The reasons themselves, the label values of
// probe_smtp_failure, probe_smtp_warning and probe_smtp_domain_failure, are
// the prober's; a reason the prober adds needs a row here, which the tests
// ask for.
package reasons

import (
	"strconv"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// Color is how a dashboard paints a reason.
type Color string

// The colours of reasons on the dashboards.
const (
	// Red: mail does not get through, or the port is down.
	Red Color = "red"
	// Orange: the port works, but something a client relies on is wrong
	// (AUTH, outdated TLS), or some MX addresses of a domain fail.
	Orange Color = "orange"
	// Purple: not probed at all.
	Purple Color = "purple"
)

// Meaning is one reason for people.
type Meaning struct {
	// Words say the reason in a sentence for someone who has not read the
	// metric names.
	Words string
	// Short says it in a few words, for a dashboard cell.
	Short string
	// Color paints a failure with this reason on the dashboards; a warning
	// is always orange.
	Color Color
	// Hint says what to check next; Explain adds what depends on the port.
	Hint string
	// Only names the module settings without which the reason never
	// happens (empty: any module).
	Only string
	// Warns says when the reason is a warning (the probe succeeds) instead
	// of a failure, completing "a warning …" (empty: never).
	Warns string
}

// certificateWarns is when a certificate problem only warns.
const certificateWarns = "with `fail_if_certificate_invalid: false` (the default of `tls: opportunistic` without `auth`) or `insecure_skip_verify: true`, or when DANE applies (usable DNSSEC-secure TLSA records: DANE decides)"

// probe holds the reasons of one SMTP conversation: probe_smtp_failure and
// probe_smtp_warning, and the pairs of a domain probe.
var probe = map[prober.Reason]Meaning{
	prober.ReasonResolve: {
		Words: "the host name does not resolve",
		Short: "DNS: name does not resolve",
		Color: Red,
		Hint:  "check the spelling and the DNS records (A/AAAA; a domain's mail servers are in its MX records)",
	},
	prober.ReasonConnectRefused: {
		Words: "connection refused: nothing listens on this port, or a firewall rejects it",
		Short: "refused: nothing listens",
		Color: Red,
		Hint:  "check that the mail server runs and listens on this address and port (ss -ltn), and the firewall's REJECT rules",
	},
	prober.ReasonConnectTimeout: {
		Words: "connection timed out: the port is filtered (blocked) by a firewall or the ISP",
		Short: "blocked: filtered",
		Color: Red,
		Hint:  "check the firewalls between this machine and the server (nft list ruleset on both ends, cloud security groups)",
	},
	prober.ReasonConnectUnreachable: {
		Words: "host or network unreachable: no route, or a router or firewall answers with an ICMP prohibition (blocked on the way)",
		Short: "blocked: unreachable",
		Color: Red,
		Hint:  "the error says which (no route to host, network unreachable, administratively prohibited); check the routes from this machine (ip route get ADDRESS), the firewalls on the way and, for IPv6, that this machine has IPv6 connectivity",
	},
	prober.ReasonConnectionClosed: {
		Words: "the server closed the connection before the conversation finished",
		Short: "closed by server",
		Color: Red,
		Hint:  "the last server lines in the transcript often say why; then check the server's log (rate limits, blocklists, TLS policy)",
	},
	prober.ReasonConnectionReset: {
		Words: "the connection was reset by the server or a middlebox",
		Short: "reset",
		Color: Red,
		Hint:  "a firewall or intrusion prevention system may reset SMTP sessions; check the server's log for this client",
	},
	prober.ReasonBannerTimeout: {
		Words: "connected, but the server sent no greeting in time",
		Short: "no greeting",
		Color: Red,
		Hint:  "the server may be overloaded or tarpitting this client (postscreen, a greet pause), or a middlebox holds the session",
	},
	prober.ReasonBannerRejected: {
		Words: "the server greeted with an error: it refuses this client",
		Short: "greeting rejected (4xx/5xx)",
		Color: Red,
		Hint:  "read the greeting in the transcript: usually a blocklist, a policy or overload (421); check the server's log and whether this address is listed",
	},
	prober.ReasonProtocolError: {
		Words: "the other side does not speak SMTP as expected (garbage, overlong or malformed replies)",
		Short: "not SMTP",
		Color: Red,
		Hint:  "check that this port runs an SMTP server and not another service",
	},
	prober.ReasonEHLORejected: {
		Words: "the server rejected EHLO",
		Short: "EHLO rejected",
		Color: Red,
		Hint:  "check the module's ehlo_hostname: some servers reject names that do not resolve or are not fully qualified",
	},
	prober.ReasonStartTLSNotAdvertised: {
		Words: "the server does not offer STARTTLS: mail to it travels in clear text",
		Short: "no STARTTLS",
		Color: Red,
		Hint:  "enable TLS on the server (Postfix: smtpd_tls_security_level = may); if it is enabled, a middlebox may strip STARTTLS from the EHLO reply",
		Only:  "`tls: starttls` or `opportunistic`, or `auth` on a session that is not encrypted",
		Warns: "with `tls: opportunistic`: mail goes in clear text, and senders that require TLS (DANE, MTA-STS, REQUIRETLS) do not deliver",
	},
	prober.ReasonStartTLSStripped: {
		Words: "a middlebox strips STARTTLS: the EHLO reply has XXXXXXXA (or the like) where STARTTLS belongs, so the session stays in clear text",
		Short: "STARTTLS stripped by a firewall",
		Color: Red,
		Hint: "the firewall's doing, not the mail server's: an SMTP inspection between this host and the server (Cisco ASA/FTD inspect esmtp, on by default, also masks the greeting with asterisks) rewrites the session; " +
			"ask the firewall team to turn ESMTP inspection off for this traffic (ASA: policy-map global_policy, class inspection_default, no inspect esmtp) or to let STARTTLS through, then probe again",
		Only:  "a module that uses STARTTLS",
		Warns: "with `tls: opportunistic`: the session goes on in clear text",
	},
	prober.ReasonStartTLSRejected: {
		Words: "the server refused STARTTLS",
		Short: "STARTTLS rejected",
		Color: Red,
		Hint:  "a 454 reply usually means the server's own TLS setup is broken (certificate or key files); check its log",
		Only:  "`tls: starttls` or `opportunistic`",
		Warns: "with `tls: opportunistic`: the session goes on in clear text",
	},
	prober.ReasonTLSHandshakeFailed: {
		Words: "the TLS handshake failed",
		Short: "TLS handshake failed",
		Color: Red,
		Hint:  "compare the TLS versions and ciphers both sides allow (tls_config min_version) and check the server's certificate and key (openssl s_client shows the server's side)",
		Only:  "a module with TLS (`tls` other than `none`)",
		Warns: "with `tls: opportunistic`: the probe reconnects and finishes in clear text, as Postfix, Exim and Sendmail do",
	},
	prober.ReasonCertExpired: {
		Words: "the certificate has expired or is not valid yet",
		Short: "certificate expired",
		Color: Red,
		Hint:  "renew the certificate and reload the mail server; also check the clocks of both machines",
		Only:  "a module with TLS (`tls` other than `none`)",
		Warns: certificateWarns,
	},
	prober.ReasonCertUntrusted: {
		Words: "the certificate chain does not lead to a trusted root",
		Short: "certificate untrusted",
		Color: Red,
		Hint:  "the server may not send its intermediate certificates, or it uses a private CA: set tls_config.ca_file in the module",
		Only:  "a module with TLS (`tls` other than `none`)",
		Warns: certificateWarns,
	},
	prober.ReasonCertHostnameMismatch: {
		Words: "the certificate is not issued for this host name",
		Short: "certificate for another host",
		Color: Red,
		Hint:  "probe the name the certificate is issued for (its SANs are listed under TLS), or set tls_config.server_name",
		Only:  "a module with TLS (`tls` other than `none`)",
		Warns: certificateWarns,
	},
	prober.ReasonAuthNotAdvertised: {
		Words: "the server does not offer AUTH on this session",
		Short: "no AUTH offered",
		Color: Orange,
		Hint:  "a submission server should offer AUTH after STARTTLS; check its SASL setup (Postfix: smtpd_sasl_auth_enable = yes)",
		Only:  "`fail_if_no_auth` or `auth`",
	},
	prober.ReasonAuthBeforeTLS: {
		Words: "the server offers AUTH before TLS, so clients may send passwords in clear text",
		Short: "AUTH before TLS",
		Color: Orange,
		Hint:  "offer AUTH only on encrypted sessions (Postfix: smtpd_tls_auth_only = yes)",
		Warns: "without `fail_if_auth_before_tls`",
	},
	prober.ReasonAuthFailed: {
		Words: "the server did not accept the module's credentials",
		Short: "AUTH failed",
		Color: Orange,
		Hint:  "check the username and password file of the module, and the server's reply in the transcript",
		Only:  "`auth`",
	},
	prober.ReasonTimeout: {
		Words: "the probe ran out of time in the middle of the conversation",
		Short: "timeout",
		Color: Red,
		Hint:  "the transcript shows the last step that got an answer; the server is slow or a middlebox stalls the session; a longer timeout may help",
	},
	prober.ReasonMailRejected: {
		Words: "the server refused the module's MAIL FROM",
		Short: "MAIL FROM refused",
		Color: Red,
		Hint:  "read the reply in the transcript: a 452 or 421 is a full disk or overload, a 5xx a sender policy (SPF, sender restrictions); choose a mail_from the server accepts",
		Only:  "`envelope`",
	},
	prober.ReasonRcptRejected: {
		Words: "the server refused a recipient it should accept",
		Short: "recipient refused",
		Color: Red,
		Hint:  "read the reply in the transcript: 452 is a full queue or disk, 550 an unknown user or a domain no longer accepted (Postfix: mydestination, relay_domains, virtual_mailbox_domains)",
		Only:  "`envelope` with `expect: accept`",
	},
	prober.ReasonRelayAccepted: {
		Words: "the server accepted a recipient it must not relay for: an open relay",
		Short: "OPEN RELAY",
		Color: Red,
		Hint:  "restrict relaying at once (Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination) and check mynetworks",
		Only:  "`envelope` with `expect: reject`",
	},
	prober.ReasonBannerMismatch: {
		Words: "the greeting does not match the module's fail_if_banner_not_matches",
		Short: "unexpected greeting",
		Color: Red,
		Hint:  "the greeting is in the transcript: another server (or a middlebox, or a load balancer's other backend) may answer on this address",
		Only:  "`fail_if_banner_not_matches`",
	},
	prober.ReasonDANEFailed: {
		Words: "the server's certificate matches none of its DNSSEC-signed TLSA records: DANE-validating senders defer mail to it",
		Short: "DANE: no TLSA record matches",
		Color: Red,
		Hint:  "the certificate or key changed without the TLSA record: publish a record for the new key next to the old one (3 1 1), or go back to the old key; the DANE section lists what each record matched",
		Only:  "`dane: check` or `required`",
	},
	prober.ReasonDANEBogus: {
		Words: "the TLSA records fail DNSSEC validation (or their lookup failed): DANE-validating senders defer mail",
		Short: "DANE: TLSA lookup not validated",
		Color: Red,
		Hint:  "check the zone's signatures and DS records (dig +dnssec, delv, https://dnsviz.net); expired RRSIGs are the usual cause",
		Only:  "`dane: check` or `required`",
	},
	prober.ReasonDANEMissing: {
		Words: "the module requires DANE, but the host has no usable DNSSEC-secure TLSA records",
		Short: "DANE required, no TLSA records",
		Color: Red,
		Hint:  "publish a 3 1 1 (or 2 1 1) TLSA record at _PORT._tcp.HOST in a signed zone, and make sure the module's dns.server validates DNSSEC",
		Only:  "`dane: required`",
	},
	prober.ReasonLegacyTLSAccepted: {
		Words: "the server still accepts TLS 1.0 or 1.1 from a client that offers nothing newer",
		Short: "accepts TLS 1.0/1.1",
		Color: Orange,
		Hint:  "turn the old protocols off (Postfix: smtpd_tls_protocols = >=TLSv1.2; see docs/runbooks.md) and confirm with openssl s_client -tls1",
		Only:  "`tls_posture`",
		Warns: "without `fail_if_legacy_tls_accepted`",
	},
	maildomain.ReasonPairDNSSECBogus: {
		Words: "not probed: the MX host's address records fail DNSSEC validation, so validating senders skip it",
		Short: "MX host's addresses DNSSEC bogus",
		Color: Red,
		Hint:  "check the signatures of the MX host's zone (dig +dnssec A <host>; with +cd it answers; https://dnsviz.net)",
		Only:  "a pair of a domain probe whose MX host got no address",
	},
	maildomain.ReasonPairNXDomain: {
		Words: "not probed: the MX host does not exist (NXDOMAIN)",
		Short: "MX host does not exist",
		Color: Red,
		Hint:  "point the MX record at a host that exists, or give the host its A/AAAA records",
		Only:  "a pair of a domain probe whose MX host got no address",
	},
	maildomain.ReasonPairResolverFailed: {
		Words: "not probed: the exporter's own DNS server failed the MX host's lookup, and a known-good name too",
		Short: "not probed: the exporter's DNS server fails",
		Color: Purple,
		Hint:  "fix the exporter's resolver (the module's dns.server); the MX host may be fine",
		Only:  "a pair of a domain probe whose MX host got no address",
	},
	maildomain.ReasonTargetNotAllowed: {
		Words: "not probed: the exporter's allowed_targets refuses this address",
		Short: "not probed: allowed_targets refuses it",
		Color: Purple,
		Hint:  "an MX record points into a network the exporter must not probe; fix the MX record, or allow the address in allowed_targets",
		Only:  "a pair of a domain probe (a refused single target is an HTTP 403, not a probe)",
	},
}

// domain holds the reasons of a mail domain: probe_smtp_domain_failure.
var domain = map[maildomain.Reason]Meaning{
	maildomain.ReasonResolve: {
		Words: "the domain's MX records could not be looked up, while the exporter's DNS server answers its known-good name: the domain's name servers fail",
		Short: "MX lookup failed",
		Color: Red,
		Hint:  "ask the domain's name servers directly (dig +trace MX <domain>; dig SOA <domain> @<each NS>): SERVFAIL, timeouts or refusals there, or a lame delegation",
	},
	maildomain.ReasonDNSSECBogus: {
		Words: "the domain's DNS answers fail DNSSEC validation: validating senders (most large providers) cannot deliver, they queue the mail and bounce it after days",
		Short: "DNSSEC bogus: validating senders cannot deliver",
		Color: Red,
		Hint:  "check the zone's signatures and DS records (dig +dnssec MX <domain>; with +cd it answers; delv MX <domain>; https://dnsviz.net); expired RRSIGs from a signer that stopped are the usual cause",
	},
	maildomain.ReasonNXDomain: {
		Words: "the domain does not exist (NXDOMAIN): senders bounce its mail at once",
		Short: "the domain does not exist (NXDOMAIN)",
		Color: Red,
		Hint:  "check the spelling, the registration (whois: expired?) and the delegation at the parent zone (dig +trace NS <domain>)",
	},
	maildomain.ReasonResolverFailed: {
		Words: "the exporter's own DNS server fails, a known-good name too: the domain is not being watched, and may be fine",
		Short: "the exporter's DNS server fails",
		Color: Purple,
		Hint:  "fix the exporter's resolver (dns.server of the module, or /etc/resolv.conf): dig SOA <known_good_name> @<server>; on a network without the internet set dns.known_good_name to one of your zones",
	},
	maildomain.ReasonMTASTSNotEnforced: {
		Words: "the module requires MTA-STS in enforce mode, and the domain has no _mta-sts record or a policy in testing or none mode: MTA-STS protects none of its mail",
		Short: "MTA-STS enforce required, not published",
		Color: Orange,
		Hint:  "publish the _mta-sts TXT record and a policy with mode: enforce at https://mta-sts.<domain>/.well-known/mta-sts.txt (and a new id in the record)",
		Only:  "`mta_sts: enforce`",
	},
	maildomain.ReasonNullMXMissing: {
		Words: "the module expects a null MX (a domain that sends mail only), and the domain does not publish exactly that",
		Short: "null MX expected, not published",
		Color: Orange,
		Hint:  "publish \"<domain>. MX 0 .\" as its only MX record (RFC 7505), or probe the domain with a module that expects it to receive mail",
		Only:  "`mx.expect_null_mx`",
	},
	maildomain.ReasonNullMX: {
		Words: "the domain publishes a null MX (RFC 7505): it accepts no mail",
		Short: "null MX: accepts no mail",
		Color: Red,
		Hint:  "if the domain should receive mail, replace the \"MX 0 .\" record with the mail hosts; if it sends mail only, probe it with mx.expect_null_mx",
		Only:  "a module without `mx.expect_null_mx`",
	},
	maildomain.ReasonNoAddress: {
		Words: "no MX host has an address: mail cannot be delivered",
		Short: "no MX host has an address",
		Color: Red,
		Hint:  "give the MX hosts A/AAAA records, or point the MX records at hosts that have them",
	},
	maildomain.ReasonAddressFailed: {
		Words: "some MX addresses fail",
		Short: "MX addresses failing",
		Color: Orange,
		Hint:  "the table shows which (MX host, address) pairs fail and why; senders retry other addresses, but a dead one delays mail",
		Only:  "beyond what `mx.success` allows",
	},
	maildomain.ReasonMTASTSInvalid: {
		Words: "the domain publishes an MTA-STS record, but no usable policy",
		Short: "MTA-STS record without a usable policy",
		Color: Orange,
		Hint:  "check the policy by hand (curl -sv https://mta-sts.<domain>/.well-known/mta-sts.txt): HTTP 200, text/plain, a certificate valid for mta-sts.<domain>, no redirect; senders keep their cached policy until max_age runs out",
		Only:  "`mta_sts: true`",
		Warns: "of the domain when it already failed for another reason",
	},
	maildomain.ReasonMTASTSViolation: {
		Words: "the MTA-STS policy is in enforce mode, and an MX host or its certificate does not comply: MTA-STS senders do not deliver to it",
		Short: "MTA-STS enforce: an MX does not comply",
		Color: Red,
		Hint:  "add the MX host to the policy's mx lines (and change the record's id), or give the MX a certificate valid for its name with TLS 1.2 or later",
		Only:  "`mta_sts: true`",
		Warns: "of the domain with a policy in testing mode (\"would refuse\"), or when the domain already failed for another reason",
	},
}

// Of returns what a reason of one SMTP conversation means. An unknown
// reason is its own words.
func Of(r prober.Reason) Meaning {
	if m, ok := probe[r]; ok {
		return m
	}
	return Meaning{Words: string(r), Short: string(r), Color: Red}
}

// OfDomain returns what a domain failure reason means. An unknown reason
// is its own words.
func OfDomain(r maildomain.Reason) Meaning {
	if m, ok := domain[r]; ok {
		return m
	}
	return Meaning{Words: string(r), Short: string(r), Color: Red}
}

// Explain returns a reason in words and a hint of what to check next. port
// is the target's port, which some hints depend on.
func Explain(r prober.Reason, port int) (words, hint string) {
	m := Of(r)
	switch r {
	case prober.ReasonConnectTimeout:
		return m.Words, connectTimeoutHint(port, m.Hint)
	case prober.ReasonBannerTimeout, prober.ReasonProtocolError:
		if port == 465 {
			// The classic mistake: a clear-text module on the implicit TLS port.
			return m.Words, m.Hint + "; port 465 speaks TLS from the first byte: use a module with tls: implicit (smtps)"
		}
	case prober.ReasonTLSHandshakeFailed:
		switch port {
		case 25, 587, 2525:
			return m.Words, m.Hint + "; port " + strconv.Itoa(port) + " starts in clear text: its module needs tls: starttls or opportunistic, not implicit"
		}
	}
	return m.Words, m.Hint
}

// ExplainDomain returns a domain failure reason in words and a hint.
func ExplainDomain(r maildomain.Reason) (words, hint string) {
	m := OfDomain(r)
	return m.Words, m.Hint
}

// connectTimeoutHint says where to look for the block by the port's role:
// an MX has no other port, while submission clients have alternatives.
// Other ports get the table's hint.
func connectTimeoutHint(port int, other string) string {
	switch port {
	case 25:
		return "an MX must be reachable on 25 from everywhere: if another network reaches it, this machine's network blocks outbound 25 (many ISPs and clouds do) and the probe must run from a machine allowed to send mail; otherwise a firewall in front of the server drops the port"
	case 587:
		return "check the firewalls on the way (nft list ruleset, cloud security groups); clients can also submit on 465 with implicit TLS where the server offers it"
	case 465:
		return "check the firewalls on the way (nft list ruleset, cloud security groups); clients can also submit on 587 with STARTTLS"
	case 2525:
		return "check the firewalls on the way; 2525 is an unofficial fallback, 587 is the standard submission port"
	}
	return other
}
