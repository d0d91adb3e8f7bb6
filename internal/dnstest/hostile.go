package dnstest

import "fmt"

// HostileMX is the zone of issue 23's attack on domain probes: domain
// has hosts MX hosts (h00.DOMAIN, h01.DOMAIN, ..., preferences 10, 11,
// ...), each with perFamily A records on loopback (127.0.10+H.1, ...) and
// as many AAAA records in the documentation range (2001:db8:H::1, ...),
// which a test's allow-list must refuse: they are never to be dialed.
func HostileMX(domain string, hosts, perFamily int) []string {
	var records []string
	for h := range hosts {
		name := fmt.Sprintf("h%02d.%s", h, domain)
		records = append(records, fmt.Sprintf("%s. 300 IN MX %d %s.", domain, 10+h, name))
		for i := range perFamily {
			records = append(records,
				fmt.Sprintf("%s. 300 IN A 127.0.%d.%d", name, 10+h, i+1),
				fmt.Sprintf("%s. 300 IN AAAA 2001:db8:%x::%x", name, h, i+1))
		}
	}
	return records
}
