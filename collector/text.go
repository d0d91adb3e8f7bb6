package collector

import (
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// metric is what the text format needs of a descriptor, which
// prometheus.Desc keeps to itself.
type metric struct {
	index      int // in metrics
	desc       *prometheus.Desc
	name, help string
	labels     []string // in the order Collect passes the values
	order      []int    // indexes into labels, sorted by label name
}

// family is a set of descriptors written together: those of a single
// probe, or those of a domain probe. Within one, names are unique.
type descSet struct {
	// metrics holds every descriptor of the family, sorted by name (the
	// order of the text format) once init has run.
	metrics []*metric
	byDesc  map[*prometheus.Desc]*metric
}

var (
	single = &descSet{byDesc: map[*prometheus.Desc]*metric{}}
	domain = &descSet{byDesc: map[*prometheus.Desc]*metric{}}
)

// newDesc is prometheus.NewDesc for a gauge of a single probe, remembered
// for Describe and WriteText. Descriptors are package variables, made
// before init.
func newDesc(name, help string, labels []string) *prometheus.Desc {
	return single.add(name, help, labels)
}

func (f *descSet) add(name, help string, labels []string) *prometheus.Desc {
	m := &metric{name: name, help: help, labels: labels}
	for i := range labels {
		m.order = append(m.order, i)
	}
	slices.SortFunc(m.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	m.desc = prometheus.NewDesc(name, help, labels, nil)
	f.metrics = append(f.metrics, m)
	f.byDesc[m.desc] = m
	return m.desc
}

func init() {
	addPairDescs()
	for _, f := range []*descSet{single, domain} {
		slices.SortFunc(f.metrics, func(a, b *metric) int { return strings.Compare(a.name, b.name) })
		for i, m := range f.metrics {
			m.index = i
		}
	}
}

type sample struct {
	metric int      // index in the family's metrics
	labels []string // in label name order
	value  float64
}

// scratch is what one write needs besides its output, kept for the next:
// the samples, one array for all their label values, the text.
type scratch struct {
	samples, sorted []sample
	ends            []int // per metric, where its samples end in sorted
	labels          []string
	text            []byte
}

var scratches = sync.Pool{New: func() any { return &scratch{text: make([]byte, 0, 8<<10)} }}

// WriteText writes the outcome's metrics in the Prometheus text format
// 0.0.4, byte for byte what a registry holding the Collector would give
// expfmt's text encoder: metrics sorted by name, series by label values.
// It skips the registry, the protobuf copies and the goroutines, which cost
// a plain probe more CPU than its SMTP conversation (docs/performance.md).
func WriteText(w io.Writer, o prober.Outcome) error {
	c := New(o)
	return c.descs().write(w, c.each)
}

// write writes what each emits in the text format.
func (f *descSet) write(w io.Writer, each func(emit func(d *prometheus.Desc, v float64, labels ...string))) error {
	sc := scratches.Get().(*scratch)
	defer func() {
		if cap(sc.text) > 64<<10 || cap(sc.labels) > 4<<10 {
			return // a hostile server's one large probe: not kept
		}
		clear(sc.labels) // no server text kept alive in the pool
		clear(sc.sorted)
		sc.samples, sc.sorted, sc.labels, sc.text = sc.samples[:0], sc.sorted[:0], sc.labels[:0], sc.text[:0]
		scratches.Put(sc)
	}()
	each(func(d *prometheus.Desc, v float64, labels ...string) {
		m := f.byDesc[d]
		start := len(sc.labels)
		for _, j := range m.order {
			sc.labels = append(sc.labels, labels[j])
		}
		// A three-index slice: a later append to the array must not write
		// into this sample's values (it copies them when it grows).
		sc.samples = append(sc.samples, sample{metric: m.index, labels: sc.labels[start:len(sc.labels):len(sc.labels)], value: v})
	})
	// By metric (the order of the text format), placed by counting, then
	// by label values within each metric; the order each gave is kept
	// among equals, as the registry keeps it.
	ends := append(sc.ends[:0], make([]int, len(f.metrics))...)
	for _, s := range sc.samples {
		ends[s.metric]++
	}
	sum := 0
	for i, n := range ends {
		ends[i], sum = sum, sum+n // where the metric's samples begin, for now
	}
	sorted := append(sc.sorted[:0], make([]sample, len(sc.samples))...)
	for _, s := range sc.samples {
		sorted[ends[s.metric]] = s
		ends[s.metric]++ // and at the end, where they end
	}
	byLabels := func(x, y sample) int { return slices.Compare(x.labels, y.labels) }
	begin := 0
	for _, end := range ends {
		if group := sorted[begin:end]; len(group) > 1 && !slices.IsSortedFunc(group, byLabels) {
			slices.SortStableFunc(group, byLabels)
		}
		begin = end
	}
	sc.ends, sc.sorted = ends, sorted

	b := sc.text
	for i, s := range sorted {
		m := f.metrics[s.metric]
		if i == 0 || sorted[i-1].metric != s.metric {
			b = append(b, "# HELP "...)
			b = append(b, m.name...)
			b = append(b, ' ')
			b = appendEscaped(b, m.help, false)
			b = append(b, "\n# TYPE "...)
			b = append(b, m.name...)
			b = append(b, " gauge\n"...)
		}
		b = append(b, m.name...)
		for i, j := range m.order {
			if i == 0 {
				b = append(b, '{')
			} else {
				b = append(b, ',')
			}
			b = append(b, m.labels[j]...)
			b = append(b, `="`...)
			b = appendEscaped(b, s.labels[i], true)
			b = append(b, '"')
		}
		if len(m.order) > 0 {
			b = append(b, '}')
		}
		b = append(b, ' ')
		b = appendFloat(b, s.value)
		b = append(b, '\n')
	}
	sc.text = b
	_, err := w.Write(b)
	return err
}

// appendEscaped escapes as the text format wants: backslash and line feed
// always, the double quote inside label values.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats as expfmt does: shortest 'g' form, Prometheus' names
// for the infinities and NaN.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
