package config

import (
	"reflect"
	"testing"
	"time"
)

// TestLoadEgress: the section exactly as issue 25 writes it, with the
// facts each canary is tried by.
func TestLoadEgress(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-egress.yml")
	e := cfg.Egress
	if e == nil {
		t.Fatal("egress section not loaded")
	}
	if e.Interval != 60*time.Second || e.Timeout != 5*time.Second || e.Quorum != 2 || len(e.Canaries) != 4 {
		t.Fatalf("egress: interval %s timeout %s quorum %d, %d canaries; want 60s 5s 2, 4", e.Interval, e.Timeout, e.Quorum, len(e.Canaries))
	}
	cases := []struct {
		host     string
		port     int
		addr     string
		families []string
		banner   string
		certName string
	}{
		{"canary1.example.net", 25, "invalid IP", []string{"ip4", "ip6"}, "", ""},
		{"192.0.2.10", 25, "192.0.2.10", []string{"ip4"}, `^220 mx\.example\.org `, ""},
		{"2001:db8::25", 25, "2001:db8::25", []string{"ip6"}, "", ""},
		{"canary2.example.net", 587, "invalid IP", []string{"ip4"}, "", "mail.example.net"},
	}
	for i, tc := range cases {
		c := &e.Canaries[i]
		banner := ""
		if re := c.BannerRegex(); re != nil {
			banner = re.String()
		}
		if c.Host() != tc.host || c.Port() != tc.port || c.Addr().String() != tc.addr ||
			!reflect.DeepEqual(c.Families(), tc.families) || banner != tc.banner || c.ExpectCertificateName != tc.certName {
			t.Errorf("canaries[%d]: host %q port %d addr %s families %v banner %q certificate %q; want %q %d %s %v %q %q", i,
				c.Host(), c.Port(), c.Addr(), c.Families(), banner, c.ExpectCertificateName,
				tc.host, tc.port, tc.addr, tc.families, tc.banner, tc.certName)
		}
	}
	// /config shows the section, and what it shows loads again.
	yml, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(yml)
	if err != nil {
		t.Fatalf("Marshal output does not load: %v\n%s", err, yml)
	}
	for i := range e.Canaries {
		if !again.Egress.Canaries[i].Equal(e.Canaries[i]) {
			t.Errorf("canaries[%d] after Marshal: %+v, want %+v", i, again.Egress.Canaries[i], e.Canaries[i])
		}
	}
	if mustLoad(t, "testdata/valid-minimal.yml").Egress != nil {
		t.Error("a config without an egress section has canaries")
	}
}

func TestEgressDefaults(t *testing.T) {
	cases := []struct {
		name              string
		doc               string
		interval, timeout time.Duration
		quorum            int
	}{
		{"defaults", "{canaries: [{target: 192.0.2.1:25}, {target: 192.0.2.2:25}, {target: 192.0.2.3:25}]}", time.Minute, 5 * time.Second, 2},
		// One canary cannot wait for a second to agree.
		{"one canary", "{canaries: [{target: 192.0.2.1:25}]}", time.Minute, 5 * time.Second, 1},
		// The default timeout never exceeds a short interval.
		{"short interval", "{canaries: [{target: 192.0.2.1:25}], interval: 2s}", 2 * time.Second, 2 * time.Second, 1},
		{"the shortest interval", "{canaries: [{target: 192.0.2.1:25}], interval: 1s, timeout: 300ms}", time.Second, 300 * time.Millisecond, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("modules: {smtp: {}}\negress: " + tc.doc + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			e := cfg.Egress
			if e.Interval != tc.interval || e.Timeout != tc.timeout || e.Quorum != tc.quorum {
				t.Errorf("interval %s timeout %s quorum %d, want %s %s %d", e.Interval, e.Timeout, e.Quorum, tc.interval, tc.timeout, tc.quorum)
			}
		})
	}
}

func TestCanaryEqual(t *testing.T) {
	a := Canary{Target: "192.0.2.1:25", ExpectBanner: "^220 "}
	for _, b := range []Canary{
		{Target: "192.0.2.2:25", ExpectBanner: "^220 "},
		{Target: "192.0.2.1:25"},
		{Target: "192.0.2.1:25", ExpectBanner: "^220 ", IPProtocol: "ip4"},
		{Target: "192.0.2.1:25", ExpectBanner: "^220 ", ExpectCertificateName: "mx.example.org"},
	} {
		if a.Equal(b) {
			t.Errorf("%+v equals %+v: a reload that changes it would keep the old history", a, b)
		}
	}
	if !a.Equal(Canary{Target: "192.0.2.1:25", ExpectBanner: "^220 "}) {
		t.Error("a canary differs from its own copy")
	}
}
