// Package history keeps the last probes in memory and shows them on the
// landing page: a table of the recent probes, each linking to its full
// report, under the probe form. Memory is bounded by the number of probes
// kept; the prober bounds each result.
package history

import (
	"sync"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// DefaultLimit is how many probes are kept unless --history.limit says otherwise.
const DefaultLimit = 100

// Entry is one probe in the history.
type Entry struct {
	// ID numbers probes from 1 in the order they finished; it names the
	// probe's page, so it is never reused.
	ID     uint64
	Result *prober.Result
	// Domain is set instead of Result for a mail-domain probe.
	Domain *prober.DomainResult
}

// History is a ring of the last probes; it is safe for concurrent use.
type History struct {
	mu    sync.Mutex
	limit int
	// ring grows up to limit as probes come, so that a large limit costs
	// nothing until it is used.
	ring   []Entry
	next   int // where the next entry goes
	lastID uint64
}

// New returns a history that keeps the last limit probes (none when limit
// is 0 or less).
func New(limit int) *History {
	return &History{limit: max(limit, 0)}
}

// Limit is how many probes the history keeps.
func (h *History) Limit() int { return h.limit }

// Add records a finished probe, dropping the oldest when full. It has the
// shape of handler.Probe's OnResult hook. Results must not change after.
func (h *History) Add(r *prober.Result) { h.add(Entry{Result: r}) }

// AddDomain records a finished domain probe, as Add does.
func (h *History) AddDomain(d *prober.DomainResult) { h.add(Entry{Domain: d}) }

func (h *History) add(e Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.limit == 0 {
		return
	}
	h.lastID++
	e.ID = h.lastID
	if len(h.ring) < h.limit {
		h.ring = append(h.ring, e)
	} else {
		h.ring[h.next] = e
	}
	h.next = (h.next + 1) % h.limit
}

// Recent returns the kept probes, newest first.
func (h *History) Recent() []Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Entry, 0, len(h.ring))
	for i := range len(h.ring) {
		// h.next-1 is the newest; walk backwards around the ring.
		out = append(out, h.ring[(h.next-1-i+2*len(h.ring))%len(h.ring)])
	}
	return out
}

// Get returns the probe with an ID, if it is still kept.
func (h *History) Get(id uint64) (Entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.ring {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}
