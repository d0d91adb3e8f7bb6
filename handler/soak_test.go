package handler

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestSoak runs many probes at high concurrency through the real handler
// and prober, against healthy and broken fake servers on loopback, while
// another goroutine reloads the config over and over, every other time
// with a bad one. Afterwards: every request got an answer (a probe, a 403
// or a 503) with the reason its server deserves, the exporter's counters
// and reload metrics agree with what the test did, and no goroutine, file
// descriptor or heap memory has leaked.
//
// The default is short enough for every CI run; docs/reliability.md has
// the figures of a long run and the command for it:
//
//	SMTP_EXPORTER_SOAK_PROBES=100000 go test -race -run TestSoak -v ./handler/
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the soak (thousands of probes with reloads)")
	}
	probes := envInt(t, "SMTP_EXPORTER_SOAK_PROBES", 2000)
	concurrency := envInt(t, "SMTP_EXPORTER_SOAK_CONCURRENCY", 64)
	// A little below the clients' concurrency, so that some requests meet the limit.
	maxConcurrent := envInt(t, "SMTP_EXPORTER_SOAK_MAX_CONCURRENT", concurrency-8)

	ca := smtptest.NewCA(t)
	good := smtptest.ServerTLS(ca.Issue(t, smtptest.LocalhostLeaf()))
	flood := []byte(strings.Repeat("220-more\r\n", 10000))
	targets := []struct {
		name   string
		module string
		addr   string
		want   string // "success", a failure reason, or "403"
		// also is a reason a starved CPU may turn want into: a deadline
		// that passes before the prober's goroutine sees the connect done.
		also string
	}{
		{"healthy", "plain", smtptest.NewServer(t, smtptest.Config{}).Addr, "success", ""},
		{"STARTTLS", "starttls", smtptest.NewServer(t, smtptest.Config{StartTLS: good}).Addr, "success", ""},
		{"implicit TLS", "implicit", smtptest.NewServer(t, smtptest.Config{Implicit: good}).Addr, "success", ""},
		{"untrusted certificate", "untrusted", smtptest.NewServer(t, smtptest.Config{StartTLS: good}).Addr, string(prober.ReasonCertUntrusted), ""},
		{"greeting 554", "plain", smtptest.NewServer(t, smtptest.Config{Greeting: "554 5.7.1 go away\r\n"}).Addr, string(prober.ReasonBannerRejected), ""},
		{"refused", "plain", smtptest.RefusedAddr(t), string(prober.ReasonConnectRefused), ""},
		{"garbage", "plain", smtptest.NewRawServer(t, smtptest.Send([]byte("\x00\xff\xfe garbage\r\n"))).Addr, string(prober.ReasonProtocolError), ""},
		{"flood", "plain", smtptest.NewRawServer(t, smtptest.Send(flood)).Addr, string(prober.ReasonProtocolError), ""},
		{"closes", "plain", smtptest.NewRawServer(t, func(net.Conn, *smtptest.Server) {}).Addr, string(prober.ReasonConnectionClosed), ""},
		{"resets", "plain", smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) { c.(*net.TCPConn).SetLinger(0) }).Addr, string(prober.ReasonConnectionReset), ""},
		{"silent", "slow", smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) { c.Read(make([]byte, 1)) }).Addr, string(prober.ReasonBannerTimeout), string(prober.ReasonConnectTimeout)},
		{"not allowed", "plain", "blocked.test:25", "403", ""},
	}
	resolver := smtptest.NewResolver(t, map[string][]netip.Addr{"blocked.test": {netip.MustParseAddr("192.0.2.1")}})

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	// Timeouts are generous: only a starved CPU (the race detector on a
	// busy machine) comes near them, and a healthy server must not fail
	// because of that. The slow module times out the silent server.
	goodConfig := func(i int) string {
		return fmt.Sprintf(`
modules:
  plain: {tls: none, timeout: 15s, ehlo_hostname: soak-%d.test}
  slow: {tls: none, timeout: 300ms}
  starttls: {tls: starttls, timeout: 15s, tls_config: {ca_file: %q}}
  implicit: {tls: implicit, timeout: 15s, tls_config: {ca_file: %q}}
  untrusted: {tls: starttls, timeout: 15s}
allowed_targets: {cidrs: ["127.0.0.0/8"]}
`, i, ca.File, ca.File)
	}
	writeFile(t, cfgFile, goodConfig(0))
	reg := prometheus.NewRegistry()
	sc := config.NewSafeConfig(cfgFile, nil, reg)
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	h := &ProbeHandler{
		Config:  sc,
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: NewMetrics(reg),
		Options: prober.Options{Resolver: resolver},
		Limit:   NewLimiter(maxConcurrent, reg),
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 30 * time.Second}

	var (
		mu       sync.Mutex
		byStatus = map[int]int{}
		byResult = map[string]int{}
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	// probe runs the i-th probe and checks and counts its answer.
	probe := func(i int) {
		tc := targets[i%len(targets)]
		code, result, err := soakProbe(client, srv.URL, tc.addr, tc.module)
		if err != nil {
			t.Errorf("probe %d of %s got no answer: %v", i, tc.name, err)
			return
		}
		switch {
		case code == http.StatusServiceUnavailable:
			// What Prometheus would do: try again at the next scrape.
			time.Sleep(10 * time.Millisecond)
		case code == http.StatusForbidden && tc.want == "403":
		case code == http.StatusOK && (result == tc.want || result == tc.also && tc.also != ""):
		default:
			t.Errorf("probe %d of %s: %d %q, want %q", i, tc.name, code, result, tc.want)
		}
		mu.Lock()
		byStatus[code]++
		if code == http.StatusOK {
			byResult[result]++
		}
		mu.Unlock()
	}
	// One probe of each target first, so that what is loaded once per
	// process (the system's root certificates, for one) is in the baseline.
	for i := range targets {
		probe(i)
	}
	client.CloseIdleConnections()
	base := measure(t)

	// Reloads, alternating good and bad configs, until the probes are done.
	var reloads struct{ good, bad int }
	lastReloadOK := true
	stop := make(chan struct{})
	reloaderDone := make(chan struct{})
	go func() {
		defer close(reloaderDone)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			bad := i%2 == 0
			if bad {
				writeFile(t, cfgFile, goodConfig(i)+"  broken: {tls: sometimes}\n")
			} else {
				writeFile(t, cfgFile, goodConfig(i))
			}
			err := sc.Reload()
			if (err != nil) != bad {
				t.Errorf("reload %d: error %v, want an error: %v", i, err, bad)
			}
			if bad {
				reloads.bad++
			} else {
				reloads.good++
			}
			lastReloadOK = err == nil
		}
	}()

	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= probes {
					return
				}
				probe(len(targets) + i)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-reloaderDone

	// What the exporter counted must match what the clients saw.
	answered := 0
	for _, n := range byStatus {
		answered += n
	}
	if answered != len(targets)+probes {
		t.Errorf("%d of %d probes answered", answered, len(targets)+probes)
	}
	if got := testutil.ToFloat64(h.Metrics.refused.WithLabelValues(RefusedConcurrencyLimit)); int(got) != byStatus[http.StatusServiceUnavailable] {
		t.Errorf("refused{concurrency_limit} = %v, clients got %d 503s", got, byStatus[http.StatusServiceUnavailable])
	}
	if got := testutil.ToFloat64(h.Metrics.refused.WithLabelValues(config.RefusedNotAllowed)); int(got) != byStatus[http.StatusForbidden] {
		t.Errorf("refused{target_not_allowed} = %v, clients got %d 403s", got, byStatus[http.StatusForbidden])
	}
	if got := sumCounter(t, reg, "smtp_exporter_probes_total"); int(got) != byStatus[http.StatusOK] {
		t.Errorf("probes_total = %v, clients got %d probe results", got, byStatus[http.StatusOK])
	}
	if got := testutil.ToFloat64(h.Metrics.inFlight); got != 0 {
		t.Errorf("probes in flight after the run: %v", got)
	}
	// One reload at start, then the reloader's.
	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"smtp_exporter_config_reloads_total", "success", float64(reloads.good + 1)},
		{"smtp_exporter_config_reloads_total", "failure", float64(reloads.bad)},
		{"smtp_exporter_config_last_reload_successful", "", map[bool]float64{true: 1, false: 0}[lastReloadOK]},
	} {
		if got := gaugeOrCounter(t, reg, c.name, c.label); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}

	// Leaks: wait for connections to wind down, then compare with the start.
	client.CloseIdleConnections()
	var end usage
	deadline := time.Now().Add(10 * time.Second)
	for {
		end = measure(t)
		if end.goroutines <= base.goroutines && end.fds <= base.fds || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if end.goroutines > base.goroutines {
		t.Errorf("goroutines: %d before, %d after\n%s", base.goroutines, end.goroutines, goroutineDump())
	}
	if end.fds > base.fds {
		t.Errorf("file descriptors: %d before, %d after", base.fds, end.fds)
	}
	// The heap after a collection holds what survives the run; a leak of
	// even a few KiB per probe would show as megabytes here.
	if grown := int64(end.heap) - int64(base.heap); grown > 4<<20 {
		t.Errorf("live heap grew by %d KiB over %d probes", grown>>10, probes)
	}
	if grown := int64(end.rss) - int64(base.rss); !raceEnabled && grown > 32<<20 {
		t.Errorf("resident set grew by %d KiB over %d probes", grown>>10, probes)
	}

	var reasons []string
	for r, n := range byResult {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(reasons)
	t.Logf("%d probes (and %d to warm up) in %s at concurrency %d (limit %d): HTTP %v; results: %s",
		probes, len(targets), elapsed.Round(time.Millisecond), concurrency, maxConcurrent, byStatus, strings.Join(reasons, ", "))
	t.Logf("reloads: %d good, %d bad", reloads.good, reloads.bad)
	t.Logf("goroutines %d -> %d, fds %d -> %d, live heap %d -> %d KiB, RSS %d -> %d KiB (peak %d KiB)",
		base.goroutines, end.goroutines, base.fds, end.fds, base.heap>>10, end.heap>>10, base.rss>>10, end.rss>>10, end.peakRSS>>10)
}

// soakProbe asks for one probe and returns the HTTP status and, for a 200,
// "success" or the failure reason the metrics report.
func soakProbe(client *http.Client, base, target, module string) (int, string, error) {
	resp, err := client.Get(base + "/probe?module=" + module + "&target=" + target)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, err := io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, "", err
	}
	result := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "probe_success 1" {
			result = "success"
		}
		if reason, ok := strings.CutPrefix(line, `probe_smtp_failure{reason="`); ok && strings.HasSuffix(reason, `"} 1`) {
			result = strings.TrimSuffix(reason, `"} 1`)
		}
	}
	return resp.StatusCode, result, sc.Err()
}

type usage struct {
	goroutines, fds    int
	heap, rss, peakRSS uint64
}

func measure(t *testing.T) usage {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	u := usage{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: ms.HeapAlloc}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kib, _ := strconv.ParseUint(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			u.rss = kib << 10
		case "VmHWM:":
			u.peakRSS = kib << 10
		}
	}
	return u
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func sumCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// gaugeOrCounter returns the value of name's series whose only label has
// value label ("" for a series without labels).
func gaugeOrCounter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if (label == "" && len(m.GetLabel()) == 0) || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, so that a reload never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}
