package handler

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// domainSetup serves example.test (MX mx.example.test -> 127.0.0.1, where
// a fake SMTP server listens) and returns a config with a domain module.
func domainSetup(t *testing.T) string {
	t.Helper()
	doc, _ := domainSetupServer(t)
	return doc
}

// domainSetupServer is domainSetup with its DNS server.
func domainSetupServer(t *testing.T) (string, *dnstest.Server) {
	t.Helper()
	srv := smtptest.NewServer(t, smtptest.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr)
	dns := dnstest.Start(t,
		"example.test. 300 IN MX 10 mx.example.test.",
		"mx.example.test. 300 IN A 127.0.0.1",
		"null.test. 300 IN MX 0 .",
	)
	return fmt.Sprintf(`
modules:
  smtp: {port: 25, tls: opportunistic, timeout: 10s}
  mx:
    port: %s
    tls: none
    timeout: 5s
    mx: {}
    dns: {server: %q}
`, port, dns.Addr), dns
}

func TestProbeDomainRequests(t *testing.T) {
	doc := domainSetup(t)
	cases := []struct {
		query string
		code  int
		want  []string
	}{
		{"target=example.com:25&module=mx", 400, []string{`module "mx" probes mail domains: give the domain without a port, for example example.com`}},
		{"target=192.0.2.1&module=mx", 400, []string{`module "mx" probes mail domains: "192.0.2.1" is an IP address`}},
		{"target=[2001:db8::1]&module=mx", 400, []string{`"2001:db8::1" is an IP address`}},
		{"target=bad_name.example&module=mx", 400, []string{`"bad_name.example" is not a domain name`}},
		{"target=-bad.example&module=mx", 400, []string{`is not a valid host name`}},
		{"target=a..b&module=mx", 400, []string{`is not a valid host name`}},
		{"target=example.test&module=mx", 200, []string{
			"probe_success 1\n",
			`probe_smtp_address_success{address="127.0.0.1",mx="mx.example.test"} 1`,
			`probe_smtp_mx_info{mx="mx.example.test",preference="10"} 1`,
			`probe_smtp_domain_failure{reason="address_failed"} 0`,
			"probe_dns_queries 3\n", // MX, then A and AAAA of the MX host
			`probe_smtp_domain_pairs_skipped{reason="max_pairs"} 0`,
		}},
		{"target=Example.Test.&module=mx", 200, []string{"probe_success 1\n"}},
		{"target=null.test&module=mx", 200, []string{"probe_success 0\n", `probe_smtp_domain_failure{reason="null_mx"} 1`, "probe_smtp_mx_null 1\n"}},
		{"target=example.test&module=mx&debug=true", 200, []string{
			"Probe of mail domain example.test with module mx", "Addresses:", "Transcript:",
			"Metrics that would have been returned:", "probe_smtp_mx_hosts 1",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			h, _ := newProbe(t, doc, nil)
			var got []*maildomain.Result
			h.OnResult = func(o prober.Outcome) { got = append(got, o.(*maildomain.Result)) }
			rec := serve(h, http.MethodGet, tc.query, nil)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			for _, want := range tc.want {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("the answer lacks %q:\n%s", want, rec.Body)
				}
			}
			if tc.code == 200 && len(got) != 1 {
				t.Errorf("OnResult got %d domain results, want 1", len(got))
			}
		})
	}
}

// TestProbeDomainAllowList: the allow-list refuses an MX address without
// refusing the domain: the pair fails with target_not_allowed.
func TestProbeDomainAllowList(t *testing.T) {
	doc := domainSetup(t) + "allowed_targets: {cidrs: [192.0.2.0/24]}\n"
	h, _ := newProbe(t, doc, nil)
	rec := serve(h, http.MethodGet, "target=example.test&module=mx", nil)
	for _, want := range []string{
		"probe_success 0\n",
		`probe_smtp_failure{address="127.0.0.1",mx="mx.example.test",reason="target_not_allowed"} 1`,
		`probe_smtp_domain_failure{reason="address_failed"} 1`,
	} {
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%d, lacks %q:\n%s", rec.Code, want, rec.Body)
		}
	}
}

