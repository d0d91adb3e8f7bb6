// Package dnstest runs an in-process DNS server on loopback for tests: a
// zone given as presentation-format records, answered as a recursive
// resolver would (CNAME chains followed inside the zone), with knobs for
// the misbehaviour a real server will not produce on demand (SERVFAIL,
// truncation, silence, wrong questions, the AD bit).
package dnstest

import (
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// T is what the server needs of a test (testing.TB has it), so that the
// bench driver can run one outside of go test too.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server is a running fake DNS server. Set its knobs before queries are sent.
type Server struct {
	// Addr is host:port of both the UDP and the TCP listener.
	Addr string

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN
	// ServFail, Refuse, Silent: names (FQDN, lower case) answered SERVFAIL,
	// REFUSED, or not at all.
	ServFail map[string]bool
	Silent   map[string]bool
	// ServFailAAAA: names whose AAAA questions alone are answered SERVFAIL.
	ServFailAAAA map[string]bool
	// TruncateUDP: names whose UDP answer has the TC bit and no records;
	// TruncateTCP: the TCP answer too.
	TruncateUDP map[string]bool
	TruncateTCP map[string]bool
	// Secure: names whose answers carry the AD bit.
	Secure map[string]bool
	// WrongQuestion: names answered with another question in the reply.
	WrongQuestion map[string]bool
	// NoChase: names whose CNAME is answered alone, as an authoritative
	// server does for a target outside its zone.
	NoChase map[string]bool
	// DropFirst: names whose first UDP question goes unanswered, as a
	// datagram lost on the way.
	DropFirst map[string]bool
	// Bogus: names answered SERVFAIL, as a validating resolver answers
	// data that fails validation, unless the question has the CD bit.
	Bogus map[string]bool

	// ede: the Extended DNS Error code each name's answers carry (SetEDE).
	ede map[string]uint16

	queries []Query
}

// Query is one question the server received.
type Query struct {
	Name  string
	Type  uint16
	Net   string // "udp" or "tcp"
	DO    bool   // the DO bit of EDNS0
	AD    bool
	CD    bool
	Size  uint16 // EDNS0 buffer size (0: no EDNS0)
	Edns0 bool
}

// Start serves records (each like "example.test. 300 IN MX 10 mx.example.test.")
// on 127.0.0.1 over UDP and TCP until the test ends.
func Start(t T, records ...string) *Server {
	t.Helper()
	s := &Server{
		records:  map[string][]dns.RR{},
		ServFail: map[string]bool{}, Silent: map[string]bool{}, ServFailAAAA: map[string]bool{},
		TruncateUDP: map[string]bool{}, TruncateTCP: map[string]bool{},
		Secure: map[string]bool{}, WrongQuestion: map[string]bool{}, NoChase: map[string]bool{},
		DropFirst: map[string]bool{}, Bogus: map[string]bool{}, ede: map[string]uint16{},
	}
	for _, r := range records {
		s.Add(t, r)
	}
	pc, ln, err := listenUDPAndTCP()
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s.handler("udp")}
	tcp := &dns.Server{Listener: ln, Handler: s.handler("tcp")}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// Add adds one record in presentation format.
func (s *Server) Add(t T, record string) {
	t.Helper()
	rr, err := dns.NewRR(record)
	if err != nil {
		t.Fatalf("dnstest: %q: %v", record, err)
	}
	s.AddRR(rr)
}

// AddRR adds one record.
func (s *Server) AddRR(rr dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.ToLower(rr.Header().Name)
	s.records[name] = append(s.records[name], rr)
}

// Set turns a knob for a name: s.Set(s.ServFail, "x.test").
func (s *Server) Set(knob map[string]bool, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	knob[dns.Fqdn(strings.ToLower(name))] = true
}

// SetEDE makes the answers for name carry the Extended DNS Error code
// (RFC 8914), with a text as Unbound gives one.
func (s *Server) SetEDE(name string, code uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ede[dns.Fqdn(strings.ToLower(name))] = code
}

// Queries returns the questions received so far.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

func (s *Server) handler(network string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		if len(req.Question) != 1 {
			return
		}
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		s.mu.Lock()
		defer s.mu.Unlock()
		rec := Query{Name: name, Type: q.Qtype, Net: network, AD: req.AuthenticatedData, CD: req.CheckingDisabled}
		if opt := req.IsEdns0(); opt != nil {
			rec.Edns0, rec.DO, rec.Size = true, opt.Do(), opt.UDPSize()
		}
		s.queries = append(s.queries, rec)
		if s.Silent[name] {
			return
		}
		if network == "udp" && s.DropFirst[name] {
			delete(s.DropFirst, name)
			return
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		m.AuthenticatedData = s.Secure[name]
		switch {
		case s.ServFail[name], q.Qtype == dns.TypeAAAA && s.ServFailAAAA[name], s.Bogus[name] && !req.CheckingDisabled:
			m.Rcode = dns.RcodeServerFailure
		case network == "udp" && s.TruncateUDP[name], network == "tcp" && s.TruncateTCP[name]:
			m.Truncated = true
		case s.WrongQuestion[name]:
			m.Question[0].Name = "other.test."
		default:
			s.answer(m, name, q.Qtype)
		}
		if code, ok := s.ede[name]; ok {
			// The reply's OPT record carries the error, as Unbound's does.
			m.SetEdns0(dns.DefaultMsgSize, false)
			opt := m.IsEdns0()
			opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: "validation failure <" + name + ">"})
		}
		if network == "udp" {
			size := uint16(dns.MinMsgSize)
			if opt := req.IsEdns0(); opt != nil {
				size = opt.UDPSize()
			}
			m.Truncate(int(size))
		}
		_ = w.WriteMsg(m)
	}
}

func (s *Server) answer(m *dns.Msg, name string, qtype uint16) {
	cur := name
	for range 32 {
		var cname *dns.CNAME
		found := false
		for _, rr := range s.records[cur] {
			if rr.Header().Rrtype == qtype {
				m.Answer = append(m.Answer, rr)
				found = true
			}
			if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil || qtype == dns.TypeCNAME {
			break
		}
		m.Answer = append(m.Answer, cname)
		if s.NoChase[cur] {
			return
		}
		cur = strings.ToLower(cname.Target)
	}
	if len(m.Answer) == 0 {
		if len(s.records[cur]) == 0 && !s.hasBelow(cur) {
			m.Rcode = dns.RcodeNameError
		}
	}
	if len(m.Answer) == 0 || m.Answer[len(m.Answer)-1].Header().Rrtype == dns.TypeCNAME {
		soa, _ := dns.NewRR(". 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300")
		m.Ns = append(m.Ns, soa)
	}
}

// hasBelow says a name has descendants (an empty non-terminal is NODATA,
// not NXDOMAIN).
func (s *Server) hasBelow(name string) bool {
	for n := range s.records {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}

// listenUDPAndTCP opens a UDP and a TCP socket on the same free loopback
// port. The kernel picks the UDP port; that port may be taken for TCP by
// another test running in parallel, so a few ports are tried.
func listenUDPAndTCP() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, lastErr
}
