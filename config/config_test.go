package config

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// fixturePassword is the content of testdata/password: it must never show
// up in anything the config renders.
const fixturePassword = "fixture-Password-4711"

func TestLoadInvalid(t *testing.T) {
	cases := []struct {
		file string
		want string
	}{
		// Structure.
		{"invalid-empty.yml", "config is empty: it needs a modules: section"},
		{"invalid-no-modules.yml", "config has no modules"},
		{"invalid-yaml.yml", "parsing YAML: yaml: line 2: found character that cannot start any token"},
		{"invalid-duplicate-key.yml", "parsing YAML: yaml: unmarshal errors:\n  line 4: mapping key \"tls\" already defined at line 3"},
		{"invalid-modules-list.yml", "parsing YAML: yaml: unmarshal errors:\n  line 2: cannot unmarshal !!seq into map[string]*config.Module"},
		// Unknown keys name the module, the field and the line.
		{"invalid-top-level-key.yml", `unknown field "module" (line 1)` + "\nconfig has no modules"},
		{"invalid-module-field.yml", `module "submission": unknown field "tls_mode" (line 5)`},
		{"invalid-tls-config-field.yml", `module "smtps": tls_config: unknown field "ca" (line 5)`},
		{"invalid-auth-inline-password.yml", `module "submission": auth: unknown field "password" (line 6)` + "\n" +
			`module "submission": auth: password_file or password_env is required (passwords are not written in the config itself)`},
		// Module fields.
		{"invalid-tls-mode.yml", `module "smtp": tls: unknown mode "sometimes" (want none, opportunistic, starttls or implicit)`},
		{"invalid-timeout.yml", "parsing YAML: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `ten sec...` into time.Duration"},
		{"invalid-timeout-unitless.yml", "parsing YAML: yaml: unmarshal errors:\n  line 4: cannot unmarshal !!int `10` into time.Duration"},
		{"invalid-timeout-negative.yml", `module "smtp": timeout: must be positive, got -1s`},
		{"invalid-ip-protocol.yml", `module "smtp": ip_protocol: unknown value "ipv4" (want ip4 or ip6)`},
		{"invalid-ip-protocol-fallback.yml", "parsing YAML: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `maybe` into bool"},
		{"invalid-port-range.yml", `module "smtp": port: 70000 is out of range 1-65535`},
		{"invalid-port-negative.yml", `module "smtp": port: -25 is out of range 1-65535`},
		{"invalid-ehlo-hostname.yml", `module "smtp": ehlo_hostname: "prober example net" must not contain white space`},
		// TLS.
		{"invalid-min-version.yml", `module "smtps": tls_config: min_version: unknown version "TLS1.2" (want TLS10, TLS11, TLS12 or TLS13)`},
		{"invalid-max-version.yml", `module "smtps": tls_config: max_version: unknown version "SSL3" (want TLS10, TLS11, TLS12 or TLS13)`},
		{"invalid-max-older-than-min.yml", `module "smtps": tls_config: max_version TLS11 is older than min_version`},
		{"invalid-ca-file-missing.yml", `module "smtps": tls_config: ca_file: open testdata/no-such-ca.pem: no such file or directory`},
		{"invalid-ca-file-not-pem.yml", `module "smtps": tls_config: ca_file: testdata/password holds no PEM certificate`},
		{"invalid-cert-without-key.yml", `module "smtps": tls_config: cert_file and key_file must be set together`},
		{"invalid-client-key-mismatch.yml", `module "smtps": tls_config: client certificate: tls: private key does not match public key`},
		{"invalid-fail-if-cert-insecure.yml", `module "strict": fail_if_certificate_invalid: true contradicts tls_config.insecure_skip_verify: true; set one of them`},
		// AUTH.
		{"invalid-auth-no-server-name.yml", `module "submission": auth: tls_config.server_name is required: credentials are sent only to the server whose certificate verifies for this name, not to whatever target a caller of /probe names`},
		{"invalid-auth-insecure-skip-verify.yml", `module "submission": auth: tls_config.insecure_skip_verify must not be set: credentials are sent only to a server whose certificate verifies`},
		{"invalid-auth-tls-none.yml", `module "submission": auth: credentials are never sent in clear text; set tls to opportunistic, starttls or implicit`},
		{"invalid-auth-no-password-source.yml", `module "submission": auth: password_file or password_env is required (passwords are not written in the config itself)`},
		{"invalid-auth-two-password-sources.yml", `module "submission": auth: set password_file or password_env, not both`},
		{"invalid-auth-no-username.yml", `module "submission": auth: username is required`},
		{"invalid-auth-password-file-missing.yml", `module "submission": auth: password_file: open testdata/no-such-password: no such file or directory`},
		{"invalid-auth-password-env-unset.yml", `module "submission": auth: password_env: environment variable SMTP_EXPORTER_CONFIG_TEST_UNSET is not set`},
		// TLS posture.
		{"invalid-tls-posture-tls-none.yml", `module "smtp": tls_posture: the checks need TLS; set tls to opportunistic, starttls or implicit`},
		{"invalid-fail-if-legacy-without-posture.yml", `module "smtp": fail_if_legacy_tls_accepted: needs tls_posture: true, which runs the legacy TLS checks`},
		// port_modules.
		{"invalid-port-modules-undefined.yml", `port_modules: port 587 names module "submission", which is not defined`},
		{"invalid-port-modules-range.yml", `port_modules: port 0 is out of range 1-65535`},
		{"invalid-port-modules-key.yml", "parsing YAML: yaml: unmarshal errors:\n  line 5: cannot unmarshal !!str `smtp` into int"},
		{"invalid-allowed-unknown-field.yml", `allowed_targets: unknown field "domains" (line 6)`},
		{"invalid-allowed-host-address.yml", `allowed_targets: hosts: "192.0.2.1" is an address; put addresses in cidrs (as 192.0.2.1/32)`},
		{"invalid-allowed-host-wildcard.yml", `allowed_targets: hosts: "mx.*.example.com" is not a host name or a *.domain pattern`},
		{"invalid-allowed-host-url.yml", `allowed_targets: hosts: "http://mx.example.com" is not a host name or a *.domain pattern`},
		{"invalid-allowed-cidr.yml", `allowed_targets: cidrs: "192.0.2.0" is not a CIDR range like 192.0.2.0/24 or 2001:db8::/32`},
		{"invalid-allowed-cidr-host-bits.yml", `allowed_targets: cidrs: "192.0.2.1/24" has host bits set; did you mean 192.0.2.0/24?`},
		// Mail domains.
		{"invalid-mx-addresses.yml", `module "mx": mx: addresses: unknown value "some" (want all or first)`},
		{"invalid-mx-success.yml", `module "mx": mx: success: unknown value "most" (want all, any or primary)`},
		{"invalid-mx-max-hosts.yml", `module "mx": mx: max_hosts: 500 is out of range 1-50`},
		{"invalid-mx-max-pairs.yml", `module "mx": mx: max_pairs: 65 is out of range 1-64 ((MX host, address) pairs per probe)`},
		{"invalid-mx-max-addresses.yml", `module "mx": mx: max_addresses: -1 is out of range 1-16 (addresses per MX host and family)`},
		{"invalid-mx-concurrency.yml", `module "mx": mx: concurrency: 17 is out of range 1-16 (pairs probed at once)`},
		{"invalid-mx-field.yml", `module "mx": mx: unknown field "hosts" (line 4)`},
		{"invalid-dns-server.yml", `module "mx": dns: server: DNS server "dns.example.net:53" is not an IP address (a name would need a resolver itself)`},
		{"invalid-dns-field.yml", `module "mx": dns: unknown field "servers" (line 5)`},
		{"invalid-dns-known-good-name.yml", `module "mx": dns: known_good_name: "a..b" is not a domain name`},
		{"invalid-allowed-deny-private.yml", "parsing YAML: yaml: unmarshal errors:\n  line 5: cannot unmarshal !!str `maybe` into bool"},
		// DANE.
		{"invalid-dane-mode.yml", `module "smtp": dane: unknown mode "sometimes" (want off, check or required)`},
		{"invalid-dane-tls-none.yml", `module "smtp": dane: required needs a TLS session; tls is none`},
		{"invalid-mta-sts-not-domain.yml", `module "smtp": mta_sts: a policy belongs to a mail domain; the module needs an mx section`},
		{"invalid-starttls-injection-implicit.yml", `module "smtps": starttls_injection_check: the check needs STARTTLS; tls is implicit (set starttls or opportunistic)`},
		// Egress canaries: errors name the canary by its index.
		{"invalid-egress-no-canaries.yml", "egress: canaries: at least one canary is required (an SMTP listener known to be good, as host:port)"},
		{"invalid-egress-canaries-map.yml", "parsing YAML: yaml: unmarshal errors:\n  line 5: cannot unmarshal !!map into []config.Canary"},
		{"invalid-egress-unknown-field.yml", `egress: canaries[0]: unknown field "expect_greeting" (line 6)`},
		{"invalid-egress-target-no-port.yml", `egress: canaries[0]: target: "canary1.example.net" is not host:port (a canary's port is the port it covers)`},
		{"invalid-egress-target-port.yml", `egress: canaries[0]: target: "canary1.example.net:smtp": port "smtp" is not a number from 1 to 65535`},
		{"invalid-egress-target-host.yml", `egress: canaries[0]: target: "https://canary1.example.net:25" is not host:port (a canary's port is the port it covers)`},
		{"invalid-egress-duplicate.yml", `egress: canaries[2]: target: "canary1.example.net.:25" is canaries[0] already`},
		{"invalid-egress-banner.yml", "egress: canaries[0]: expect_banner: error parsing regexp: missing closing ): `^220 (mx`"},
		{"invalid-egress-ip-protocol.yml", `egress: canaries[0]: ip_protocol: ip6 contradicts the target's address 192.0.2.10` + "\n" +
			`egress: canaries[1]: ip_protocol: unknown value "ipv4" (want ip4 or ip6)`},
		{"invalid-egress-certificate-name.yml", `egress: canaries[0]: expect_certificate_name: "mx example org" is not a host name`},
		{"invalid-egress-interval.yml", "egress: interval: 500ms is shorter than 1s"},
		{"invalid-egress-timeout.yml", "egress: timeout: 30s is longer than the interval (10s): each canary is tried at most once per interval"},
		{"invalid-egress-quorum.yml", "egress: quorum: 3 is more than the 2 canaries"},
		{"invalid-mta-sts-mode.yml", `module "mx": mta_sts: "sometimes" is not one of false, true or enforce`},
		{"invalid-mx-expect-null-mta-sts.yml", `module "sendonly": mta_sts: a domain with mx.expect_null_mx receives no mail, so it has no MTA-STS policy to check`},
	}
	os.Unsetenv("SMTP_EXPORTER_CONFIG_TEST_UNSET")
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatalf("loaded without error: %+v", cfg)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got: %q\nwant: %q", err.Error(), tc.want)
			}
			if cfg != nil {
				t.Errorf("a config came back with the error: %+v", cfg)
			}
		})
	}
	// A fixture without a case would silently test nothing.
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no case in TestLoadInvalid", f)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-config.yml")
	if want := "open testdata/no-such-config.yml: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error: got %v, want %q", err, want)
	}
}

