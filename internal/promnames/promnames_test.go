package promnames

import (
	"slices"
	"testing"
)

func TestInQuery(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`probe_success`, []string{"probe_success"}},
		{`up{job="a"} == 0`, []string{"up"}},
		{`sum by (reason) (probe_smtp_failure{reason=~"connect_.*"} == 1)`, []string{"probe_smtp_failure"}},
		{`max without (phase) (probe_smtp_reply_code{phase="banner"}) >= 400`, []string{"probe_smtp_reply_code"}},
		{`(probe_ssl_earliest_cert_expiry - time()) / 86400 < 21 >= 7`, []string{"probe_ssl_earliest_cert_expiry"}},
		{`a and on (job, instance) b unless ignoring(x) group_left(y) c`, []string{"a", "b", "c"}},
		{`label_replace(x{a="}"}, "host", "$1", "instance", "(.+?)(:[0-9]+)?")`, []string{"x"}},
		{`avg_over_time(probe_duration_seconds[5m:1m] offset 1h)`, []string{"probe_duration_seconds"}},
		{`count(probe_success) or vector(0)`, []string{"probe_success"}},
		{`topk(10, m1) + sum (m1) * 1e3 + 0x1F - .5`, []string{"m1"}},
		{`{__name__="x"}`, nil},
		{`ALERTS{alertstate="firing"} > bool node:rate5m`, []string{"ALERTS", "node:rate5m"}},
	}
	for _, tc := range tests {
		if got := InQuery(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("InQuery(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestProbe(t *testing.T) {
	names := Probe()
	for _, want := range []string{"probe_success", "probe_smtp_failure", "probe_ssl_last_chain_info", "probe_tls_certificate_verified"} {
		if !slices.Contains(names, want) {
			t.Errorf("Probe() = %v, lacks %s", names, want)
		}
	}
}
