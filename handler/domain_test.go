package handler

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// domainSetup serves example.test (MX mx.example.test -> 127.0.0.1, where
// a fake SMTP server listens) and returns a config with a domain module.
func domainSetup(t *testing.T) string {
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
`, port, dns.Addr)
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
			`probe_smtp_failure{address="127.0.0.1",mx="mx.example.test",reason="target_not_allowed"} 0`,
			`probe_smtp_domain_failure{reason="address_failed"} 0`,
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
