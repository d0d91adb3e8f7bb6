package integration

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// probeCase is one listener of the test bed and what the exporter must say of it.
type probeCase struct {
	name   string
	target string
	module string
	reason string // "" for success
	// want holds further series that must have exactly these values:
	// "name{k=v,...}" or "name" → value.
	want map[string]float64
	// expiry, when set, is the env key of the earliest certificate expiry
	// that probe_ssl_earliest_cert_expiry must be within a day of.
	expiry string
	// absent lists metric names that must not appear.
	absent []string
	// warnings are the reasons probe_smtp_warning must be 1 for; every
	// other reason must be 0.
	warnings []string
}

func postfixCases(tb *testbed) []probeCase {
	ip6 := "[" + tb.get("TESTBED_HOST6") + "]:" + tb.port("SMTP")
	cases := []probeCase{
		{
			name: "25-like, STARTTLS offered", target: tb.addr("SMTP"), module: "tb_smtp",
			want: map[string]float64{
				"probe_smtp_starttls_advertised": 1, "probe_smtp_tls": 1, "probe_tls_certificate_verified": 1,
				`probe_tls_version_info{version=TLS 1.3}`: 1, "probe_ip_protocol": 4,
				`probe_smtp_reply_code{phase=banner}`: 220, `probe_smtp_reply_code{phase=starttls}`: 220,
				`probe_smtp_extension_info{extension=PIPELINING}`: 1, "probe_smtp_auth_before_tls": 0,
			},
			expiry: "TESTBED_CHAIN_EARLIEST_NOT_AFTER_VALID",
			absent: []string{"probe_smtp_auth_success"},
		},
		{
			name: "587-like, AUTH after TLS with the right password", target: tb.addr("SUBMISSION"), module: "tb_submission",
			want: map[string]float64{
				"probe_smtp_auth_success": 1, "probe_smtp_auth_before_tls": 0, "probe_smtp_tls": 1,
				`probe_smtp_auth_mechanism_info{mechanism=PLAIN}`: 1, `probe_smtp_auth_mechanism_info{mechanism=LOGIN}`: 1,
				`probe_smtp_reply_code{phase=auth}`: 235, `probe_smtp_extension_info{extension=AUTH}`: 1,
			},
			expiry: "TESTBED_CHAIN_EARLIEST_NOT_AFTER_VALID",
		},
		{
			name: "587-like with a wrong password", target: tb.addr("SUBMISSION"), module: "tb_submission_wrong_password",
			reason: "auth_failed",
			want:   map[string]float64{"probe_smtp_auth_success": 0, `probe_smtp_reply_code{phase=auth}`: 535},
		},
		{
			name: "465-like, implicit TLS with AUTH", target: tb.addr("SMTPS"), module: "tb_smtps",
			want: map[string]float64{
				"probe_smtp_tls": 1, "probe_smtp_auth_success": 1, "probe_smtp_starttls_advertised": 0,
				`probe_smtp_reply_code{phase=banner}`: 220,
			},
			expiry: "TESTBED_CHAIN_EARLIEST_NOT_AFTER_VALID",
		},
		{
			name: "2525-like, STARTTLS and AUTH after TLS", target: tb.addr("ALT2525"), module: "tb_submission",
			want: map[string]float64{"probe_smtp_auth_success": 1, "probe_smtp_tls": 1},
		},
		{
			name: "expired certificate", target: tb.addr("EXPIRED"), module: "tb_starttls", reason: "cert_expired",
			want:   map[string]float64{"probe_tls_certificate_verified": 0, "probe_smtp_tls": 1},
			expiry: "TESTBED_CHAIN_EARLIEST_NOT_AFTER_EXPIRED",
		},
		{
			name: "certificate for the wrong host", target: tb.addr("WRONGHOST"), module: "tb_starttls", reason: "cert_hostname_mismatch",
			want:   map[string]float64{"probe_tls_certificate_verified": 0},
			expiry: "TESTBED_CHAIN_EARLIEST_NOT_AFTER_WRONGHOST",
		},
		{
			name: "certificate expiring soon still succeeds", target: tb.addr("EXPIRING"), module: "tb_starttls",
			want:   map[string]float64{"probe_tls_certificate_verified": 1},
			expiry: "TESTBED_CHAIN_EARLIEST_NOT_AFTER_EXPIRING",
		},
		{
			name: "no STARTTLS where it is required", target: tb.addr("NOTLS"), module: "tb_starttls", reason: "starttls_not_advertised",
			want:   map[string]float64{"probe_smtp_starttls_advertised": 0, "probe_smtp_tls": 0},
			absent: []string{"probe_tls_version_info", "probe_ssl_earliest_cert_expiry"},
		},
		{
			name: "no STARTTLS is fine for opportunistic", target: tb.addr("NOTLS"), module: "tb_smtp",
			want: map[string]float64{"probe_smtp_starttls_advertised": 0, "probe_smtp_tls": 0},
		},
		{
			name: "TLS 1.2 at most", target: tb.addr("TLS12"), module: "tb_starttls",
			want: map[string]float64{`probe_tls_version_info{version=TLS 1.2}`: 1},
		},
		{
			name: "AUTH advertised before TLS", target: tb.addr("AUTHPLAIN"), module: "tb_no_auth_before_tls", reason: "auth_before_tls",
			want: map[string]float64{"probe_smtp_auth_before_tls": 1, "probe_smtp_tls": 1},
		},
		{
			name: "AUTH before TLS is seen even by a plain module", target: tb.addr("AUTHPLAIN"), module: "tb_plain",
			want:     map[string]float64{"probe_smtp_auth_before_tls": 1, "probe_smtp_tls": 0},
			warnings: []string{"auth_before_tls"},
		},
		{
			// Debian 12's Postfix as configured out of the box still takes
			// TLS 1.0 and 1.1 and RSA key exchange with CBC.
			name: "posture of the default listener", target: tb.addr("SMTP"), module: "tb_posture",
			want: map[string]float64{
				`probe_tls_version_info{version=TLS 1.3}`:            1,
				`probe_tls_legacy_version_accepted{version=TLS 1.0}`: 1, `probe_tls_legacy_version_accepted{version=TLS 1.1}`: 1,
				"probe_tls_weak_cipher_accepted": 1, "probe_ssl_leaf_key_bits{type=rsa}": 2048,
				"probe_ssl_leaf_signature_algorithm_info{algorithm=SHA256-RSA}": 1, "probe_tls_ocsp_stapled": 0,
			},
		},
		{
			name: "posture over implicit TLS", target: tb.addr("SMTPS"), module: "tb_posture_implicit",
			want: map[string]float64{
				`probe_tls_legacy_version_accepted{version=TLS 1.0}`: 1, `probe_tls_legacy_version_accepted{version=TLS 1.1}`: 1,
			},
		},
		{
			name: "TLS 1.2 at most, still accepting TLS 1.0 and 1.1", target: tb.addr("LEGACYTLS"), module: "tb_posture_fail",
			reason: "legacy_tls_accepted",
			want: map[string]float64{
				`probe_tls_version_info{version=TLS 1.2}`:            1,
				`probe_tls_legacy_version_accepted{version=TLS 1.0}`: 1, `probe_tls_legacy_version_accepted{version=TLS 1.1}`: 1,
				"probe_tls_weak_cipher_accepted": 1,
			},
		},
		{
			name: "TLS 1.3 only: nothing legacy, nothing weak", target: tb.addr("TLS13ONLY"), module: "tb_posture_fail",
			want: map[string]float64{
				`probe_tls_version_info{version=TLS 1.3}`:            1,
				`probe_tls_legacy_version_accepted{version=TLS 1.0}`: 0, `probe_tls_legacy_version_accepted{version=TLS 1.1}`: 0,
				"probe_tls_weak_cipher_accepted": 0,
			},
			absent: []string{"probe_tls_weak_cipher_info"},
		},
		{
			name: "posture off: no posture series", target: tb.addr("LEGACYTLS"), module: "tb_starttls",
			absent: []string{"probe_tls_legacy_version_accepted", "probe_tls_weak_cipher_accepted"},
		},
		// Issue 25: Postfix drops what a client pipelines after STARTTLS
		// (since 2.8.4), on 25 and on submission.
		{
			name: "STARTTLS injection: Postfix is not vulnerable", target: tb.addr("SMTP"), module: "tb_injection",
			want: map[string]float64{
				`probe_smtp_starttls_injection{result=not_vulnerable}`: 1,
				`probe_smtp_starttls_injection{result=vulnerable}`:     0,
				`probe_smtp_starttls_injection{result=inconclusive}`:   0,
			},
		},
		{
			name: "STARTTLS injection on submission", target: tb.addr("SUBMISSION"), module: "tb_injection",
			want: map[string]float64{`probe_smtp_starttls_injection{result=not_vulnerable}`: 1},
		},
		{
			name: "STARTTLS injection not asked: no series", target: tb.addr("SMTP"), module: "tb_starttls",
			absent: []string{"probe_smtp_starttls_injection"},
		},
		{
			name: "554 greeting", target: tb.addr("REJECT"), module: "tb_smtp", reason: "banner_rejected",
			want: map[string]float64{`probe_smtp_reply_code{phase=banner}`: 554},
		},
		// Issue 18.
		{
			name: "opportunistic: an expired certificate is a warning", target: tb.addr("EXPIRED"), module: "tb_smtp",
			want:     map[string]float64{"probe_tls_certificate_verified": 0, "probe_smtp_tls": 1},
			warnings: []string{"cert_expired"},
		},
		{
			name: "opportunistic: a certificate for another host is a warning", target: tb.addr("WRONGHOST"), module: "tb_smtp",
			warnings: []string{"cert_hostname_mismatch"},
		},
		{
			name: "envelope: RCPT accepted for postmaster", target: tb.addr("ENVELOPE"), module: "tb_envelope",
			want: map[string]float64{
				`probe_smtp_reply_code{phase=mail}`: 250, `probe_smtp_reply_code{phase=rcpt}`: 250, "probe_smtp_tls": 1,
			},
		},
		{
			name: "envelope: an outside domain is relay-denied (554)", target: tb.addr("ENVELOPE"), module: "tb_envelope_outside",
			reason: "rcpt_rejected",
			want:   map[string]float64{`probe_smtp_reply_code{phase=rcpt}`: 554},
		},
		{
			name: "relay test: 554 relay access denied passes", target: tb.addr("ENVELOPE"), module: "tb_relay_test",
			want: map[string]float64{`probe_smtp_reply_code{phase=rcpt}`: 554, `probe_smtp_failure{reason=relay_accepted}`: 0},
		},
		{
			name: "relay test: an accepted recipient is relay_accepted", target: tb.addr("ENVELOPE"), module: "tb_relay_test_open",
			reason: "relay_accepted",
			want:   map[string]float64{`probe_smtp_reply_code{phase=rcpt}`: 250},
		},
		{
			name: "envelope: MAIL FROM refused", target: tb.addr("ENVELOPE"), module: "tb_blocked_sender",
			reason: "mail_rejected",
			want:   map[string]float64{`probe_smtp_reply_code{phase=mail}`: 554, `probe_smtp_reply_code{phase=rcpt}`: 0},
		},
		{
			name: "reject_non_fqdn_helo_hostname accepts the default EHLO name", target: tb.addr("FQDNHELO"), module: "tb_plain",
			want: map[string]float64{`probe_smtp_reply_code{phase=ehlo}`: 250},
		},
		{
			name: "reject_non_fqdn_helo_hostname refuses a short name", target: tb.addr("FQDNHELO"), module: "tb_short_ehlo",
			reason: "ehlo_rejected",
			want:   map[string]float64{`probe_smtp_reply_code{phase=ehlo}`: 504},
		},
		{
			name: "source_ip_address 127.0.0.2", target: tb.addr("SMTP"), module: "tb_source_ip",
		},
		{
			name: "greeting matches fail_if_banner_not_matches", target: tb.addr("SMTP"), module: "tb_banner",
		},
		{
			name: "greeting does not match fail_if_banner_not_matches", target: tb.addr("SMTP"), module: "tb_banner_other",
			reason: "banner_mismatch",
		},
	}
	if tb.get("TESTBED_IPV6") == "1" {
		// By name it would need ::1 in /etc/hosts, which sandboxes often
		// lack; the prober's unit tests cover family choice by name.
		cases = append(cases,
			probeCase{
				name: "IPv6 literal", target: ip6, module: "tb_smtp",
				want: map[string]float64{"probe_ip_protocol": 6, "probe_smtp_tls": 1, "probe_tls_certificate_verified": 1},
			},
		)
	}
	return cases
}

