package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

var (
	daneStatusDesc = newDesc("probe_smtp_dane_status",
		"The DANE status of the TLS session (RFC 7672): 1 for the current status, 0 for the others; all 0 when it was not checked.", []string{"status"})
	daneRecordsDesc = newDesc("probe_smtp_dane_records",
		"How many TLSA records of each certificate usage the answer held.", []string{"usage"})
	daneSecureDesc = newDesc("probe_smtp_dane_dnssec_secure",
		"Whether the TLSA answer (or its denial) was DNSSEC-secure: the validating resolver set the AD bit.", nil)
	daneMatchDesc = newDesc("probe_smtp_dane_match_info",
		"The TLSA record that validated the presented chain.", []string{"usage", "selector", "matching_type"})
)

// daneSeries emits the DANE series of a probe whose module checks DANE.
func daneSeries(d *prober.DANEResult, gauge func(d *prometheus.Desc, v float64, labels ...string)) {
	if d == nil {
		return
	}
	for _, s := range dane.Statuses {
		gauge(daneStatusDesc, boolValue(d.Status == s), string(s))
	}
	counts := make([]float64, len(dane.Usages))
	for _, c := range d.Verdicts {
		if int(c.Record.Usage) < len(counts) {
			counts[c.Record.Usage]++
		}
	}
	for i, u := range dane.Usages {
		gauge(daneRecordsDesc, counts[i], strconv.Itoa(int(u)))
	}
	gauge(daneSecureDesc, boolValue(d.Secure))
	if m := d.Matched; m != nil {
		gauge(daneMatchDesc, 1, strconv.Itoa(int(m.Usage)), strconv.Itoa(int(m.Selector)), strconv.Itoa(int(m.MatchingType)))
	}
}
