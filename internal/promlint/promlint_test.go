package promlint

import "testing"

func TestFilter(t *testing.T) {
	out := "probe_ssl_leaf_key_bits use base unit \"bytes\" instead of \"bits\"\nfoo_total non-counter metrics should not have \"_total\" suffix\n"
	if got, want := Filter(out), `foo_total non-counter metrics should not have "_total" suffix`; got != want {
		t.Errorf("Filter = %q, want %q", got, want)
	}
	if got := Filter("probe_ssl_leaf_key_bits use base unit \"bytes\" instead of \"bits\"\n"); got != "" {
		t.Errorf("the accepted finding is kept: %q", got)
	}
}
