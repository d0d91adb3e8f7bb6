package testtool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// upTimeout bounds the wait for a started exporter to answer /-/healthy.
const upTimeout = 20 * time.Second

// Build compiles the smtp_exporter of the repository at repo into dir and
// returns the binary's path. Tests use Binary; the bench, which may build
// another checkout, calls Build itself.
func Build(repo, dir string) (string, error) {
	bin := filepath.Join(dir, "smtp_exporter")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build in %s: %w\n%s", repo, err, out)
	}
	return bin, nil
}

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Binary returns the exporter built from this repository, building it the
// first time a test of the package asks (the package's TestMain should end
// with Cleanup). With -short the test skips: building takes longer than the
// quick tests may.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that builds and runs the exporter binary")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "smtp_exporter-bin"); built.err == nil {
			built.bin, built.err = Build(RepoRoot(), built.dir)
		}
	})
	if built.err != nil {
		t.Fatalf("building the exporter: %v", built.err)
	}
	return built.bin
}

// Cleanup removes the binary Binary built; TestMain calls it after m.Run.
func Cleanup() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// Process is an exporter serving on a free loopback port: smtp_exporter,
// or any exporter taking --web.listen-address and answering /-/healthy
// (the bench runs blackbox_exporter beside it).
type Process struct {
	Cmd  *exec.Cmd
	Addr string // 127.0.0.1:PORT
	URL  string // http://127.0.0.1:PORT

	exited  chan struct{}
	waitErr error // set before exited closes
}

// Start runs bin with args and --web.listen-address on a free loopback
// port, its output going to out (nil: discarded), and waits until it
// answers /-/healthy. A process that exits or does not come up in time is
// an error, quoting the output when out is a file or has a String method.
func Start(bin string, out io.Writer, args ...string) (*Process, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	return StartCommand(exec.Command(bin, append(args, "--web.listen-address="+addr)...), addr, out)
}

// StartCommand is Start for a command made elsewhere (one that runs in a
// network namespace, say) that listens on addr.
func StartCommand(cmd *exec.Cmd, addr string, out io.Writer) (*Process, error) {
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	name := filepath.Base(cmd.Path)
	p := &Process{Cmd: cmd, Addr: addr, URL: "http://" + addr, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(upTimeout); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before serving (%w)%s", name, p.waitErr, output(out))
		default:
		}
		if resp, err := client.Get(p.URL + "/-/healthy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s did not answer /-/healthy on %s within %s%s", name, addr, upTimeout, output(out))
		}
	}
}

// StartExporter is Start for a test: a failure ends the test, and the
// process is killed when the test ends.
func StartExporter(t testing.TB, bin string, out io.Writer, args ...string) *Process {
	t.Helper()
	p, err := Start(bin, out, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Stop kills the process and waits for it; a process that has exited
// already is left as it is.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Kill() // fails only when the process is gone
	<-p.exited
}

// Interrupt asks the process to stop with SIGINT, as a terminal's ^C
// does, and kills it when it has not exited within grace.
func (p *Process) Interrupt(grace time.Duration) {
	_ = p.Cmd.Process.Signal(syscall.SIGINT) // fails only when the process is gone
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Stop()
	}
}

// Wait waits at most timeout for the process to exit by itself and
// returns its exit status, or an error when it did not exit in time.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.exited:
	case <-time.After(timeout):
		return -1, fmt.Errorf("still running after %s", timeout)
	}
	if ee, ok := errors.AsType[*exec.ExitError](p.waitErr); ok {
		return ee.ExitCode(), nil
	}
	if p.waitErr != nil {
		return -1, p.waitErr
	}
	return 0, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// output quotes what a process wrote, when out can tell.
func output(out io.Writer) string {
	switch o := out.(type) {
	case fmt.Stringer:
		return "; its output:\n" + o.String()
	case *os.File:
		if b, err := os.ReadFile(o.Name()); err == nil {
			return "; its output (" + o.Name() + "):\n" + string(b)
		}
	}
	return ""
}

// SyncBuffer is a bytes.Buffer that a process's output may be written to
// while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Get fetches url and returns the status code and body; a request that
// fails ends the test.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}
