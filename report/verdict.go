package report

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// explanation is a failure reason for someone who has not read the metric
// names: what it means, and what to check next.
type explanation struct {
	words string
	hint  string
}

var explanations = map[prober.Reason]explanation{
	prober.ReasonResolve: {
		"the host name does not resolve",
		"check the spelling and the DNS records (A/AAAA; a domain's mail servers are in its MX records)",
	},
	prober.ReasonConnectRefused: {
		"connection refused: nothing listens on this port, or a firewall rejects it",
		"check that the mail server runs and listens on this address and port (ss -ltn), and the firewall's REJECT rules",
	},
	prober.ReasonConnectTimeout: {
		"connection timed out: the port is filtered (blocked) by a firewall or the ISP",
		"", /* depends on the port: see connectTimeoutHint */
	},
	prober.ReasonConnectUnreachable: {
		"host or network unreachable: no route, or a router or firewall answers with an ICMP prohibition (blocked on the way)",
		"the error says which (no route to host, network unreachable, administratively prohibited); check the routes from this machine (ip route get ADDRESS), the firewalls on the way and, for IPv6, that this machine has IPv6 connectivity",
	},
	prober.ReasonConnectionClosed: {
		"the server closed the connection before the conversation finished",
		"the last server lines in the transcript often say why; then check the server's log (rate limits, blocklists, TLS policy)",
	},
	prober.ReasonConnectionReset: {
		"the connection was reset by the server or a middlebox",
		"a firewall or intrusion prevention system may reset SMTP sessions; check the server's log for this client",
	},
	prober.ReasonBannerTimeout: {
		"connected, but the server sent no greeting in time",
		"the server may be overloaded or tarpitting this client (postscreen, a greet pause), or a middlebox holds the session",
	},
	prober.ReasonBannerRejected: {
		"the server greeted with an error: it refuses this client",
		"read the greeting in the transcript: usually a blocklist, a policy or overload (421); check the server's log and whether this address is listed",
	},
	prober.ReasonProtocolError: {
		"the other side does not speak SMTP as expected (garbage, overlong or malformed replies)",
		"check that this port runs an SMTP server and not another service",
	},
	prober.ReasonEHLORejected: {
		"the server rejected EHLO",
		"check the module's ehlo_hostname: some servers reject names that do not resolve or are not fully qualified",
	},
	prober.ReasonStartTLSNotAdvertised: {
		"the server does not offer STARTTLS, and the module needs TLS",
		"enable TLS on the server (Postfix: smtpd_tls_security_level = may); if it is enabled, a middlebox may strip STARTTLS from the EHLO reply",
	},
	prober.ReasonStartTLSRejected: {
		"the server refused STARTTLS",
		"a 454 reply usually means the server's own TLS setup is broken (certificate or key files); check its log",
	},
	prober.ReasonTLSHandshakeFailed: {
		"the TLS handshake failed",
		"compare the TLS versions and ciphers both sides allow (tls_config min_version) and check the server's certificate and key (openssl s_client shows the server's side)",
	},
	prober.ReasonCertExpired: {
		"the certificate has expired or is not valid yet",
		"renew the certificate and reload the mail server; also check the clocks of both machines",
	},
	prober.ReasonCertUntrusted: {
		"the certificate chain does not lead to a trusted root",
		"the server may not send its intermediate certificates, or it uses a private CA: set tls_config.ca_file in the module",
	},
	prober.ReasonCertHostnameMismatch: {
		"the certificate is not issued for this host name",
		"probe the name the certificate is issued for (its SANs are listed under TLS), or set tls_config.server_name",
	},
	prober.ReasonAuthNotAdvertised: {
		"the server does not offer AUTH on this session",
		"a submission server should offer AUTH after STARTTLS; check its SASL setup (Postfix: smtpd_sasl_auth_enable = yes)",
	},
	prober.ReasonAuthBeforeTLS: {
		"the server offers AUTH before TLS, so clients may send passwords in clear text",
		"offer AUTH only on encrypted sessions (Postfix: smtpd_tls_auth_only = yes)",
	},
	prober.ReasonAuthFailed: {
		"the server did not accept the module's credentials",
		"check the username and password file of the module, and the server's reply in the transcript",
	},
	maildomain.ReasonTargetNotAllowed: {
		"not probed: the exporter's allowed_targets refuses this address",
		"an MX record points into a network the exporter must not probe; fix the MX record, or allow the address in allowed_targets",
	},
	prober.ReasonLegacyTLSAccepted: {
		"the server still accepts TLS 1.0 or 1.1 from a client that offers nothing newer",
		"turn the old protocols off (Postfix: smtpd_tls_protocols = >=TLSv1.2; see docs/runbooks.md) and confirm with openssl s_client -tls1",
	},
	prober.ReasonTimeout: {
		"the probe ran out of time in the middle of the conversation",
		"the transcript shows the last step that got an answer; the server is slow or a middlebox stalls the session; a longer timeout may help",
	},
	prober.ReasonMailRejected: {
		"the server refused the module's MAIL FROM",
		"read the reply in the transcript: a 452 or 421 is a full disk or overload, a 5xx a sender policy (SPF, sender restrictions); choose a mail_from the server accepts",
	},
	prober.ReasonRcptRejected: {
		"the server refused a recipient it should accept",
		"read the reply in the transcript: 452 is a full queue or disk, 550 an unknown user or a domain no longer accepted (Postfix: mydestination, relay_domains, virtual_mailbox_domains)",
	},
	prober.ReasonRelayAccepted: {
		"the server accepted a recipient it must not relay for: an open relay",
		"restrict relaying at once (Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination) and check mynetworks",
	},
	prober.ReasonBannerMismatch: {
		"the greeting does not match the module's fail_if_banner_not_matches",
		"the greeting is in the transcript: another server (or a middlebox, or a load balancer's other backend) may answer on this address",
	},
	prober.ReasonDANEFailed: {
		"the server's certificate matches none of its DNSSEC-signed TLSA records: DANE-validating senders defer mail to it",
		"the certificate or key changed without the TLSA record: publish a record for the new key next to the old one (3 1 1), or go back to the old key; the DANE section lists what each record matched",
	},
	prober.ReasonDANEBogus: {
		"the TLSA records fail DNSSEC validation (or their lookup failed): DANE-validating senders defer mail",
		"check the zone's signatures and DS records (dig +dnssec, delv, https://dnsviz.net); expired RRSIGs are the usual cause",
	},
	maildomain.ReasonPairDNSSECBogus: {
		"not probed: the MX host's address records fail DNSSEC validation, so validating senders skip it",
		"check the signatures of the MX host's zone (dig +dnssec A <host>; with +cd it answers; https://dnsviz.net)",
	},
	maildomain.ReasonPairNXDomain: {
		"not probed: the MX host does not exist (NXDOMAIN)",
		"point the MX record at a host that exists, or give the host its A/AAAA records",
	},
	maildomain.ReasonPairResolverFailed: {
		"not probed: the exporter's own DNS server failed the MX host's lookup, and a known-good name too",
		"fix the exporter's resolver (the module's dns.server); the MX host may be fine",
	},
	prober.ReasonDANEMissing: {
		"the module requires DANE, but the host has no usable DNSSEC-secure TLSA records",
		"publish a 3 1 1 (or 2 1 1) TLSA record at _PORT._tcp.HOST in a signed zone, and make sure the module's dns.server validates DNSSEC",
	},
}