// TestSourceIPInPostfixLog: Postfix logs the client address the probe
// bound with source_ip_address.
func TestSourceIPInPostfixLog(t *testing.T) {
	tb, exp := needTestbed(t)
	checkProbe(t, exp, tb, probeCase{name: "source ip", target: tb.addr("SMTP"), module: "tb_source_ip"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(tb.get("TESTBED_LOG_FILE"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "testbed/smtp/smtpd") && strings.Contains(string(b), "[127.0.0.2]") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the Postfix log shows no connection from 127.0.0.2")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPostfixListeners(t *testing.T) {
	tb, exp := needTestbed(t)
	for _, tc := range postfixCases(tb) {
		t.Run(tc.name, func(t *testing.T) {
			checkProbe(t, exp, tb, tc)
		})
	}
}

// TestUnreachablePorts covers a refused port and a filtered one (an
// nftables DROP rule on loopback, or where the sandbox refuses that, a
// listener that never accepts).
func TestUnreachablePorts(t *testing.T) {
	tb, exp := needTestbed(t)
	refused := smtptest.RefusedAddr(t)
	filtered := filteredAddr(t)
	for _, tc := range []probeCase{
		{name: "refused", target: refused, module: "tb_smtp", reason: "connect_refused"},
		{name: "filtered", target: filtered, module: "tb_smtp", reason: "connect_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := checkProbe(t, exp, tb, tc)
			d, _ := m.value("probe_duration_seconds")
			// Bounded by the module timeout (plus scheduling slack), never more.
			if limit := (moduleTimeout + time.Second).Seconds(); d > limit {
				t.Errorf("probe took %.2fs, more than the module timeout allows (%.2fs)", d, limit)
			}
		})
	}
}

// filteredAddr makes a port that drops SYNs with nftables, removed when the
// test ends; without nft or the right to use it, it falls back.
func filteredAddr(t *testing.T) string {
	addr := smtptest.RefusedAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	table := fmt.Sprintf("smtp_exporter_test_%d", os.Getpid())
	rules := fmt.Sprintf(`table inet %s {
	chain input {
		type filter hook input priority -10; policy accept;
		ip daddr 127.0.0.1 tcp dport %s drop
	}
}`, table, port)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("nftables unavailable (%v: %s); using a listener that never accepts", err, strings.TrimSpace(string(out)))
		return smtptest.FilteredAddr(t)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
			t.Errorf("removing nftables table %s: %v %s", table, err, out)
		}
	})
	t.Logf("nftables drops SYNs to %s", addr)
	return addr
}

