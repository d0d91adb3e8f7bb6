package history

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// bigResult is a result whose transcript holds n bytes of text.
func bigResult(target string, n int) *prober.Result {
	r := result(target, false)
	for n > 0 {
		line := min(n, 512)
		r.Transcript = append(r.Transcript, prober.TranscriptLine{At: time.Millisecond, From: "S", Text: strings.Repeat("x", line)})
		n -= line
	}
	return r
}

func TestSizeOf(t *testing.T) {
	small := sizeOf(result("mx.example:25", true))
	big := sizeOf(bigResult("mx.example:25", 32<<10))
	if small <= 0 || small > 4<<10 {
		t.Errorf("a bare result: %d bytes", small)
	}
	// The text, and each line's header, are counted.
	if big < 32<<10 || big > 40<<10 {
		t.Errorf("a result with 32 KiB of transcript: %d bytes", big)
	}
	r := bigResult("mx.example:25", 0)
	r.TLS = &prober.TLSInfo{Certificates: []prober.CertInfo{{Subject: strings.Repeat("s", 1000), SANs: []string{strings.Repeat("a", 2000)}}}}
	if got := sizeOf(r) - sizeOf(bigResult("mx.example:25", 0)); got < 3000 {
		t.Errorf("a certificate's names add %d bytes, want at least 3000", got)
	}
}

// TestMaxBytes: the history keeps what fits in its byte bound, evicting
// the oldest first, as well as its count.
func TestMaxBytes(t *testing.T) {
	one := sizeOf(bigResult("mx1.example:25", 20<<10)) // every target below has as many bytes
	cases := []struct {
		name       string
		limit      int
		maxBytes   int64
		adds       int
		wantRecent []uint64
	}{
		{"bytes bind before the count", 100, 3*one + one/2, 6, []uint64{6, 5, 4}},
		{"the count binds before bytes", 2, 100 * one, 6, []uint64{6, 5}},
		{"exactly full", 100, 2 * one, 3, []uint64{3, 2}},
		{"a result larger than the bound is not kept", 100, one - 1, 3, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewBounded(tc.limit, tc.maxBytes)
			for i := range tc.adds {
				h.Add(bigResult(fmt.Sprintf("mx%d.example:25", i+1), 20<<10))
			}
			if got := ids(h.Recent()); !slices.Equal(got, tc.wantRecent) {
				t.Errorf("recent %v, want %v", got, tc.wantRecent)
			}
			if h.Bytes() > tc.maxBytes || h.Bytes() != int64(len(tc.wantRecent))*one {
				t.Errorf("bytes %d, want %d (bound %d)", h.Bytes(), int64(len(tc.wantRecent))*one, tc.maxBytes)
			}
		})
	}
	// A big result evicts as many small ones as it needs, oldest first.
	bound := 2*one + one/16
	h := NewBounded(100, bound)
	for i := range 10 {
		h.Add(result(fmt.Sprintf("mx%d.example:25", i+1), true))
	}
	h.Add(bigResult("mx1.example:25", 20<<10))
	h.Add(bigResult("mx2.example:25", 20<<10))
	recent := h.Recent()
	if len(recent) < 3 || len(recent) > 11 || recent[0].ID != 12 || recent[1].ID != 11 {
		t.Errorf("after two big results: kept %v, want both big ones and some of the newest small ones", ids(recent))
	}
	if h.Bytes() > bound {
		t.Errorf("bytes %d over the bound %d", h.Bytes(), bound)
	}
}

func BenchmarkSizeOf(b *testing.B) {
	r := bigResult("mx.example:25", 8<<10)
	r.TLS = &prober.TLSInfo{Certificates: make([]prober.CertInfo, 3)}
	for i := range r.TLS.Certificates {
		r.TLS.Certificates[i] = prober.CertInfo{Subject: "CN=mx.example", Issuer: "CN=CA", SANs: []string{"mx.example", "www.example"}}
	}
	b.ReportAllocs()
	for b.Loop() {
		sizeOf(r)
	}
}