// TestProbeDomainTargetAllowList: the domain itself meets the allow-list
// before any lookup: a domain no pattern of hosts allows (and no cidrs
// could) is a 403, counted, and the DNS server is never asked.
func TestProbeDomainTargetAllowList(t *testing.T) {
	cases := []struct {
		name, allowed, target string
		code                  int
	}{
		{"domain listed", `{hosts: [example.test, "*.example.test"]}`, "example.test", 200},
		{"wildcard does not cover the domain itself", `{hosts: ["*.example.test"]}`, "example.test", 403},
		{"other domain", `{hosts: [example.test, "*.example.test"]}`, "example.org", 403},
		{"look-alike", `{hosts: [example.test]}`, "evilexample.test", 403},
		{"cidrs may allow its MX addresses", `{hosts: [example.org], cidrs: [127.0.0.0/8]}`, "example.test", 200},
		{"deny_private judges addresses only", `{deny_private: true}`, "example.test", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, dns := domainSetupServer(t)
			h, _ := newProbe(t, doc+"allowed_targets: "+tc.allowed+"\n", nil)
			rec := serve(h, http.MethodGet, "target="+tc.target+"&module=mx", nil)
			if rec.Code != tc.code {
				t.Fatalf("%d %q, want %d", rec.Code, rec.Body, tc.code)
			}
			if tc.code != 403 {
				return
			}
			want := fmt.Sprintf("target host %q is not allowed", tc.target)
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("body %q lacks %q", rec.Body, want)
			}
			if q := dns.Queries(); len(q) != 0 {
				t.Errorf("the refused domain was looked up: %v", q)
			}
			if got := testutil.ToFloat64(h.Metrics.refused.WithLabelValues(config.RefusedNotAllowed)); got != 1 {
				t.Errorf("refused{target_not_allowed} = %v, want 1", got)
			}
		})
	}
}

// TestProbeDomainEscapedMXName: an MX target whose first label holds an
// escaped dot ("x\.allowed.test", the labels "x.allowed" and "test") ends
// in ".allowed.test" as text only: *.allowed.test does not allow it, and
// its address is never dialed.
func TestProbeDomainEscapedMXName(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr)
	dns := dnstest.Start(t,
		`esc.test. 300 IN MX 10 x\.allowed.test.`,
		`x\.allowed.test. 300 IN A 127.0.0.1`,
		"good.test. 300 IN MX 10 mx.allowed.test.",
		"mx.allowed.test. 300 IN A 127.0.0.1",
	)
	h, _ := newProbe(t, fmt.Sprintf(`
modules:
  mx: {port: %s, tls: none, timeout: 5s, mx: {}, dns: {server: %q}}
allowed_targets: {hosts: [esc.test, good.test, "*.allowed.test"]}
`, port, dns.Addr), nil)
	rec := serve(h, http.MethodGet, "target=esc.test&module=mx", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `reason="target_not_allowed"} 1`) {
		t.Errorf("%d: the escaped name's pair is not refused:\n%s", rec.Code, rec.Body)
	}
	if n := srv.Accepted(); n != 0 {
		t.Fatalf("the escaped name's address was dialed %d times", n)
	}
	// The same server behind a real name below allowed.test is probed.
	if rec := serve(h, http.MethodGet, "target=good.test&module=mx", nil); !strings.Contains(rec.Body.String(), "probe_success 1\n") || srv.Accepted() != 1 {
		t.Errorf("good.test: %d connections\n%s", srv.Accepted(), rec.Body)
	}
}

// TestProbeDomainProtobuf: a registry serves the domain too, with the same series.
func TestProbeDomainProtobuf(t *testing.T) {
	doc := domainSetup(t)
	h, _ := newProbe(t, doc, nil)
	header := http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}}
	rec := serve(h, http.MethodGet, "target=example.test&module=mx", header)
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "protobuf") {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(rec.Body.String(), "probe_smtp_mx_addresses_success") {
		t.Error("the protobuf answer lacks the domain series")
	}
}
