package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestGracefulShutdown sends SIGTERM while a probe is held by a tarpit:
// the exporter stops accepting connections at once, answers the probe
// when the tarpit lets go, logs both steps and exits 0.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	tarpit := smtptest.NewServer(t, smtptest.Config{Hold: release})
	released := false
	t.Cleanup(func() { // before the server's cleanup, which waits for its connections
		if !released {
			close(release)
		}
	})
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	write(t, cfgFile, "modules:\n  m:\n    tls: none\n    timeout: 20s\n")
	exp := startExporter(t, "--config.file="+cfgFile)

	type answer struct {
		code int
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Get(exp.URL + "/probe?module=m&target=" + tarpit.Addr)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		answered <- answer{resp.StatusCode, b.String(), err}
	}()
	waitFor(t, func() bool { return tarpit.Accepted() == 1 })

	if err := exp.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(exp.logs.String(), "Shutting down") })
	// No new connections: the listener is closed.
	if resp, err := http.Get(exp.URL + "/-/healthy"); err == nil {
		resp.Body.Close()
		t.Errorf("a new request was served during the shutdown: %s", resp.Status)
	}
	select {
	case a := <-answered:
		t.Fatalf("the probe ended before the tarpit let go: %+v", a)
	case <-exp.Exited():
		t.Fatalf("the exporter exited with a probe in flight; logs:\n%s", exp.logs)
	default:
	}

	close(release)
	released = true
	a := <-answered
	if a.err != nil || a.code != http.StatusOK || !strings.Contains(a.body, "probe_success 1") {
		t.Errorf("the probe in flight got %d %v:\n%s", a.code, a.err, a.body)
	}
	code, err := exp.Wait(15 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit status %d (%v), want 0; logs:\n%s", code, err, exp.logs)
	}
	mustContain(t, exp.logs.String(), "Shut down: every probe in flight was answered")
}

// TestShutdownTimeout: a probe that outlasts --web.shutdown-timeout is cut
// off, and the exporter still exits 0, saying so.
func TestShutdownTimeout(t *testing.T) {
	hold := make(chan struct{})
	tarpit := smtptest.NewServer(t, smtptest.Config{Hold: hold})
	t.Cleanup(func() { close(hold) }) // before the server's cleanup, which waits for its connections
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	write(t, cfgFile, "modules:\n  m:\n    tls: none\n    timeout: 20s\n")
	exp := startExporter(t, "--config.file="+cfgFile, "--web.shutdown-timeout=500ms")
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Get(exp.URL + "/probe?module=m&target=" + tarpit.Addr)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		answered <- err
	}()
	waitFor(t, func() bool { return tarpit.Accepted() == 1 })
	if err := exp.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := exp.Wait(15 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit status %d (%v), want 0; logs:\n%s", code, err, exp.logs)
	}
	if err := <-answered; err == nil {
		t.Error("the probe cut off at the shutdown timeout got a whole answer")
	}
	mustContain(t, exp.logs.String(), "probes still running at the timeout were cut off")
}
