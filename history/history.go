// Package history keeps the last probes, of SMTP ports and of mail
// domains, in memory and shows them on the landing page: a table of the
// recent probes with their verdicts and warnings, each linking to its full
// report, under the probe form. Memory is bounded by the number of probes
// kept and by their size in bytes, oldest evicted first; the prober bounds
// each result.
package history

import (
	"slices"
	"sync"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// DefaultLimit is how many probes are kept unless --history.limit says otherwise.
const DefaultLimit = 100

// DefaultMaxBytes is the memory the kept probes may take unless
// --history.max-bytes says otherwise: a hostile server's conversation can
// make a result tens of kilobytes, and a hundred of them must still fit
// a small container beside the probes running.
const DefaultMaxBytes = 8 << 20

// Entry is one probe in the history.
type Entry struct {
	// ID numbers probes from 1 in the order they finished; it names the
	// probe's page, so it is never reused.
	ID uint64
	// Outcome is the probe's result, of a single target or a mail domain.
	Outcome prober.Outcome
}

// History is the last probes, oldest first; it is safe for concurrent use.
type History struct {
	mu       sync.Mutex
	limit    int
	maxBytes int64
	// entries grows as probes come, so that a large limit costs nothing
	// until it is used; sizes[i] is what entries[i] is counted as.
	entries []Entry
	sizes   []int64
	bytes   int64
	lastID  uint64
}

// New returns a history that keeps the last limit probes (none when limit
// is 0 or less) in at most DefaultMaxBytes.
func New(limit int) *History { return NewBounded(limit, DefaultMaxBytes) }

// NewBounded returns a history that keeps the last limit probes in at most
// maxBytes (as estimated from what each result holds): when either bound
// is reached the oldest probes go first. A result larger than maxBytes on
// its own is not kept.
func NewBounded(limit int, maxBytes int64) *History {
	return &History{limit: max(limit, 0), maxBytes: max(maxBytes, 0)}
}

// Limit is how many probes the history keeps.
func (h *History) Limit() int { return h.limit }

// Bytes is the estimated memory the kept probes take.
func (h *History) Bytes() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes
}

// Add records a finished probe of either kind (a domain's pairs counted in
// its size), dropping the oldest while either bound would be passed. It
// has the shape of handler.ProbeHandler's OnResult hook. Results must not
// change after.
func (h *History) Add(o prober.Outcome) {
	if h.limit == 0 {
		return
	}
	h.add(Entry{Outcome: o}, sizeOf(o)) // sized outside the lock: the result no longer changes
}

func (h *History) add(e Entry, size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastID++ // the ID is taken even when the result is too big to keep
	if size > h.maxBytes {
		return
	}
	for len(h.entries) > 0 && (len(h.entries) >= h.limit || h.bytes+size > h.maxBytes) {
		h.bytes -= h.sizes[0]
		// Clear before slicing, or the backing array keeps the result alive.
		h.entries[0], h.sizes[0] = Entry{}, 0
		h.entries, h.sizes = h.entries[1:], h.sizes[1:]
	}
	e.ID = h.lastID
	h.entries = append(h.entries, e)
	h.sizes = append(h.sizes, size)
	h.bytes += size
}

// Recent returns the kept probes, newest first.
func (h *History) Recent() []Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Entry, 0, len(h.entries))
	for _, e := range slices.Backward(h.entries) {
		out = append(out, e)
	}
	return out
}

// Get returns the probe with an ID, if it is still kept.
func (h *History) Get(id uint64) (Entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}
