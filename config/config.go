// Package config owns the exporter's YAML configuration: the module types,
// their defaults and validation, and everything that depends only on the
// configuration (CA pools, client certificates, passwords), which is prepared
// once at load time so that a probe only reads it.
package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// TLSMode says when a probe speaks TLS.
type TLSMode string

const (
	// TLSNone never upgrades the session, even when STARTTLS is offered.
	TLSNone TLSMode = "none"
	// TLSOpportunistic upgrades with STARTTLS when the server offers it.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSStartTLS requires STARTTLS: a server that does not offer it fails the probe.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit TLSMode = "implicit"
)

// DefaultTimeout is a module's deadline when it sets none.
const DefaultTimeout = 10 * time.Second

// DefaultPortModules maps well-known ports to the module used when a request
// names none; a config's port_modules entries override it.
var DefaultPortModules = map[int]string{25: "smtp", 465: "smtps", 587: "submission", 2525: "submission"}

// Config is a whole configuration file.
type Config struct {
	Modules map[string]*Module `yaml:"modules"`
	// PortModules chooses the module by the target's port when the request names none.
	PortModules map[int]string `yaml:"port_modules,omitempty"`
	// AllowedTargets limits what may be probed (nil: anything).
	AllowedTargets *AllowedTargets `yaml:"allowed_targets,omitempty"`
	// Egress are the canaries that tell a blocked port from a failing
	// target (nil: none, and probes carry no egress state).
	Egress *Egress `yaml:"egress,omitempty"`
}

// Module is the recipe for one kind of probe.
type Module struct {
	Timeout             time.Duration `yaml:"timeout"`
	Port                int           `yaml:"port,omitempty"`
	TLS                 TLSMode       `yaml:"tls"`
	EHLOHostname        string        `yaml:"ehlo_hostname,omitempty"`
	IPProtocol          string        `yaml:"ip_protocol"`
	IPProtocolFallback  *bool         `yaml:"ip_protocol_fallback"`
	TLSConfig           TLSConfig     `yaml:"tls_config"`
	Auth                *Auth         `yaml:"auth,omitempty"`
	FailIfAuthBeforeTLS bool          `yaml:"fail_if_auth_before_tls"`
	FailIfNoAuth        bool          `yaml:"fail_if_no_auth"`
	// TLSPosture adds, after the conversation, one short connection per
	// check that offers only TLS 1.0, only TLS 1.1, or TLS 1.2 with only
	// weak cipher suites, and stops after the handshake.
	TLSPosture              bool `yaml:"tls_posture"`
	FailIfLegacyTLSAccepted bool `yaml:"fail_if_legacy_tls_accepted"`
	// ReverseDNS looks up the PTR names of the address connected to and
	// whether one resolves back to it (FCrDNS), and compares them with the
	// name in the greeting.
	ReverseDNS bool `yaml:"reverse_dns"`
	// MX makes the module's targets mail domains (see mx.go).
	MX *MX `yaml:"mx,omitempty"`
	// DNS sends every lookup of the module to one server.
	DNS *DNS `yaml:"dns,omitempty"`
	// DANE is what a probe does with the target's TLSA records: off, check
	// or required (mailsec.go).
	DANE DANEMode `yaml:"dane,omitempty"`
	// MTASTS judges a mail domain's MTA-STS policy and TLS-RPT record:
	// false, true, or enforce (mailsec.go).
	MTASTS MTASTSMode `yaml:"mta_sts,omitempty"`
	// StartTLSInjectionCheck adds, after the conversation, one connection
	// that tests whether the server keeps clear-text commands across
	// STARTTLS (CVE-2011-0411 class); meant for a slower job.
	StartTLSInjectionCheck bool `yaml:"starttls_injection_check,omitempty"`

	// FailIfCertificateInvalid makes a certificate that does not verify fail
	// the probe; otherwise it is a warning. The default follows the TLS mode:
	// false for opportunistic (a sending MTA delivers to a self-signed or
	// private-CA certificate as it would in clear text), true otherwise and
	// whenever the module has credentials.
	FailIfCertificateInvalid *bool `yaml:"fail_if_certificate_invalid"`
	// FailIfBannerNotMatches is a regular expression the greeting's text
	// (its lines joined by newlines, without the reply codes) must match.
	FailIfBannerNotMatches string `yaml:"fail_if_banner_not_matches,omitempty"`
	// SourceIPAddress is the local address the probe connects from.
	SourceIPAddress string `yaml:"source_ip_address,omitempty"`
	// Envelope, when set, sends MAIL FROM and RCPT TO (never DATA).
	Envelope *Envelope `yaml:"envelope,omitempty"`

	// Prepared at load time; the file-backed parts are re-read when the
	// files change (see RefreshFiles).
	tlsBase     *tls.Config // without client certificates
	live        *liveFiles
	bannerRegex *regexp.Regexp
	sourceIP    netip.Addr
	resolver    *resolver.Resolver
	netResolver *net.Resolver
}

