package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Egress is the exporter-level egress section: canaries, SMTP listeners
// the operator knows to be good, tried from this host so that a blocked
// port is told apart from a failing target (package egress). It describes
// the vantage point, not a module.
type Egress struct {
	Canaries []Canary `yaml:"canaries"`
	// Interval is how often each canary is tried, whatever the number of
	// targets and scrapes.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one attempt: connect, greeting, QUIT.
	Timeout time.Duration `yaml:"timeout"`
	// Quorum is how many canaries of a port and family must fail before
	// its state leaves open (all of them, where fewer cover it).
	Quorum int `yaml:"quorum"`
}

// Canary is one SMTP listener of the egress section.
type Canary struct {
	// Target is host:port; a host name covers every address family it
	// has (unless ip_protocol says one), an address its own.
	Target string `yaml:"target"`
	// ExpectBanner is a regular expression the greeting must match, as
	// sent: reply code included, lines joined by newlines.
	ExpectBanner string `yaml:"expect_banner,omitempty"`
	// IPProtocol limits a canary named by a host name to ip4 or ip6.
	IPProtocol string `yaml:"ip_protocol,omitempty"`
	// ExpectCertificateName, when set, makes the canary upgrade with
	// STARTTLS (port 465: speak TLS from the first byte) and requires its
	// certificate to verify for this name against the system's roots.
	ExpectCertificateName string `yaml:"expect_certificate_name,omitempty"`

	host        string
	port        int
	addr        netip.Addr // valid when the target is an address
	bannerRegex *regexp.Regexp
}

// Bounds and defaults of the egress section.
const (
	DefaultEgressInterval = 60 * time.Second
	DefaultEgressTimeout  = 5 * time.Second
	// DefaultEgressQuorum: one dead canary never changes the state.
	DefaultEgressQuorum = 2
	// MinEgressInterval keeps canaries, which the operator may not own,
	// from being hammered.
	MinEgressInterval = time.Second
	// MaxCanaries bounds the connections the canaries open per interval.
	MaxCanaries = 32
)

// Host is the canary's host name or address.
func (c *Canary) Host() string { return c.host }

// Port is the canary's port.
func (c *Canary) Port() int { return c.port }

// Addr is the canary's address when its target is one (invalid otherwise).
func (c *Canary) Addr() netip.Addr { return c.addr }

// BannerRegex is the compiled expect_banner (nil: any 220 greeting).
func (c *Canary) BannerRegex() *regexp.Regexp { return c.bannerRegex }

// Families are the address families the canary may cover: its address's,
// the one ip_protocol names, or both for a host name.
func (c *Canary) Families() []string {
	switch {
	case c.addr.IsValid():
		return []string{familyOf(c.addr)}
	case c.IPProtocol != "":
		return []string{c.IPProtocol}
	}
	return []string{"ip4", "ip6"}
}

func familyOf(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "ip4"
	}
	return "ip6"
}

// Equal says two sections try the same canaries the same way; a reload
// that changes nothing else keeps the canaries' history.
func (c Canary) Equal(o Canary) bool {
	return c.Target == o.Target && c.ExpectBanner == o.ExpectBanner &&
		c.IPProtocol == o.IPProtocol && c.ExpectCertificateName == o.ExpectCertificateName
}

// prepare sets defaults and validates; every error names its field.
func (e *Egress) prepare() error {
	var errs []error
	switch n := len(e.Canaries); {
	case n == 0:
		errs = append(errs, errors.New("canaries: at least one canary is required (an SMTP listener known to be good, as host:port)"))
	case n > MaxCanaries:
		errs = append(errs, fmt.Errorf("canaries: %d canaries, at most %d", n, MaxCanaries))
	}
	seen := map[string]int{}
	for i := range e.Canaries {
		c := &e.Canaries[i]
		if err := c.prepare(); err != nil {
			for _, err := range splitJoined(err) {
				errs = append(errs, fmt.Errorf("canaries[%d]: %w", i, err))
			}
			continue
		}
		id := strings.ToLower(net.JoinHostPort(c.host, strconv.Itoa(c.port)))
		if first, dup := seen[id]; dup {
			errs = append(errs, fmt.Errorf("canaries[%d]: target: %q is canaries[%d] already", i, c.Target, first))
		}
		seen[id] = i
	}
	switch {
	case e.Interval == 0:
		e.Interval = DefaultEgressInterval
	case e.Interval < MinEgressInterval:
		errs = append(errs, fmt.Errorf("interval: %s is shorter than %s", e.Interval, MinEgressInterval))
	}
	switch {
	case e.Timeout == 0:
		e.Timeout = min(DefaultEgressTimeout, e.Interval)
	case e.Timeout < 0:
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", e.Timeout))
	case e.Timeout > e.Interval:
		errs = append(errs, fmt.Errorf("timeout: %s is longer than the interval (%s): each canary is tried at most once per interval", e.Timeout, e.Interval))
	}
	switch {
	case e.Quorum == 0:
		e.Quorum = min(DefaultEgressQuorum, max(1, len(e.Canaries)))
	case e.Quorum < 0:
		errs = append(errs, fmt.Errorf("quorum: must be 1 or more, got %d", e.Quorum))
	case e.Quorum > len(e.Canaries) && len(e.Canaries) > 0:
		errs = append(errs, fmt.Errorf("quorum: %d is more than the %d canaries", e.Quorum, len(e.Canaries)))
	}
	return errors.Join(errs...)
}

func (c *Canary) prepare() error {
	var errs []error
	host, portStr, err := net.SplitHostPort(c.Target)
	port, perr := strconv.Atoi(portStr)
	switch {
	case c.Target == "":
		return errors.New("target: is required, as host:port")
	case err != nil:
		return fmt.Errorf("target: %q is not host:port (a canary's port is the port it covers)", c.Target)
	case perr != nil || port < 1 || port > 65535:
		return fmt.Errorf("target: %q: port %q is not a number from 1 to 65535", c.Target, portStr)
	}
	c.host, c.port = strings.TrimSuffix(host, "."), port
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("target: %q: an address with a zone cannot be a canary", c.Target)
		}
		c.addr = a.Unmap()
	} else if !ValidHostname(c.host) {
		return fmt.Errorf("target: %q: %q is neither an IP address nor a host name", c.Target, host)
	}
	switch c.IPProtocol {
	case "":
	case "ip4", "ip6":
		if c.addr.IsValid() && familyOf(c.addr) != c.IPProtocol {
			errs = append(errs, fmt.Errorf("ip_protocol: %s contradicts the target's address %s", c.IPProtocol, c.addr))
		}
	default:
		errs = append(errs, fmt.Errorf("ip_protocol: unknown value %q (want ip4 or ip6)", c.IPProtocol))
	}
	if c.ExpectBanner != "" {
		re, err := regexp.Compile(c.ExpectBanner)
		if err != nil {
			errs = append(errs, fmt.Errorf("expect_banner: %w", err))
		}
		c.bannerRegex = re
	}
	if n := c.ExpectCertificateName; n != "" && !ValidHostname(strings.TrimSuffix(n, ".")) {
		errs = append(errs, fmt.Errorf("expect_certificate_name: %q is not a host name", n))
	}
	return errors.Join(errs...)
}
