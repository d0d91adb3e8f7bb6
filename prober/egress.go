package prober

// Egress states, as the egress package names them (its State values).
const (
	EgressOpen        = "open"
	EgressBlocked     = "blocked"
	EgressThrottled   = "throttled"
	EgressIntercepted = "intercepted"
	EgressUnknown     = "unknown"
)

// EgressInfo is what the exporter's egress canaries say of this host's
// path to the probe's port over its address family. The probe itself
// does not look: whoever runs it (the /probe handler, the probe command)
// adds it, so that every view of the result shows it.
type EgressInfo struct {
	Port   int    `json:"port"`
	Family string `json:"family"` // ip4 or ip6
	// State is open, blocked, throttled, intercepted or unknown.
	State string `json:"state"`
	// Detail is what the state rests on, such as "3/3 IPv4 canaries time out".
	Detail string `json:"detail"`
}

// Open says the canaries get through: a failure is the target's.
func (e *EgressInfo) Open() bool { return e != nil && e.State == EgressOpen }

// Family is the address family of the probe: the address it connected
// to, or the module's ip_protocol when it got no address.
func (r *Result) Family(preferred string) string {
	switch r.IPProtocol {
	case 4:
		return "ip4"
	case 6:
		return "ip6"
	}
	return preferred
}