// Envelope is the MAIL FROM / RCPT TO test of a module. No message is ever
// sent: the probe resets the transaction after the recipients.
type Envelope struct {
	// MailFrom is the reverse path; empty is the null sender "<>".
	MailFrom string `yaml:"mail_from"`
	// RcptTo are the recipients, each sent with RCPT TO.
	RcptTo []string `yaml:"rcpt_to"`
	// Expect is accept (every recipient must be accepted) or reject (none
	// may be: the open-relay test).
	Expect string `yaml:"expect"`
}

// Envelope expectations.
const (
	ExpectAccept = "accept"
	ExpectReject = "reject"
)

// maxRecipients bounds the RCPT TO commands of one probe.
const maxRecipients = 20

// TLSConfig is how a probe speaks TLS and verifies the server's certificate.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	MinVersion         string `yaml:"min_version,omitempty"`
	MaxVersion         string `yaml:"max_version,omitempty"`
	CertFile           string `yaml:"cert_file,omitempty"`
	KeyFile            string `yaml:"key_file,omitempty"`
}

// Auth holds the credentials a probe authenticates with. The password is read
// from a file or the environment at load time and lives only in memory.
type Auth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file,omitempty"`
	PasswordEnv  string `yaml:"password_env,omitempty"`

	password *secretCell
	seen     []byte // the password file's contents last read
}

// String keeps the password out of anything that prints an Auth with fmt
// or slog (%v and %+v would otherwise show the unexported field).
func (a Auth) String() string {
	return fmt.Sprintf("{username: %s, password_file: %s, password_env: %s, password: %s}",
		a.Username, a.PasswordFile, a.PasswordEnv, Redacted)
}

// GoString is String for %#v.
func (a Auth) GoString() string { return a.String() }

// Password returns the loaded password.
func (a *Auth) Password() Secret {
	if a.password == nil {
		return ""
	}
	return a.password.get()
}

// Secret is a string that refuses to be printed, logged or marshalled.
type Secret string

// Redacted is the one marker that stands for a secret in anything the
// exporter shows (the prober uses it too).
const Redacted = "<redacted>"

// String shows the marker, never the value; so do GoString, MarshalYAML
// and MarshalJSON, whichever way a secret is printed.
func (s Secret) String() string { return Redacted }

// GoString is String for %#v.
func (s Secret) GoString() string { return Redacted }

// MarshalYAML renders the marker, for /config.
func (s Secret) MarshalYAML() (any, error) { return Redacted, nil }

// MarshalJSON renders the marker.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// CertificateInvalidFails reports whether a certificate that does not
// verify fails the probe (otherwise it is a warning).
func (m *Module) CertificateInvalidFails() bool {
	return m.FailIfCertificateInvalid != nil && *m.FailIfCertificateInvalid && !m.TLSConfig.InsecureSkipVerify
}

// BannerRegex returns the compiled fail_if_banner_not_matches (nil: none).
func (m *Module) BannerRegex() *regexp.Regexp { return m.bannerRegex }

// SourceIP returns the parsed source_ip_address (invalid: none).
func (m *Module) SourceIP() netip.Addr { return m.sourceIP }

// IPFallback reports whether the other address family may be used.
func (m *Module) IPFallback() bool { return m.IPProtocolFallback == nil || *m.IPProtocolFallback }

// ClientTLS returns a fresh TLS client config for one probe of serverName.
// Verification is switched off in the handshake because the prober verifies
// the chain itself afterwards: that way a bad certificate is still captured
// and reported with its dates.
func (m *Module) ClientTLS(serverName string) *tls.Config {
	c := m.live.tls.Load().client.Clone()
	c.ServerName = serverName
	return c
}

