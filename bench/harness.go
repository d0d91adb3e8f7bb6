package main

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
)

// harness lets the driver reuse internal/smtptest's servers and
// certificates, whose helpers take a testing.TB, outside of `go test`.
// The embedded TB is nil: it only supplies the unexported method, and a
// helper calling a method not defined here would panic at once.
type harness struct {
	testing.TB

	dir      string
	mu       sync.Mutex
	cleanups []func()
}

func newHarness() (*harness, error) {
	dir, err := os.MkdirTemp("", "smtp_exporter-bench")
	if err != nil {
		return nil, err
	}
	return &harness{dir: dir}, nil
}

func (h *harness) Helper() {}

func (h *harness) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func (h *harness) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (h *harness) Cleanup(f func()) {
	h.mu.Lock()
	h.cleanups = append(h.cleanups, f)
	h.mu.Unlock()
}

func (h *harness) TempDir() string {
	dir, err := os.MkdirTemp(h.dir, "t")
	if err != nil {
		panic(err)
	}
	return dir
}

// close runs the cleanups, last registered first, and removes the files.
func (h *harness) close() {
	h.mu.Lock()
	fs := h.cleanups
	h.cleanups = nil
	h.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
	os.RemoveAll(h.dir)
}
