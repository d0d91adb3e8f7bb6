package config

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fakeResolver answers from maps, as /etc/hosts would.
type fakeResolver struct {
	hosts map[string][]string // name -> addresses
	addrs map[string][]string // address -> names
}

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func (f fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if n, ok := f.addrs[addr]; ok {
		return n, nil
	}
	return nil, errors.New("no such address")
}

func TestFQDN(t *testing.T) {
	debian := fakeResolver{
		hosts: map[string][]string{"vm": {"127.0.1.1"}},
		addrs: map[string][]string{"127.0.1.1": {"vm.example.net", "vm"}},
	}
	cases := []struct {
		name, host string
		r          fakeResolver
		want       string
	}{
		{"already qualified", "mx1.example.com", fakeResolver{}, "mx1.example.com"},
		{"trailing dot dropped", "mx1.example.com.", fakeResolver{}, "mx1.example.com"},
		{"short name qualified through its address (/etc/hosts)", "vm", debian, "vm.example.net"},
		{"reverse name with a trailing dot", "vm", fakeResolver{
			hosts: map[string][]string{"vm": {"192.0.2.7"}},
			addrs: map[string][]string{"192.0.2.7": {"vm.example.org."}},
		}, "vm.example.org"},
		// A bare short name is never the answer: the prober then sends
		// the address literal of its local address.
		{"short name that does not resolve", "vm", fakeResolver{}, ""},
		{"short name whose address maps back only to itself", "vm", fakeResolver{
			hosts: map[string][]string{"vm": {"127.0.1.1"}},
			addrs: map[string][]string{"127.0.1.1": {"vm"}},
		}, ""},
		{"reverse name of another host is not ours", "vm", fakeResolver{
			hosts: map[string][]string{"vm": {"192.0.2.7"}},
			addrs: map[string][]string{"192.0.2.7": {"other.example.org"}},
		}, ""},
		{"no host name", "", debian, ""},
		{"characters no EHLO name may hold", "vm_1 x", debian, ""},
	}
	for _, tc := range cases {
		if got := fqdn(context.Background(), tc.host, tc.r); got != tc.want {
			t.Errorf("%s: fqdn(%q) = %q, want %q", tc.name, tc.host, got, tc.want)
		}
	}
}

func TestDefaultEHLONameIsNeverShort(t *testing.T) {
	if name := DefaultEHLOName(); name != "" && !strings.Contains(name, ".") {
		t.Errorf("DefaultEHLOName() = %q: a bare short name", name)
	}
}
