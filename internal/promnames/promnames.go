// Package promnames answers, for the tests of the operator files (alert
// rules, dashboards), which metric names a PromQL expression uses and which
// the exporter emits, without pulling the Prometheus server module into
// go.mod: promtool and the real Prometheus do the full parsing.
package promnames

import (
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/collector"
	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/egress"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// FromPrometheus are series Prometheus itself makes, which queries may use.
var FromPrometheus = []string{"up", "ALERTS", "ALERTS_FOR_STATE"}

// descString picks the name, the constant labels and the variable labels
// out of a descriptor's String(), the only way client_golang shows them.
var (
	descString = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*constLabels: \{(.*)\}, variableLabels: \{([^}]*)\}\}$`)
	constLabel = regexp.MustCompile(`(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// Metric is a metric name with the labels of one of its descriptors: the
// variable ones in their order, then the constant ones.
type Metric struct {
	Name   string
	Labels []string
}

// Described returns the metrics the collectors describe, in their order.
func Described(cs ...prometheus.Collector) []Metric {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []Metric
	for d := range ch {
		m := descString.FindStringSubmatch(d.String())
		if m == nil {
			continue
		}
		var labels []string
		if m[3] != "" {
			labels = strings.Split(m[3], ",")
		}
		for _, c := range constLabel.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, c[1])
		}
		out = append(out, Metric{Name: m[1], Labels: labels})
	}
	return out
}

// ProbeMetrics returns every metric a probe can emit with its labels: all
// the descriptors the collector declares, for single targets and for mail
// domains (a name a domain's pairs repeat comes twice, with mx and address
// added the second time).
func ProbeMetrics() []Metric {
	return Described(collector.New(&prober.Result{}), collector.New(&maildomain.Result{}))
}

// Probe returns every metric name a probe can emit, sorted.
func Probe() []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range ProbeMetrics() {
		if !seen[m.Name] {
			seen[m.Name] = true
			names = append(names, m.Name)
		}
	}
	sort.Strings(names)
	return names
}

// Exporter returns the names of the exporter's own /metrics that rules
// and dashboards may read: the reload metrics of config.SafeConfig,
// gathered from a real one, the egress canaries' series, and
// smtp_exporter_build_info from the version collector.
func Exporter() []string {
	reg := prometheus.NewRegistry()
	config.NewSafeConfig("", nil, reg)
	names := []string{"smtp_exporter_build_info"}
	// The egress series exist only with canaries: a snapshot covering one
	// port gives every name.
	tr := egress.NewTracker(1)
	tr.Record("canary", egress.Key{Port: 25, Family: "ip4"}, egress.Attempt{Outcome: egress.OutcomeOK})
	reg.MustRegister(collector.NewEgress(tr.Snapshot))
	mfs, err := reg.Gather()
	if err != nil {
		panic(err) // the registry holds only SafeConfig's own metrics
	}
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	return names
}

// aggregations and keywords are identifiers that are not metric names even
// when no parenthesis follows them directly ("sum by (x) (...)", "a and b").
var (
	aggregations = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio")
	keywords = set("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end")
	// grouping keywords are followed by a list of label names.
	grouping = set("by", "without", "on", "ignoring", "group_left", "group_right")
)

func set(words ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words {
		m[w] = true
	}
	return m
}

// InQuery returns the metric names a PromQL expression selects, in order of
// appearance, without duplicates. It is a lexer, not a parser: it assumes an
// expression that parses, and skips strings, label matchers, ranges,
// numbers, function and aggregation names, keywords and grouping label lists.
func InQuery(expr string) []string {
	var names []string
	seen := map[string]bool{}
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		case c == '{':
			i = skipTo(s, i, '}')
		case c == '[':
			i = skipTo(s, i, ']')
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			switch {
			case grouping[word]:
				if k < len(s) && s[k] == '(' {
					j = skipTo(s, k, ')')
				}
			case k < len(s) && s[k] == '(', aggregations[word], keywords[word]:
				// A function, an aggregation or an operator.
			default:
				if !seen[word] {
					seen[word] = true
					names = append(names, word)
				}
			}
			i = j
		default:
			i++
		}
	}
	return names
}

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) int {
	q := s[i]
	for i++; i < len(s); i++ {
		if s[i] == '\\' && q != '`' {
			i++
			continue
		}
		if s[i] == q {
			return i + 1
		}
	}
	return i
}

// skipTo returns the index after the first closing byte outside strings, from i.
func skipTo(s string, i int, closing byte) int {
	for i++; i < len(s); {
		switch s[i] {
		case '"', '\'', '`':
			i = skipString(s, i)
		case closing:
			return i + 1
		default:
			i++
		}
	}
	return i
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdent(c byte) bool      { return isIdentStart(c) || isDigit(c) }
