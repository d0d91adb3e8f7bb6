package prober

import (
	"net"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

// Resolvers are the DNS clients of one probe, one per kind of question.
type Resolvers struct {
	// Hosts answers the A and AAAA questions of a target's host name.
	Hosts *net.Resolver
	// DNS answers the questions that need the AD bit or a record type the
	// system resolver does not ask: TLSA (DANE), and a mail domain's MX,
	// the MX hosts' A and AAAA, the TXT of MTA-STS and TLS-RPT and the
	// MTA-STS policy host. Nil for a module that asks none of them.
	DNS *resolver.Resolver
	// Reverse answers reverse_dns: PTR, and A/AAAA of the PTR names.
	Reverse ReverseResolver
}

// ChooseResolvers decides, in one place and one order, which resolver
// answers which question of a probe under module. The order is the same
// for every question: what the caller set in Options (only tests set
// anything), then the module's dns section, then the system's resolver.
//
//   - Host names: Options.Resolver, else the module's dns.server (through a
//     net.Resolver), else net.DefaultResolver, which reads /etc/hosts and
//     /etc/resolv.conf.
//   - TLSA, and a mail domain's MX, A and AAAA and TXT: Options.DNS, else
//     the module's DNS client (config.Module.Resolver): its dns.server, or
//     for a mail-domain or DANE module without one the first nameserver of
//     /etc/resolv.conf, which must validate DNSSEC for DANE to mean
//     anything.
//   - PTR and its forward confirmation (reverse_dns): the DNS client above
//     when there is one, else the host-name resolver.
func ChooseResolvers(module *config.Module, opts Options) Resolvers {
	rs := Resolvers{Hosts: opts.Resolver, DNS: opts.DNS}
	if rs.Hosts == nil {
		rs.Hosts = module.NetResolver()
	}
	if rs.Hosts == nil {
		rs.Hosts = net.DefaultResolver
	}
	if rs.DNS == nil {
		rs.DNS = module.Resolver()
	}
	if rs.DNS != nil {
		rs.Reverse = DNSReverseResolver{rs.DNS}
	} else {
		rs.Reverse = NetReverseResolver{rs.Hosts}
	}
	return rs
}
