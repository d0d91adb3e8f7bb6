package config

import (
	"strings"
	"testing"
)

func TestChooseModule(t *testing.T) {
	cfg, err := Parse([]byte(`
modules:
  smtp: {}
  submission: {tls: starttls, port: 587}
  noport: {}
port_modules:
  25: smtp
  2525: submission
`))
	if err != nil {
		t.Fatal(err)
	}
	const list = "(modules: noport, smtp, submission)"
	cases := []struct {
		name     string
		req      ModuleRequest
		want     string // module name
		wantPort int
		wantErr  string
	}{
		{"by port", ModuleRequest{Target: "mx:25", Port: 25}, "smtp", 25, ""},
		{"by another port", ModuleRequest{Target: "mx:2525", Port: 2525}, "submission", 2525, ""},
		{"named beats port", ModuleRequest{Target: "mx:25", Port: 25, Module: "submission"}, "submission", 25, ""},
		{"port from the module", ModuleRequest{Target: "mx", Module: "submission"}, "submission", 587, ""},
		{
			"no port, no module",
			ModuleRequest{Target: "mx", ModuleFlag: "module=NAME"},
			"", 0,
			`target "mx" has no port and no module is given: add :PORT or module=NAME ` + list,
		},
		{
			"no module for the port",
			ModuleRequest{Target: "mx:26", Port: 26, ModuleFlag: "--module NAME"},
			"", 0,
			"no module is configured for port 26: add --module NAME " + list,
		},
		{"unknown module", ModuleRequest{Target: "mx:25", Port: 25, Module: "nope"}, "", 0, `unknown module "nope" ` + list},
		{
			"unknown module, quoted by the caller",
			ModuleRequest{Target: "mx:25", Port: 25, Module: "nope\n", Quote: func(s string) string { return strings.TrimSpace(s) }},
			"", 0,
			`unknown module "nope" ` + list,
		},
		{
			"no port anywhere",
			ModuleRequest{Target: "mx", Module: "noport"},
			"", 0,
			`target "mx" has no port and module "noport" sets none: add :PORT`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cfg.ChooseModule(tc.req)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want || got.Port != tc.wantPort || got.Module != cfg.Modules[tc.want] {
				t.Errorf("got %s port %d, want %s port %d", got.Name, got.Port, tc.want, tc.wantPort)
			}
		})
	}
}