// Roots returns the CA pool that certificates are verified against (nil: the system pool).
func (m *Module) Roots() *x509.CertPool { return m.live.tls.Load().roots }

// Load reads and validates a configuration file. Relative file names in it
// (ca_file, cert_file, key_file, password_file) are relative to the file's
// directory, as in Prometheus' own configs, so the exporter may be started
// from anywhere.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data, filepath.Dir(path))
}

// Parse decodes and validates a configuration document strictly: unknown
// keys are errors that name the module and field. Relative file names in
// it are relative to the working directory.
func Parse(data []byte) (*Config, error) { return parse(data, "") }

func parse(data []byte, dir string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("config is empty: it needs a modules: section")
	}
	// Unknown keys do not stop the checks: --config.check lists every error.
	keyErr := checkKeys(doc.Content[0], reflect.TypeFor[Config](), nil)
	cfg := &Config{}
	if err := doc.Content[0].Decode(cfg); err != nil {
		return nil, errors.Join(keyErr, fmt.Errorf("parsing YAML: %w", err))
	}
	if dir != "" {
		cfg.resolvePaths(dir)
	}
	if err := errors.Join(keyErr, cfg.prepare()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ModuleNames returns the module names in order.
func (c *Config) ModuleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for name := range c.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Marshal renders the config as YAML with secrets hidden, for /config.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// resolvePaths makes the modules' relative file names relative to dir.
func (c *Config) resolvePaths(dir string) {
	for _, m := range c.Modules {
		if m == nil {
			continue
		}
		for _, f := range []*string{&m.TLSConfig.CAFile, &m.TLSConfig.CertFile, &m.TLSConfig.KeyFile} {
			*f = joinDir(dir, *f)
		}
		if m.Auth != nil {
			m.Auth.PasswordFile = joinDir(dir, m.Auth.PasswordFile)
		}
	}
}

func joinDir(dir, file string) string {
	if file == "" || filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}

func (c *Config) prepare() error {
	if len(c.Modules) == 0 {
		return errors.New("config has no modules")
	}
	// Every error is collected, so that --config.check lists them all.
	var errs []error
	for _, name := range c.ModuleNames() {
		m := c.Modules[name]
		if m == nil {
			m = &Module{}
			c.Modules[name] = m
		}
		if err := m.prepare(); err != nil {
			// One line per error, each naming the module.
			for _, e := range splitJoined(err) {
				errs = append(errs, fmt.Errorf("module %q: %w", name, e))
			}
		}
	}
	if c.AllowedTargets != nil {
		if err := c.AllowedTargets.prepare(); err != nil {
			errs = append(errs, fmt.Errorf("allowed_targets: %w", err))
		}
	}
	if c.Egress != nil {
		for _, err := range splitJoined(c.Egress.prepare()) {
			if err != nil {
				errs = append(errs, fmt.Errorf("egress: %w", err))
			}
		}
	}
	if c.PortModules == nil {
		c.PortModules = map[int]string{}
		for port, name := range DefaultPortModules {
			if _, ok := c.Modules[name]; ok {
				c.PortModules[port] = name
			}
		}
	}
	ports := make([]int, 0, len(c.PortModules))
	for port := range c.PortModules {
		ports = append(ports, port)
	}
	sort.Ints(ports)
	for _, port := range ports {
		name := c.PortModules[port]
		if port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("port_modules: port %d is out of range 1-65535", port))
		} else if _, ok := c.Modules[name]; !ok {
			errs = append(errs, fmt.Errorf("port_modules: port %d names module %q, which is not defined", port, name))
		}
	}
	return errors.Join(errs...)
}

// splitJoined returns the errors an errors.Join holds, or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

var tlsVersions = map[string]uint16{
	"TLS10": tls.VersionTLS10,
	"TLS11": tls.VersionTLS11,
	"TLS12": tls.VersionTLS12,
	"TLS13": tls.VersionTLS13,
}