// Explain returns a failure reason in plain words and a hint of what to
// check next. port is the target's port, which some hints depend on.
func Explain(reason prober.Reason, port int) (words, hint string) {
	e, ok := explanations[reason]
	if !ok {
		return string(reason), ""
	}
	switch reason {
	case prober.ReasonConnectTimeout:
		return e.words, connectTimeoutHint(port)
	case prober.ReasonBannerTimeout, prober.ReasonProtocolError:
		if port == 465 {
			// The classic mistake: a clear-text module on the implicit TLS port.
			return e.words, e.hint + "; port 465 speaks TLS from the first byte: use a module with tls: implicit (smtps)"
		}
	case prober.ReasonTLSHandshakeFailed:
		switch port {
		case 25, 587, 2525:
			return e.words, e.hint + "; port " + strconv.Itoa(port) + " starts in clear text: its module needs tls: starttls or opportunistic, not implicit"
		}
	}
	return e.words, e.hint
}

// connectTimeoutHint says where to look for the block by the port's role:
// an MX has no other port, while submission clients have alternatives.
func connectTimeoutHint(port int) string {
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
	return "check the firewalls between this machine and the server (nft list ruleset on both ends, cloud security groups)"
}

// Verdict is the result in one line: success with what was found, or the
// failure reason with its meaning and a hint.
func Verdict(r *prober.Result) string {
	if r.Success {
		if warns := Warnings(r); len(warns) > 0 {
			return "OK, with warnings: " + strings.Join(warns, "; ") + ". Seen: " + summary(r)
		}
		return "OK: " + summary(r)
	}
	words, hint := Explain(r.Failure, r.Port)
	if r.Failure == prober.ReasonDANEFailed && !r.Encrypted {
		// No certificate to match: the records are not what broke.
		hint = noTLSForDANEHint(r)
	}
	s := fmt.Sprintf("FAILED (%s): %s", r.Failure, words)
	if hint != "" {
		s += "; " + hint
	}
	return s
}