func TestLoadMinimalDefaults(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-minimal.yml")
	m := cfg.Modules["bare"]
	if m == nil {
		t.Fatal(`module "bare" is missing`)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"timeout", m.Timeout, DefaultTimeout},
		{"port", m.Port, 0},
		{"tls", m.TLS, TLSOpportunistic},
		{"ip_protocol", m.IPProtocol, "ip4"},
		{"ip_protocol_fallback", m.IPFallback(), true},
		// Left empty: the prober sends DefaultEHLOName or an address literal.
		{"ehlo_hostname", m.EHLOHostname, ""},
		{"auth", m.Auth == nil, true},
		{"fail_if_auth_before_tls", m.FailIfAuthBeforeTLS, false},
		{"fail_if_no_auth", m.FailIfNoAuth, false},
		// Opportunistic: a bad certificate is a warning, as for a sending MTA.
		{"fail_if_certificate_invalid", m.CertificateInvalidFails(), false},
		{"tls_posture", m.TLSPosture, false},
		{"reverse_dns", m.ReverseDNS, false},
		{"roots (nil: system pool)", m.Roots() == nil, true},
		// Old servers must be seen (and reported), not fail the handshake.
		{"min TLS version", m.ClientTLS("x").MinVersion, uint16(tls.VersionTLS10)},
		{"max TLS version", m.ClientTLS("x").MaxVersion, uint16(0)},
		// The prober verifies after the handshake, to capture bad certificates.
		{"handshake skips verification", m.ClientTLS("x").InsecureSkipVerify, true},
		{"client certificates", len(m.ClientTLS("x").Certificates), 0},
		// No module for a well-known port is defined, so none is mapped.
		{"port_modules", len(cfg.PortModules), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadFull(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-full.yml")
	if got, want := strings.Join(cfg.ModuleNames(), ","), "relay,smtps,submission"; got != want {
		t.Errorf("module names: got %s, want %s", got, want)
	}
	m := cfg.Modules["submission"]
	client := m.ClientTLS("mx.example.net")
	checks := []struct {
		name      string
		got, want any
	}{
		{"timeout", m.Timeout, 7 * time.Second},
		{"port", m.Port, 587},
		{"tls", m.TLS, TLSStartTLS},
		{"ehlo_hostname", m.EHLOHostname, "prober.example.net"},
		{"ip_protocol", m.IPProtocol, "ip6"},
		{"ip_protocol_fallback", m.IPFallback(), false},
		{"server_name", m.TLSConfig.ServerName, "smtp.example.net"},
		{"insecure_skip_verify", m.TLSConfig.InsecureSkipVerify, false},
		{"smtps insecure_skip_verify", cfg.Modules["smtps"].TLSConfig.InsecureSkipVerify, true},
		{"roots from ca_file", m.Roots() != nil, true},
		{"min_version", client.MinVersion, uint16(tls.VersionTLS12)},
		{"max_version", client.MaxVersion, uint16(tls.VersionTLS13)},
		{"client certificate", len(client.Certificates), 1},
		{"ClientTLS server name", client.ServerName, "mx.example.net"},
		{"username", m.Auth.Username, "monitor@example.net"},
		// The trailing newline of the file is not part of the password.
		{"password", m.Auth.Password().Reveal(), fixturePassword},
		{"fail_if_auth_before_tls", m.FailIfAuthBeforeTLS, true},
		{"fail_if_no_auth", m.FailIfNoAuth, true},
		{"tls_posture", m.TLSPosture, true},
		{"fail_if_legacy_tls_accepted", m.FailIfLegacyTLSAccepted, true},
		{"reverse_dns", m.ReverseDNS, true},
		{"smtps tls", cfg.Modules["smtps"].TLS, TLSImplicit},
		{"starttls: a bad certificate fails", m.CertificateInvalidFails(), true},
		{"insecure_skip_verify: a bad certificate warns", cfg.Modules["smtps"].CertificateInvalidFails(), false},
		{"relay tls", cfg.Modules["relay"].TLS, TLSNone},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// ClientTLS hands out copies: one probe's server name never leaks into another's.
	if other := m.ClientTLS("other.example.net"); client.ServerName != "mx.example.net" || other.ServerName != "other.example.net" {
		t.Errorf("ClientTLS shares its config: %q, %q", client.ServerName, other.ServerName)
	}
	// An explicit port_modules replaces the defaults entirely.
	wantPorts := map[int]string{25: "relay", 465: "smtps", 2587: "submission"}
	if fmt.Sprint(cfg.PortModules) != fmt.Sprint(wantPorts) {
		t.Errorf("port_modules: got %v, want %v", cfg.PortModules, wantPorts)
	}
	if _, ok := cfg.PortModules[587]; ok {
		t.Error("port 587 has a module although port_modules does not name it")
	}
}

func TestLoadMerge(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-merge.yml")
	cases := []struct {
		module  string
		port    int
		timeout time.Duration
	}{
		{"submission", 587, 5 * time.Second},
		{"alt_submission", 2525, 3 * time.Second},
	}
	for _, tc := range cases {
		m := cfg.Modules[tc.module]
		if m == nil {
			t.Fatalf("module %q is missing", tc.module)
		}
		if m.Port != tc.port || m.Timeout != tc.timeout || m.TLS != TLSStartTLS || !m.FailIfNoAuth {
			t.Errorf("module %q: port %d timeout %s tls %s fail_if_no_auth %v; want port %d timeout %s tls starttls fail_if_no_auth true",
				tc.module, m.Port, m.Timeout, m.TLS, m.FailIfNoAuth, tc.port, tc.timeout)
		}
	}
}

func TestLoadPasswordEnv(t *testing.T) {
	t.Setenv("SMTP_EXPORTER_CONFIG_TEST_PASSWORD", "from-the-env\n")
	cfg := mustLoad(t, "testdata/valid-auth-env.yml")
	// A password from the environment is taken as is: only files lose their newline.
	if got := cfg.Modules["submission"].Auth.Password().Reveal(); got != "from-the-env\n" {
		t.Errorf("password: got %q", got)
	}
}

func TestParseInline(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want string // error; empty: valid
	}{
		{"merge key with unknown field", "modules:\n  a: &a\n    tls: none\n  b:\n    <<: *a\n    bogus: 1\n", `module "b": unknown field "bogus" (line 6)`},
		{"quoted << is a plain key", "modules:\n  a:\n    '<<': {tls: none}\n", `module "a": unknown field "<<" (line 3)`},
		{"null module", "modules:\n  a: ~\n", ""},
		{"zero timeout means the default", "modules:\n  a: {timeout: 0s}\n", ""},
		{"port 65535", "modules:\n  a: {port: 65535}\n", ""},
		{"port 65536", "modules:\n  a: {port: 65536}\n", `module "a": port: 65536 is out of range 1-65535`},
		{
			"every module is reported, in name order", "modules:\n  z: {tls: bad}\n  a: {tls: worse}\n",
			`module "a": tls: unknown mode "worse" (want none, opportunistic, starttls or implicit)` + "\n" +
				`module "z": tls: unknown mode "bad" (want none, opportunistic, starttls or implicit)`,
		},
		{
			"every error of a module and of the file is reported",
			"modules:\n  a: {timeout: -1s, port: 70000, envelope: {rcpt_to: []}, fail_if_banner_not_matches: '('}\nport_modules: {2525: nosuch}\n",
			`module "a": timeout: must be positive, got -1s` + "\n" +
				`module "a": port: 70000 is out of range 1-65535` + "\n" +
				`module "a": fail_if_banner_not_matches: error parsing regexp: missing closing ): ` + "`(`" + "\n" +
				`module "a": envelope: rcpt_to: at least one address is required` + "\n" +
				`port_modules: port 2525 names module "nosuch", which is not defined`,
		},
		{
			"every unknown key is reported",
			"modules:\n  a: {tls_mode: none, tls_config: {ca: x}}\n  b: {bogus: 1}\nextra: 1\n",
			`module "a": unknown field "tls_mode" (line 2)` + "\n" +
				`module "a": tls_config: unknown field "ca" (line 2)` + "\n" +
				`module "b": unknown field "bogus" (line 3)` + "\n" +
				`unknown field "extra" (line 4)`,
		},
		{"envelope expect", "modules:\n  a: {envelope: {rcpt_to: [postmaster@example.com], expect: maybe}}\n", `module "a": envelope: expect: unknown value "maybe" (want accept or reject)`},
		{
			"envelope address", "modules:\n  a: {envelope: {mail_from: 'a b@example.com', rcpt_to: [postmaster]}}\n",
			`module "a": envelope: mail_from: "a b@example.com" is not an address like postmaster@example.com`,
		},
		{"source_ip_address", "modules:\n  a: {source_ip_address: 'mx.example.com'}\n", `module "a": source_ip_address: "mx.example.com" is not an IP address`},
		{
			"source_ip_address of the other family", "modules:\n  a: {source_ip_address: '192.0.2.1', ip_protocol: ip6}\n",
			`module "a": source_ip_address: 192.0.2.1 is not an ip6 address, as ip_protocol says`,
		},
		{"empty port_modules", "modules:\n  smtp: {}\nport_modules: {}\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("error:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// The example file is the built-in config (main embeds it): it must load
// and hold the modules the README promises, with the ports following them.
func TestExampleConfig(t *testing.T) {
	cfg := mustLoad(t, filepath.Join("..", "config.example.yml"))
	cases := []struct {
		module              string
		port                int
		tls                 TLSMode
		failIfAuthBeforeTLS bool
		failIfNoAuth        bool
	}{
		{"smtp", 25, TLSOpportunistic, false, false},
		{"smtp_starttls", 25, TLSStartTLS, false, false},
		{"submission", 587, TLSStartTLS, true, true},
		{"smtps", 465, TLSImplicit, false, true},
	}
	for _, tc := range cases {
		m := cfg.Modules[tc.module]
		if m == nil {
			t.Errorf("module %q is missing", tc.module)
			continue
		}
		if m.Port != tc.port || m.TLS != tc.tls || m.FailIfAuthBeforeTLS != tc.failIfAuthBeforeTLS || m.FailIfNoAuth != tc.failIfNoAuth {
			t.Errorf("module %q: port %d tls %s fail_if_auth_before_tls %v fail_if_no_auth %v; want %d %s %v %v", tc.module,
				m.Port, m.TLS, m.FailIfAuthBeforeTLS, m.FailIfNoAuth, tc.port, tc.tls, tc.failIfAuthBeforeTLS, tc.failIfNoAuth)
		}
		if m.Auth != nil {
			t.Errorf("module %q has credentials: a built-in module cannot know a password", tc.module)
		}
		if m.IPProtocol != "ip4" || !m.IPFallback() || m.ClientTLS("x").MinVersion != tls.VersionTLS10 {
			t.Errorf("module %q: ip_protocol %s fallback %v min TLS %x; want the defaults ip4, true, TLS 1.0",
				tc.module, m.IPProtocol, m.IPFallback(), m.ClientTLS("x").MinVersion)
		}
	}
	// The mx module checks a mail domain the way senders judge it: DANE,
	// MTA-STS and reverse DNS (issues 13, 14 and 15).
	if mx := cfg.Modules["mx"]; mx == nil || mx.MX == nil || mx.Port != 25 || mx.TLS != TLSOpportunistic ||
		mx.DANE != DANECheck || mx.MTASTS != MTASTSCheck || !mx.ReverseDNS {
		t.Errorf("module mx: %+v; want a domain module on port 25, opportunistic TLS, dane: check, mta_sts and reverse_dns", mx)
	}
	for port, want := range map[int]string{25: "smtp", 465: "smtps", 587: "submission", 2525: "submission"} {
		if got := cfg.PortModules[port]; got != want {
			t.Errorf("port %d: module %q, want %q", port, got, want)
		}
	}
}

// Without port_modules, the well-known ports map to the default modules
// that the config defines, and only to those.
func TestDefaultPortModules(t *testing.T) {
	cfg, err := Parse([]byte("modules:\n  smtp: {}\n  submission: {tls: starttls}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{25: "smtp", 587: "submission", 2525: "submission"}
	if fmt.Sprint(cfg.PortModules) != fmt.Sprint(want) {
		t.Errorf("port_modules: got %v, want %v", cfg.PortModules, want)
	}
}

// The password must not leak through anything that renders a config:
// /config (Marshal), fmt and slog in logs.
func TestSecretsHidden(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-full.yml")
	auth := cfg.Modules["submission"].Auth
	if auth.Password().Reveal() != fixturePassword {
		t.Fatalf("fixture password not loaded: the checks below would prove nothing")
	}
	yml, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	logger.Info("module", "auth", auth, "auth_value", *auth, "module", cfg.Modules["submission"], "password", auth.Password())
	jsonLogger := slog.New(slog.NewJSONHandler(&logs, nil))
	jsonLogger.Info("module", "auth", auth, "module", cfg.Modules["submission"], "password", auth.Password())

	renderings := map[string]string{
		"Marshal (/config)": string(yml),
		"%v":                fmt.Sprintf("%v", auth),
		"%+v":               fmt.Sprintf("%+v", auth),
		"%#v":               fmt.Sprintf("%#v", auth),
		"%+v of the value":  fmt.Sprintf("%+v", *auth),
		"%s of the value":   (*auth).String(),
		"%+v of the module": fmt.Sprintf("%+v", *cfg.Modules["submission"]),
		"%v of the secret":  fmt.Sprintf("%v %s %q %#v", auth.Password(), auth.Password(), auth.Password(), auth.Password()),
		"slog":              logs.String(),
	}
	for name, text := range renderings {
		if strings.Contains(text, fixturePassword) {
			t.Errorf("%s shows the password:\n%s", name, text)
		}
	}
	// What is not secret stays visible, so that /config is still useful.
	for _, want := range []string{"username: monitor@example.net", "password_file: testdata/password", "ca_file: testdata/ca.pem", "timeout: 7s", "tls: starttls", "port_modules:"} {
		if !strings.Contains(string(yml), want) {
			t.Errorf("Marshal lacks %q:\n%s", want, yml)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", auth), "monitor@example.net") {
		t.Errorf("%%+v of an Auth hides the username too: %+v", auth)
	}
	// The rendered config is itself a valid config (an operator may copy it).
	if _, err := Parse(yml); err != nil {
		t.Errorf("Marshal output does not load: %v\n%s", err, yml)
	}
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	return cfg
}

// TestLoadRelativePaths: file names in a config file are relative to its
// directory, as in Prometheus' configs, whatever the working directory;
// absolute ones stay; a document parsed without a file keeps the working
// directory.
func TestLoadRelativePaths(t *testing.T) {
	dir := t.TempDir()
	caPEM, err := os.ReadFile("testdata/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("testdata/password")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "ca.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "modules:\n  sub:\n    tls: starttls\n    tls_config: {ca_file: certs/ca.pem, server_name: smtp.example.net}\n    auth: {username: u, password_file: " + abs + "}\n"
	file := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	m := cfg.Modules["sub"]
	if got, want := m.TLSConfig.CAFile, filepath.Join(dir, "certs", "ca.pem"); got != want {
		t.Errorf("ca_file = %q, want %q", got, want)
	}
	if m.Auth.PasswordFile != abs || m.Auth.Password().Reveal() != fixturePassword {
		t.Errorf("password_file = %q: an absolute name must stay as it is", m.Auth.PasswordFile)
	}
	if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "open certs/ca.pem") {
		t.Errorf("Parse: got %v, want the name relative to the working directory", err)
	}
}

func TestLoadMX(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-mx.yml")
	mx, primary, single := cfg.Modules["mx"], cfg.Modules["mx_primary"], cfg.Modules["smtp_via_dns"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"mx is a domain module", mx.IsDomain(), true},
		{"default max_hosts", mx.MX.MaxHosts, DefaultMXMaxHosts},
		{"default max_addresses", mx.MX.MaxAddresses, 2},
		{"default max_pairs", mx.MX.MaxPairs, 16},
		{"default concurrency", mx.MX.Concurrency, 4},
		{"max_addresses", primary.MX.MaxAddresses, 1},
		{"max_pairs", primary.MX.MaxPairs, 64},
		{"concurrency", primary.MX.Concurrency, 16},
		{"default addresses", mx.MX.Addresses, MXAddressesAll},
		{"default success", mx.MX.Success, MXSuccessAll},
		{"default port of a domain module", mx.Port, 25},
		{"dns.server", mx.Resolver().Server(), "127.0.0.1:5353"},
		{"single targets of mx use dns.server too", mx.NetResolver() != nil, true},
		{"max_hosts", primary.MX.MaxHosts, 3},
		{"addresses", primary.MX.Addresses, MXAddressesFirst},
		{"success", primary.MX.Success, MXSuccessPrimary},
		{"port", primary.Port, 2525},
		{"dns.server without a port", primary.DNS.Server, "[::1]:53"},
		{"the default known-good name is the root", mx.Resolver().KnownGoodName(), "."},
		{"known_good_name", primary.Resolver().KnownGoodName(), "testbed.local"},
		{"mta_sts: enforce", cfg.Modules["mx_enforce"].MTASTS, MTASTSEnforce},
		{"mta_sts: true", cfg.Modules["mx_check"].MTASTS, MTASTSCheck},
		{"mta_sts unset", mx.MTASTS, MTASTSOff},
		{"expect_null_mx", cfg.Modules["sendonly"].MX.ExpectNullMX, true},
		{"a single-target module with dns", single.IsDomain(), false},
		{"its resolver", single.Resolver().Server(), "192.0.2.53:53"},
		{"its host names go to dns.server", single.NetResolver() != nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	plain := mustLoad(t, "testdata/valid-minimal.yml").Modules["bare"]
	if plain.IsDomain() || plain.Resolver() != nil || plain.NetResolver() != nil {
		t.Error("a module without mx and dns sections has a DNS client of its own")
	}
}

// TestMTASTSModeYAML: /config shows mta_sts as it is written.
func TestMTASTSModeYAML(t *testing.T) {
	for mode, want := range map[MTASTSMode]string{MTASTSOff: "false\n", MTASTSCheck: "true\n", MTASTSEnforce: "enforce\n"} {
		b, err := yaml.Marshal(mode)
		if err != nil || string(b) != want {
			t.Errorf("yaml.Marshal(%q) = %q, %v; want %q", mode, b, err, want)
		}
	}
}
