package prober_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtp-exporter/smtp_exporter/collector"
	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/prober"
	"github.com/smtp-exporter/smtp_exporter/report"
)

// FuzzConversation plays a server that sends arbitrary bytes as its
// greeting and as its reply to EHLO (both at once, then end of stream, so
// that no input makes the probe wait for its deadline). Whatever it sends,
// the probe ends with one known reason, and its metrics and report are
// valid: label values must be valid UTF-8 or the collector would panic.
func FuzzConversation(f *testing.F) {
	module := parseModule(f, "{tls: opportunistic, fail_if_auth_before_tls: true, ehlo_hostname: prober.test}")
	f.Fuzz(func(t *testing.T, greeting, ehlo []byte) {
		srv := smtptest.NewRawServer(t, func(c net.Conn, _ *smtptest.Server) {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write(greeting)
			c.Write(ehlo)
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r := prober.Probe(ctx, mustTarget(t, srv.Addr), "fuzz", module, nil, prober.Options{})
		checkResult(t, r)
	})
}

// parseModule builds a module from its YAML flow mapping.
func parseModule(t testing.TB, fields string) *config.Module {
	t.Helper()
	cfg, err := config.Parse([]byte("modules: {m: " + fields + "}"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Modules["m"]
}

// checkResult fails unless r has a known verdict and renders as valid
// metrics and a valid report.
func checkResult(t *testing.T, r *prober.Result) {
	t.Helper()
	if r.Success == (r.Failure != "") || r.Refused != nil {
		t.Fatalf("success %v with failure %q, refused %v", r.Success, r.Failure, r.Refused)
	}
	if r.Failure != "" && !slices.Contains(prober.Reasons, r.Failure) {
		t.Fatalf("unknown failure reason %q", r.Failure)
	}
	for _, l := range r.Transcript {
		if !utf8.ValidString(l.Text) {
			t.Fatalf("transcript line %q is not valid UTF-8", l.Text)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(r))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering the probe's metrics: %v", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !utf8.ValidString(l.GetValue()) {
					t.Fatalf("%s{%s=%q}: invalid UTF-8", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	var buf bytes.Buffer
	report.Write(&buf, r, report.Options{Now: time.Now()})
	if !utf8.Valid(buf.Bytes()) {
		t.Fatalf("report is not valid UTF-8:\n%s", buf.Bytes())
	}
}