// noTLSForDANEHint is the hint of a DANE failure without a TLS session.
func noTLSForDANEHint(r *prober.Result) string {
	if r.EHLO != nil && !r.StartTLSAdvertised {
		return "the server no longer offers STARTTLS, so there is no certificate to match: turn TLS back on (Postfix: smtpd_tls_security_level = may, and readable certificate and key files); the TLSA records are not the problem"
	}
	return "no TLS session was established, so there is no certificate to match: fix the STARTTLS or handshake failure the transcript shows; the TLSA records are not the problem"
}

// summary says what a successful probe saw, in the order it happened.
func summary(r *prober.Result) string {
	var parts []string
	if ph := r.Phase(prober.PhaseBanner); ph != nil && ph.ReplyCode != 0 {
		parts = append(parts, fmt.Sprintf("greeting %d", ph.ReplyCode))
	}
	switch {
	case r.TLS != nil && r.Phase(prober.PhaseStartTLS).Reached:
		parts = append(parts, "STARTTLS to "+r.TLS.Version.String())
	case r.TLS != nil:
		parts = append(parts, "implicit "+r.TLS.Version.String())
	default:
		parts = append(parts, "no TLS")
	}
	if r.TLS != nil {
		if r.TLS.Verified {
			parts = append(parts, "certificate verified")
		} else {
			parts = append(parts, "certificate NOT verified")
		}
	}
	if r.AuthConfigured && r.AuthSuccess {
		parts = append(parts, "AUTH "+r.AuthMechanism+" accepted")
	} else if mechs := r.LastEHLO(); mechs != nil && len(mechs.AuthMechanisms) > 0 {
		parts = append(parts, "AUTH offered ("+strings.Join(mechs.AuthMechanisms, " ")+")")
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" in %s", r.Duration.Round(time.Millisecond))
}

// certificateWarnDays is when the verdict starts to mention expiry, as the
// SMTPCertificateExpiringSoon alert does.
const certificateWarnDays = 21

// Warnings lists in words what a probe found wrong without failing: its
// warnings, a certificate within 21 days of expiry, and TLS older than 1.2.
func Warnings(r *prober.Result) []string {
	var out []string
	for _, w := range r.Warnings {
		words, _ := Explain(w.Reason, r.Port)
		out = append(out, fmt.Sprintf("%s (%s)", words, w.Reason))
	}
	if t := r.TLS; t != nil {
		if t.Version < tls.VersionTLS12 {
			out = append(out, t.Version.String()+" is older than TLS 1.2")
		}
		if !r.Start.IsZero() && !t.LastChainExpiry.IsZero() {
			if left := t.LastChainExpiry.Sub(r.Start); left >= 0 && left < certificateWarnDays*24*time.Hour {
				out = append(out, fmt.Sprintf("a certificate expires in %.0f days (%s)",
					left.Hours()/24, t.LastChainExpiry.UTC().Format(time.DateOnly)))
			}
		}
	}
	return out
}