// prepare sets defaults and validates; it goes on after an error where the
// fields are independent, so that --config.check lists every error.
func (m *Module) prepare() error {
	var errs []error
	if m.Timeout == 0 {
		m.Timeout = DefaultTimeout
	}
	if m.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", m.Timeout))
	}
	if m.IPProtocolFallback == nil {
		fallback := true
		m.IPProtocolFallback = &fallback
	}
	if m.Port < 0 || m.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: %d is out of range 1-65535", m.Port))
	}
	switch m.TLS {
	case "":
		m.TLS = TLSOpportunistic
	case TLSNone, TLSOpportunistic, TLSStartTLS, TLSImplicit:
	default:
		errs = append(errs, fmt.Errorf("tls: unknown mode %q (want none, opportunistic, starttls or implicit)", m.TLS))
	}
	if m.SourceIPAddress != "" {
		addr, err := netip.ParseAddr(m.SourceIPAddress)
		if err != nil || addr.Zone() != "" {
			errs = append(errs, fmt.Errorf("source_ip_address: %q is not an IP address", m.SourceIPAddress))
		}
		m.sourceIP = addr.Unmap()
		// The connection can only go to an address of the source's family.
		family := Family(m.sourceIP)
		switch m.IPProtocol {
		case "":
			m.IPProtocol = family
		case family:
		default:
			errs = append(errs, fmt.Errorf("source_ip_address: %s is not an %s address, as ip_protocol says", m.SourceIPAddress, m.IPProtocol))
		}
		if *m.IPProtocolFallback {
			// The other family cannot be reached from this address.
			fallback := false
			m.IPProtocolFallback = &fallback
		}
	}
	switch m.IPProtocol {
	case "":
		m.IPProtocol = "ip4"
	case "ip4", "ip6":
	default:
		errs = append(errs, fmt.Errorf("ip_protocol: unknown value %q (want ip4 or ip6)", m.IPProtocol))
	}
	if m.FailIfBannerNotMatches != "" {
		re, err := regexp.Compile(m.FailIfBannerNotMatches)
		if err != nil {
			errs = append(errs, fmt.Errorf("fail_if_banner_not_matches: %w", err))
		}
		m.bannerRegex = re
	}
	if m.Envelope != nil {
		if err := m.Envelope.prepare(); err != nil {
			errs = append(errs, fmt.Errorf("envelope: %w", err))
		}
	}
	if m.EHLOHostname != "" && strings.ContainsAny(m.EHLOHostname, " \t\r\n") {
		errs = append(errs, fmt.Errorf("ehlo_hostname: %q must not contain white space", m.EHLOHostname))
	}
	if err := m.prepareTLS(); err != nil {
		errs = append(errs, err)
	}
	if m.TLSPosture && m.TLS == TLSNone {
		return errors.New("tls_posture: the checks need TLS; set tls to opportunistic, starttls or implicit")
	}
	if m.FailIfLegacyTLSAccepted && !m.TLSPosture {
		return errors.New("fail_if_legacy_tls_accepted: needs tls_posture: true, which runs the legacy TLS checks")
	}
	if m.StartTLSInjectionCheck && m.TLS != TLSStartTLS && m.TLS != TLSOpportunistic {
		errs = append(errs, fmt.Errorf("starttls_injection_check: the check needs STARTTLS; tls is %s (set starttls or opportunistic)", m.TLS))
	}
	if m.FailIfCertificateInvalid == nil {
		fail := (m.TLS != TLSOpportunistic || m.Auth != nil) && !m.TLSConfig.InsecureSkipVerify
		m.FailIfCertificateInvalid = &fail
	} else if *m.FailIfCertificateInvalid && m.TLSConfig.InsecureSkipVerify {
		errs = append(errs, errors.New("fail_if_certificate_invalid: true contradicts tls_config.insecure_skip_verify: true; set one of them"))
	}
	if err := m.prepareMX(); err != nil {
		errs = append(errs, err)
	}
	if err := m.prepareDANEAndMTASTS(); err != nil {
		return err
	}
	if m.Auth != nil {
		if err := m.Auth.prepare(); err != nil {
			errs = append(errs, fmt.Errorf("auth: %w", err))
		} else if err := m.checkAuthBinding(); err != nil {
			errs = append(errs, fmt.Errorf("auth: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkAuthBinding ties a module's credentials to one server. Whoever can
// reach /probe names the target, so without a pinned name the password would
// go to any server whose certificate verifies for the name the caller chose:
// theirs. With tls_config.server_name set, the probe verifies the
// certificate against that name whatever the target, and sends the
// password only when it verifies.
func (m *Module) checkAuthBinding() error {
	switch {
	case m.TLS == TLSNone:
		return errors.New("credentials are never sent in clear text; set tls to opportunistic, starttls or implicit")
	case m.TLSConfig.InsecureSkipVerify:
		return errors.New("tls_config.insecure_skip_verify must not be set: credentials are sent only to a server whose certificate verifies")
	case m.TLSConfig.ServerName == "":
		return errors.New("tls_config.server_name is required: credentials are sent only to the server whose certificate verifies for this name, " +
			"not to whatever target a caller of /probe names")
	}
	return nil
}

// MinAuthTLSVersion is the oldest TLS version credentials are sent over:
// TLS 1.2 unless tls_config.min_version allows older (the handshake then
// refuses anything older than that already).
func (m *Module) MinAuthTLSVersion() uint16 {
	if v, ok := tlsVersions[m.TLSConfig.MinVersion]; ok {
		return v
	}
	return tls.VersionTLS12
}

func (m *Module) prepareTLS() error {
	tc := m.TLSConfig
	c := &tls.Config{
		// The prober verifies the chain itself after the handshake (see ClientTLS).
		InsecureSkipVerify: true, //nolint:gosec
		// Allow old versions by default so that a server stuck on TLS 1.0 is
		// reported as such instead of as a handshake failure.
		MinVersion: tls.VersionTLS10,
	}
	// Offer every cipher suite Go considers secure, including RSA key exchange,
	// which Go leaves out by default but many mail servers still rely on.
	for _, s := range tls.CipherSuites() {
		c.CipherSuites = append(c.CipherSuites, s.ID)
	}
	if tc.MinVersion != "" {
		v, ok := tlsVersions[tc.MinVersion]
		if !ok {
			return fmt.Errorf("tls_config: min_version: unknown version %q (want TLS10, TLS11, TLS12 or TLS13)", tc.MinVersion)
		}
		c.MinVersion = v
	}
	if tc.MaxVersion != "" {
		v, ok := tlsVersions[tc.MaxVersion]
		if !ok {
			return fmt.Errorf("tls_config: max_version: unknown version %q (want TLS10, TLS11, TLS12 or TLS13)", tc.MaxVersion)
		}
		c.MaxVersion = v
		if c.MaxVersion < c.MinVersion {
			return fmt.Errorf("tls_config: max_version %s is older than min_version", tc.MaxVersion)
		}
	}
	if (tc.CertFile == "") != (tc.KeyFile == "") {
		return errors.New("tls_config: cert_file and key_file must be set together")
	}
	m.tlsBase = c
	m.live = &liveFiles{seen: map[string][]byte{}, errs: map[string]string{}}
	for _, f := range []struct{ name, path string }{{"ca_file", tc.CAFile}, {"cert_file", tc.CertFile}, {"key_file", tc.KeyFile}} {
		if f.path == "" {
			continue
		}
		data, err := readBounded(f.path)
		if err != nil {
			if f.name == "ca_file" {
				return fmt.Errorf("tls_config: ca_file: %w", err)
			}
			return fmt.Errorf("tls_config: client certificate: %w", err)
		}
		m.live.seen[f.path] = data
	}
	state, err := m.buildTLS()
	if err != nil {
		return err
	}
	m.live.tls.Store(state)
	return nil
}

func (e *Envelope) prepare() error {
	switch e.Expect {
	case "":
		e.Expect = ExpectAccept
	case ExpectAccept, ExpectReject:
	default:
		return fmt.Errorf("expect: unknown value %q (want accept or reject)", e.Expect)
	}
	if e.MailFrom != "" {
		if err := checkMailbox(e.MailFrom); err != nil {
			return fmt.Errorf("mail_from: %w", err)
		}
	}
	if len(e.RcptTo) == 0 {
		return errors.New("rcpt_to: at least one address is required")
	}
	if len(e.RcptTo) > maxRecipients {
		return fmt.Errorf("rcpt_to: %d addresses, at most %d", len(e.RcptTo), maxRecipients)
	}
	for _, a := range e.RcptTo {
		if err := checkMailbox(a); err != nil {
			return fmt.Errorf("rcpt_to: %w", err)
		}
	}
	return nil
}

// checkMailbox accepts local@domain without the characters that would
// break the command line or the angle brackets around it.
func checkMailbox(a string) error {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.ContainsAny(a, " \t\r\n<>\x00") || len(a) > 254 {
		return fmt.Errorf("%q is not an address like postmaster@example.com", a)
	}
	return nil
}

func (a *Auth) prepare() error {
	if a.Username == "" {
		return errors.New("username is required")
	}
	switch {
	case a.PasswordFile != "" && a.PasswordEnv != "":
		return errors.New("set password_file or password_env, not both")
	case a.PasswordFile != "":
		data, err := readBounded(a.PasswordFile)
		if err != nil {
			return fmt.Errorf("password_file: %w", err)
		}
		a.password = newSecretCell(passwordFrom(data))
		a.seen = data
	case a.PasswordEnv != "":
		v, ok := os.LookupEnv(a.PasswordEnv)
		if !ok {
			return fmt.Errorf("password_env: environment variable %s is not set", a.PasswordEnv)
		}
		a.password = newSecretCell(Secret(v))
	default:
		return errors.New("password_file or password_env is required (passwords are not written in the config itself)")
	}
	return nil
}

// checkKeys walks a YAML mapping and reports keys that the Go type has no
// field for. yaml.v3's KnownFields does not reach into nested decoding, and
// its message names a Go type instead of the module, so we check ourselves.
func checkKeys(node *yaml.Node, t reflect.Type, path []string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	var errs []error // every unknown key, for --config.check
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return nil // a type error, which Decode reports
		}
		fields := map[string]reflect.Type{}
		for f := range t.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				fields[tag] = f.Type
			}
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			if key.Kind == yaml.ScalarNode && key.ShortTag() == "!!merge" {
				// "<<: *defaults" shares settings between modules; the merged
				// mapping must itself hold only known keys.
				if err := checkMerge(value, t, path); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			ft, ok := fields[key.Value]
			if !ok {
				errs = append(errs, fmt.Errorf("%sunknown field %q (line %d)", where(path), key.Value, key.Line))
				continue
			}
			if err := checkKeys(value, ft, append(path, key.Value)); err != nil {
				errs = append(errs, err)
			}
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			if err := checkKeys(node.Content[i+1], t.Elem(), append(path, node.Content[i].Value)); err != nil {
				errs = append(errs, err)
			}
		}
	case reflect.Slice:
		if node.Kind != yaml.SequenceNode || len(path) == 0 {
			return nil
		}
		// Entries are named by their index: `egress: canaries[1]: `.
		for i, item := range node.Content {
			at := append(slices.Clone(path[:len(path)-1]), fmt.Sprintf("%s[%d]", path[len(path)-1], i))
			if err := checkKeys(item, t.Elem(), at); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkMerge checks the value of a merge key: one mapping or alias, or a
// sequence of them.
func checkMerge(value *yaml.Node, t reflect.Type, path []string) error {
	if value.Kind == yaml.SequenceNode {
		for _, v := range value.Content {
			if err := checkKeys(v, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	return checkKeys(value, t, path)
}

// where names the place of a YAML path in an error: `module "x": tls_config: `.
func where(path []string) string {
	if len(path) == 0 {
		return ""
	}
	if path[0] == "modules" && len(path) > 1 {
		var b strings.Builder
		fmt.Fprintf(&b, "module %q: ", path[1])
		for _, p := range path[2:] {
			b.WriteString(p + ": ")
		}
		return b.String()
	}
	return strings.Join(path, ": ") + ": "
}

// Family is "ip4" or "ip6", as ip_protocol says an address's family.
func Family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "ip4"
	}
	return "ip6"
}

// PreferredAddr applies ip_protocol and ip_protocol_fallback to the
// addresses of one host, the one family rule of single targets and mail
// domains alike: the first address of the preferred family, else the first
// of the other one when fallback allows; false when neither may be used.
func (m *Module) PreferredAddr(addrs []netip.Addr) (netip.Addr, bool) {
	var other netip.Addr
	for _, a := range addrs {
		if Family(a) == m.IPProtocol {
			return a, true
		}
		if !other.IsValid() {
			other = a
		}
	}
	if other.IsValid() && m.IPFallback() {
		return other, true
	}
	return netip.Addr{}, false
}
