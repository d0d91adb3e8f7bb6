package report

import (
	"fmt"
	"strings"
	"time"

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
		"connection timed out: the port is probably filtered by a firewall or the ISP",
		"", /* depends on the port: see connectTimeoutHint */
	},
	prober.ReasonConnectUnreachable: {
		"host or network unreachable: no route, or a firewall answers with an ICMP prohibition",
		"check the routes from this machine (ip route get, traceroute) and, for IPv6, that this machine has IPv6 connectivity",
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
		"the server may be overloaded or tarpitting this client, or a middlebox holds the session; a port that speaks TLS from the first byte (465) needs a module with tls: implicit",
	},
	prober.ReasonBannerRejected: {
		"the server greeted with an error: it refuses this client",
		"read the greeting in the transcript: usually a blocklist, a policy or overload (421); check the server's log and whether this address is listed",
	},
	prober.ReasonProtocolError: {
		"the other side does not speak SMTP as expected (garbage, overlong or malformed replies)",
		"check that this port runs an SMTP server; a port that speaks TLS from the first byte (465) needs a module with tls: implicit",
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
		"compare the TLS versions and ciphers both sides allow (tls_config min_version) and check the server's certificate and key (openssl s_client shows the server's side); a port that starts in clear text (25, 587) needs tls: starttls, not implicit",
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
	prober.ReasonLegacyTLSAccepted: {
		"the server still accepts TLS 1.0 or 1.1 from a client that offers nothing newer",
		"turn the old protocols off (Postfix: smtpd_tls_protocols = >=TLSv1.2; see docs/runbooks.md) and confirm with openssl s_client -tls1",
	},
	prober.ReasonTimeout: {
		"the probe ran out of time in the middle of the conversation",
		"the transcript shows the last step that got an answer; the server is slow or a middlebox stalls the session; a longer timeout may help",
	},
}

// Explain returns a failure reason in plain words and a hint of what to
// check next. port is the target's port, which some hints depend on.
func Explain(reason prober.Reason, port int) (words, hint string) {
	e, ok := explanations[reason]
	if !ok {
		return string(reason), ""
	}
	if reason == prober.ReasonConnectTimeout {
		return e.words, connectTimeoutHint(port)
	}
	return e.words, e.hint
}

// connectTimeoutHint suggests the other ports mail can go through, since a
// filtered port is most often a deliberate block of that one port.
func connectTimeoutHint(port int) string {
	switch port {
	case 25:
		return "many ISPs and clouds block outbound port 25; try 587 or 2525 for submission, or probe from a machine allowed to send mail"
	case 587:
		return "try 465 or 2525"
	case 465:
		return "try 587 or 2525"
	case 2525:
		return "try 587 or 465"
	}
	return "try 587 or 2525"
}

// Verdict is the result in one line: success with what was found, or the
// failure reason with its meaning and a hint.
func Verdict(r *prober.Result) string {
	if r.Success {
		return "OK: " + summary(r)
	}
	words, hint := Explain(r.Failure, r.Port)
	s := fmt.Sprintf("FAILED (%s): %s", r.Failure, words)
	if hint != "" {
		s += "; " + hint
	}
	return s
}

// summary says what a successful probe saw, in the order it happened.
func summary(r *prober.Result) string {
	var parts []string
	if ph := r.Phase(prober.PhaseBanner); ph != nil && ph.ReplyCode != 0 {
		parts = append(parts, fmt.Sprintf("greeting %d", ph.ReplyCode))
	}
	switch {
	case r.TLS != nil && r.Phase(prober.PhaseStartTLS).Reached:
		parts = append(parts, "STARTTLS to "+r.TLS.Version)
	case r.TLS != nil:
		parts = append(parts, "implicit "+r.TLS.Version)
	default:
		parts = append(parts, "no TLS")
	}
	if r.TLS != nil {
		if r.TLS.Verified {
			parts = append(parts, "certificate verified")
		} else {
			parts = append(parts, "certificate NOT verified (ignored: insecure_skip_verify)")
		}
	}
	if r.AuthConfigured && r.AuthSuccess {
		parts = append(parts, "AUTH "+r.AuthMechanism+" accepted")
	} else if mechs := r.LastEHLO(); mechs != nil && len(mechs.AuthMechanisms) > 0 {
		parts = append(parts, "AUTH offered ("+strings.Join(mechs.AuthMechanisms, " ")+")")
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" in %s", r.Duration.Round(time.Millisecond))
}
