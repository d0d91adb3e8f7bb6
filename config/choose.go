package config

import (
	"fmt"
	"strings"
)

// ModuleRequest is what a probe request says about its module and port:
// a /probe query or the arguments of `smtp_exporter probe`.
type ModuleRequest struct {
	// Target is the target as the user wrote it; only error texts show it.
	Target string
	// Port is the target's port, 0 when it names none.
	Port int
	// Module is the module's name; empty: the one port_modules gives for Port.
	Module string
	// ModuleFlag is how the user names a module, for the error texts that
	// say how to fix the request: "module=NAME" on /probe, "--module NAME"
	// on the command line.
	ModuleFlag string
	// Quote renders user input inside error texts (nil: as is); /probe
	// shortens it and replaces control characters.
	Quote func(string) string
}

// ModuleChoice is the module a probe runs with and the port it dials.
type ModuleChoice struct {
	Name   string
	Module *Module
	// Port is the target's port, or the module's when the target names none.
	Port int
}

// ChooseModule decides the module and the port of a probe, for /probe and
// the probe command alike: the named module, or else the one port_modules
// gives for the target's port; the target's port, or else the module's.
// Its errors say how to fix the request and list the modules.
func (c *Config) ChooseModule(req ModuleRequest) (ModuleChoice, error) {
	quote := req.Quote
	if quote == nil {
		quote = func(s string) string { return s }
	}
	modules := strings.Join(c.ModuleNames(), ", ")
	name := req.Module
	if name == "" {
		if req.Port == 0 {
			return ModuleChoice{}, fmt.Errorf("target %q has no port and no module is given: add :PORT or %s (modules: %s)",
				req.Target, req.ModuleFlag, modules)
		}
		var ok bool
		if name, ok = c.PortModules[req.Port]; !ok {
			return ModuleChoice{}, fmt.Errorf("no module is configured for port %d: add %s (modules: %s)",
				req.Port, req.ModuleFlag, modules)
		}
	}
	module, ok := c.Modules[name]
	if !ok {
		return ModuleChoice{}, fmt.Errorf("unknown module %q (modules: %s)", quote(name), modules)
	}
	port := req.Port
	if port == 0 {
		port = module.Port
	}
	if port == 0 {
		return ModuleChoice{}, fmt.Errorf("target %q has no port and module %q sets none: add :PORT", req.Target, name)
	}
	return ModuleChoice{Name: name, Module: module, Port: port}, nil
}
