package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// chromiumPath is Debian's Chromium, which testbed/deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium for the test, or skips the test
// where there is none; under CI=true a missing Chromium is a failure.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the browser test (headless Chromium)")
	}
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is missing under CI=true (scripts/test.sh installs it as root with testbed/deps.sh): %v", err)
		}
		t.Skipf("no Chromium at %s (as root, bash testbed/deps.sh installs it): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// Nothing but the page under test may touch the network.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// Bounds the whole browser session; a hung Chromium fails the test.
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// An operator's path through the landing page: submit the probe form with
// a module chosen from the list, find the probe in the history table, and
// open its transcript behind the link.
func TestBrowserProbeFormAndHistory(t *testing.T) {
	ctx := newBrowser(t)
	srv := smtptest.NewServer(t, smtptest.Config{Greeting: "220 browser.test ESMTP ready\r\n"})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	write(t, cfgFile, "modules:\n  plain:\n    tls: none\n    timeout: 5s\n  fake_mx:\n    tls: opportunistic\n    timeout: 5s\n    ehlo_hostname: browser-prober.test\n")
	base := startExporter(t, "--config.file="+cfgFile).URL

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser, %s: %v", step, err)
		}
	}
	text := func(selector string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
		if err != nil {
			t.Fatalf("browser, reading %s: %v", selector, err)
		}
		return s
	}

	do("loading the landing page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("form.probe")))
	options := text("#module")
	do("filling in the probe form",
		chromedp.SendKeys(chromedp.CSS("#target"), srv.Addr),
		chromedp.SetValue(chromedp.CSS("#module"), "fake_mx"),
	)
	// Subscribe before the click, so the load of /probe cannot be missed.
	loaded := chromedp.Events(ctx, page.LoadEventFired)
	do("submitting the probe form", chromedp.Click(chromedp.CSS("form.probe input[type=submit]")))
	for _, err := range loaded {
		if err != nil {
			t.Fatalf("browser, waiting for the probe's answer: %v", err)
		}
		break
	}
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("browser, reading the location: %v", err)
	}
	if want := base + "/probe?target=" + url.QueryEscape(srv.Addr) + "&module=fake_mx"; location != want {
		t.Errorf("the form went to %s, want %s", location, want)
	}
	probePage := text("body")

	do("finding the probe in the history", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#history")))
	row := text("#history tbody tr:first-child")
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#history tbody tr:first-child a"), "href"))
	if err != nil {
		t.Fatalf("browser, reading the transcript link: %v", err)
	}
	do("following the transcript link",
		chromedp.Click(chromedp.CSS("#history tbody tr:first-child a")),
		chromedp.WaitVisible(chromedp.CSS("#report")),
	)
	report := text("#report")

	for _, want := range []string{"plain", "fake_mx", "chosen by the target's port"} {
		if !strings.Contains(options, want) {
			t.Errorf("the module list lacks %q: %q", want, options)
		}
	}
	if !strings.Contains(probePage, "probe_success 1") {
		t.Errorf("the form's probe did not answer with metrics of a successful probe:\n%s", probePage)
	}
	// The fake offers no STARTTLS: the opportunistic module succeeds with
	// that warning.
	for _, want := range []string{srv.Addr, "fake_mx", "warnings", "starttls_not_advertised"} {
		if !strings.Contains(row, want) {
			t.Errorf("the history row lacks %q: %q", want, row)
		}
	}
	if link.Value != "history/1" {
		t.Errorf("the history row links to %q, want history/1", link.Value)
	}
	for _, want := range []string{
		"Probe of " + srv.Addr + " with module fake_mx",
		"Verdict: OK",
		"S: 220 browser.test ESMTP ready",
		"C: EHLO browser-prober.test",
		"C: QUIT",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the transcript page lacks %q:\n%s", want, report)
		}
	}
}

// A page of another site (localhost is another site than 127.0.0.1) that
// makes its visitor's browser call the exporter, as an image, a fetch and a
// form POST to /-/reload: every one is refused, the SMTP server behind the
// target is never dialed, and the refusals are counted.
func TestBrowserCrossSitePageRefused(t *testing.T) {
	ctx := newBrowser(t)
	srv := smtptest.NewServer(t, smtptest.Config{})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	write(t, cfgFile, "modules:\n  plain:\n    tls: none\n    timeout: 5s\n")
	exp := startExporter(t, "--config.file="+cfgFile)
	probeURL := exp.URL + "/probe?module=plain&target=" + url.QueryEscape(srv.Addr)

	hostile := http.NewServeMux()
	hostile.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The reload first; the probes once its answer has loaded, so
		// that when they are counted the reload has been answered too.
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title>
<form id="reload" method="post" action="%[2]s/-/reload" target="sink"></form>
<iframe name="sink" id="sink"></iframe>
<p id="fetch">pending</p>
<script>
document.getElementById("sink").addEventListener("load", () => {
  const img = document.createElement("img");
  img.src = %[1]q + "&via=img";
  document.body.appendChild(img);
  fetch(%[1]q, {mode: "no-cors"}).finally(() => document.getElementById("fetch").textContent = "sent");
}, {once: true});
document.getElementById("reload").submit();
</script>`, probeURL, exp.URL)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := &http.Server{Handler: hostile, ReadHeaderTimeout: 5 * time.Second}
	go page.Serve(ln)
	t.Cleanup(func() { page.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://localhost:"+port+"/"),
		chromedp.WaitVisible(chromedp.CSS("#fetch")),
	); err != nil {
		t.Fatalf("browser, loading the other site's page: %v", err)
	}
	// The image, the fetch and the POST each end in a 403: three refusals,
	// two of them of /probe.
	var metrics string
	waitFor(t, func() bool {
		metrics = get(t, exp.URL+"/metrics", 200)
		return strings.Contains(metrics, `smtp_exporter_probes_refused_total{reason="cross_site"} 2`)
	})
	if n := srv.Accepted(); n != 0 {
		t.Errorf("the SMTP server behind the target was dialed %d times", n)
	}
	// The one successful load is the start's.
	mustContain(t, metrics, "smtp_exporter_config_reloads_total{result=\"success\"} 1\n")
}
