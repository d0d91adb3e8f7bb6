package config

import (
	"context"
	"fmt"
	"net"

	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// MX is the mx section of a module, which makes it probe a mail domain: its MX hosts, and every
// address of each (see maildomain.Probe).
type MX struct {
	// MaxHosts is how many MX hosts are probed, lowest preference first.
	MaxHosts int `yaml:"max_hosts"`
	// MaxAddresses is how many addresses of each MX host are probed, per
	// family (IPv4, IPv6), in the order of the answer.
	MaxAddresses int `yaml:"max_addresses"`
	// MaxPairs is how many (MX host, address) pairs one probe holds a
	// conversation with (or refuses, or finds without address), lowest
	// preference first: the bound on a probe's work whatever DNS says.
	MaxPairs int `yaml:"max_pairs"`
	// Concurrency is how many of the pairs are probed at once.
	Concurrency int `yaml:"concurrency"`
	// Addresses is MXAddressesAll or MXAddressesFirst.
	Addresses string `yaml:"addresses"`
	// Success is MXSuccessAll, MXSuccessAny or MXSuccessPrimary.
	Success string `yaml:"success"`
	// ExpectNullMX is for a domain that sends mail only: it must publish
	// RFC 7505's null MX ("MX 0 ."), which is then the probe's success, and
	// anything else (MX records, or none: an implicit MX) its failure.
	ExpectNullMX bool `yaml:"expect_null_mx,omitempty"`
}

// Values of mx.addresses and mx.success.
const (
	MXAddressesAll   = "all"   // every A and AAAA of each host
	MXAddressesFirst = "first" // one address per host, of ip_protocol's family
	MXSuccessAll     = "all"   // every probed address succeeds
	MXSuccessAny     = "any"   // at least one does
	MXSuccessPrimary = "primary"
)

// Bounds of an mx section.
const (
	DefaultMXMaxHosts = 10
	// MaxMXMaxHosts keeps one scrape from fanning out to hundreds of hosts.
	MaxMXMaxHosts = 50
	// DefaultMXMaxAddresses: two of each family show a host's redundancy
	// (real MX hosts have one or two), not the 64 a hostile zone gives.
	DefaultMXMaxAddresses = 2
	MaxMXMaxAddresses     = 16
	// DefaultMXMaxPairs covers a domain of 4 MX hosts with 2 addresses of
	// each family; MaxMXMaxPairs is what one scrape may cost at most.
	DefaultMXMaxPairs = 16
	MaxMXMaxPairs     = 64
	// DefaultMXConcurrency is the pairs probed at once: a domain of 2 MX
	// hosts x 2 addresses in one round trip. Each takes a slot of
	// --probe.max-concurrent while it runs.
	DefaultMXConcurrency = 4
	MaxMXConcurrency     = 16
	// DefaultMXPort is the port of a domain module that sets none: MX hosts
	// receive mail on 25.
	DefaultMXPort = 25
)

// DNS chooses the server a module's lookups go to.
type DNS struct {
	// Server is host:port (port 53 when omitted) of a DNS server; empty:
	// the first nameserver of /etc/resolv.conf.
	Server string `yaml:"server,omitempty"`
	// KnownGoodName is a name the server must always answer: when a
	// lookup fails, it tells the server's own failure from the name's
	// (resolver.Diagnose). Default: the root, which needs a resolver that
	// reaches the internet; a closed network names one of its own zones.
	KnownGoodName string `yaml:"known_good_name,omitempty"`
}

// IsDomain says the module's targets are mail domains.
func (m *Module) IsDomain() bool { return m.MX != nil }

// Resolver is the DNS client of a domain module, or of any module with a
// dns section (nil otherwise).
func (m *Module) Resolver() *resolver.Resolver { return m.resolver }

// NetResolver is a resolver for the host names of single targets: one that
// asks dns.server when the module sets it, nil (the system's) otherwise.
func (m *Module) NetResolver() *net.Resolver { return m.netResolver }

func (m *Module) prepareMX() error {
	if m.DNS != nil || m.MX != nil {
		server := ""
		if m.DNS != nil {
			server = m.DNS.Server
		}
		r, err := resolver.New(server)
		if err != nil {
			return fmt.Errorf("dns: server: %w", err)
		}
		if m.DNS != nil {
			if err := r.SetKnownGoodName(m.DNS.KnownGoodName); err != nil {
				return fmt.Errorf("dns: %w", err)
			}
		}
		m.resolver = r
		if m.DNS != nil && m.DNS.Server != "" {
			m.DNS.Server = r.Server()
			addr := r.Server()
			m.netResolver = &net.Resolver{
				PreferGo: true,
				Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				},
			}
		}
	}
	if m.MX == nil {
		return nil
	}
	mx := m.MX
	for _, b := range []struct {
		field     *int
		name      string
		def, most int
		what      string
	}{
		{&mx.MaxHosts, "max_hosts", DefaultMXMaxHosts, MaxMXMaxHosts, ""},
		{&mx.MaxAddresses, "max_addresses", DefaultMXMaxAddresses, MaxMXMaxAddresses, " (addresses per MX host and family)"},
		{&mx.MaxPairs, "max_pairs", DefaultMXMaxPairs, MaxMXMaxPairs, " ((MX host, address) pairs per probe)"},
		{&mx.Concurrency, "concurrency", DefaultMXConcurrency, MaxMXConcurrency, " (pairs probed at once)"},
	} {
		if *b.field == 0 {
			*b.field = b.def
		}
		if *b.field < 1 || *b.field > b.most {
			return fmt.Errorf("mx: %s: %d is out of range 1-%d%s", b.name, *b.field, b.most, b.what)
		}
	}
	switch mx.Addresses {
	case "":
		mx.Addresses = MXAddressesAll
	case MXAddressesAll, MXAddressesFirst:
	default:
		return fmt.Errorf("mx: addresses: unknown value %q (want all or first)", mx.Addresses)
	}
	switch mx.Success {
	case "":
		mx.Success = MXSuccessAll
	case MXSuccessAll, MXSuccessAny, MXSuccessPrimary:
	default:
		return fmt.Errorf("mx: success: unknown value %q (want all, any or primary)", mx.Success)
	}
	if m.Port == 0 {
		m.Port = DefaultMXPort
	}
	return nil
}
