package dashgen

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/reasons"
)

// The failure reasons are put in words by the reasons package's table, in
// the order of the prober's lists.

// warningMapping is the value mapping of a warning reason: the same words,
// orange (the probe succeeded; mail still flows).
func warningMapping() dashboard.ValueMapping {
	m := map[string]dashboard.ValueMappingResult{}
	for i, r := range prober.Reasons {
		m[string(r)] = result(reasons.Of(r).Short, string(reasons.Orange), int32(i)) //nolint:gosec // a short fixed list
	}
	return valueMapping(m)
}

// scrapeFailed is the status of a target whose probe Prometheus cannot
// scrape (the target matrix): nothing is known of the target.
const scrapeFailed = "scrape failed"

// reasonMapping is the value mapping of a failure reason column or cell.
func reasonMapping() dashboard.ValueMapping {
	m := map[string]dashboard.ValueMappingResult{}
	for i, r := range prober.Reasons {
		w := reasons.Of(r)
		m[string(r)] = result(w.Short, string(w.Color), int32(i)) //nolint:gosec // a short fixed list
	}
	m[scrapeFailed] = result("scrape failed (Prometheus targets)", "purple", int32(len(prober.Reasons))) //nolint:gosec // a short fixed list
	return valueMapping(m)
}

// domainReasonMapping is the value mapping of a domain's failure reason.
func domainReasonMapping() dashboard.ValueMapping { return domainReasonMappingWith("") }

// domainReasonMappingWith maps prefix+reason to a domain reason's words
// (the Overview's matrix marks a domain's reasons with a prefix).
func domainReasonMappingWith(prefix string) dashboard.ValueMapping {
	m := map[string]dashboard.ValueMappingResult{}
	for i, r := range maildomain.Reasons {
		w := reasons.OfDomain(r)
		m[prefix+string(r)] = result(w.Short, string(w.Color), int32(300+i)) //nolint:gosec // a short fixed list
	}
	return valueMapping(m)
}
