package smtptest

import (
	"fmt"
	"os"
	"slices"
	"sync"
)

// T is what the servers and certificates of this package need from their
// caller: testing.TB has it, for tests, and Env has it, for programs that
// run the same servers outside `go test` (the bench driver).
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Env is a T for a program: Fatal panics with the message (there is no
// test to fail), and Close runs the cleanups and removes the temporary
// directories.
type Env struct {
	dir      string
	mu       sync.Mutex
	cleanups []func()
}

var _ T = (*Env)(nil)

// NewEnv returns an Env whose temporary directories live under one new
// directory.
func NewEnv() (*Env, error) {
	dir, err := os.MkdirTemp("", "smtptest")
	if err != nil {
		return nil, err
	}
	return &Env{dir: dir}, nil
}

// Helper does nothing: there are no test frames to hide.
func (e *Env) Helper() {}

// Fatal panics: a program's set-up that fails cannot go on.
func (e *Env) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// Fatalf panics: a program's set-up that fails cannot go on.
func (e *Env) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Cleanup registers f for Close.
func (e *Env) Cleanup(f func()) {
	e.mu.Lock()
	e.cleanups = append(e.cleanups, f)
	e.mu.Unlock()
}

// TempDir returns a new directory, removed by Close.
func (e *Env) TempDir() string {
	dir, err := os.MkdirTemp(e.dir, "t")
	if err != nil {
		panic(err)
	}
	return dir
}

// Close runs the cleanups, last registered first, as testing does, and
// removes the temporary directories.
func (e *Env) Close() {
	e.mu.Lock()
	fs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
	os.RemoveAll(e.dir)
}