func checkProbe(t *testing.T, exp *exporterProcess, tb *testbed, tc probeCase) metrics {
	t.Helper()
	u := fmt.Sprintf("http://%s/probe?target=%s&module=%s", exp.Addr, url.QueryEscape(tc.target), tc.module)
	text := scrape(t, u)
	m := parseMetrics(t, text)
	success, _ := m.value("probe_success")
	if want := boolFloat(tc.reason == ""); success != want {
		debug := scrape(t, u+"&debug=true")
		t.Fatalf("probe_success = %v, want %v\n%s", success, want, debug)
	}
	for _, reason := range []string{
		"resolve", "connect_refused", "connect_timeout", "banner_rejected", "cert_expired",
		"cert_hostname_mismatch", "auth_failed", "auth_before_tls", "starttls_not_advertised", "timeout",
		"mail_rejected", "rcpt_rejected", "relay_accepted", "banner_mismatch", "ehlo_rejected",
	} {
		v, ok := m.value("probe_smtp_failure", "reason="+reason)
		if !ok {
			t.Errorf("probe_smtp_failure{reason=%q} is missing", reason)
		}
		if want := boolFloat(reason == tc.reason); v != want {
			t.Errorf("probe_smtp_failure{reason=%q} = %v, want %v", reason, v, want)
		}
	}
	for _, reason := range []string{
		"cert_expired", "cert_untrusted", "cert_hostname_mismatch", "starttls_rejected", "tls_handshake_failed", "auth_before_tls",
	} {
		v, ok := m.value("probe_smtp_warning", "reason="+reason)
		if !ok {
			t.Errorf("probe_smtp_warning{reason=%q} is missing", reason)
		}
		if want := boolFloat(slices.Contains(tc.warnings, reason)); v != want {
			t.Errorf("probe_smtp_warning{reason=%q} = %v, want %v", reason, v, want)
		}
	}
	for series, want := range tc.want {
		name, labels := splitSeries(series)
		got, ok := m.value(name, labels...)
		if !ok {
			t.Errorf("%s is missing", series)
		} else if got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, name := range tc.absent {
		if _, ok := m[name]; ok {
			t.Errorf("%s is present, want absent", name)
		}
	}
	if tc.expiry != "" {
		got, ok := m.value("probe_ssl_earliest_cert_expiry")
		if want := tb.unix(tc.expiry); !ok || math.Abs(got-want) > 86400 {
			t.Errorf("probe_ssl_earliest_cert_expiry = %v (present %v), want within a day of %v (%s)", got, ok, want, tc.expiry)
		}
	}
	return m
}

// splitSeries turns `name{a=b,c=d}` into the name and "a=b" pairs.
func splitSeries(s string) (string, []string) {
	name, rest, ok := strings.Cut(s, "{")
	if !ok {
		return s, nil
	}
	return name, strings.Split(strings.TrimSuffix(rest, "}"), ",")
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
