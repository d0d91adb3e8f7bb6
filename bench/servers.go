package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// Where the probes go: a set of servers for the three conversations.
type targetSet struct {
	server     string // "in-process" or "postfix"
	caFile     string
	serverName string
	addr       map[kind]string
}

// inProcess are the SMTP servers the driver runs itself: fast well-behaved
// ones, one per failure of the time-to-verdict table, and a tarpit.
type inProcess struct {
	fast    targetSet
	failing []failingServer
	tarpit  *tarpit
	// worst is the worst hostile server of the test suite, and worstCA the
	// CA file that makes its certificate trusted (not for the probe's name).
	// worstFree is the same server without the hold, for a first probe.
	worst     *smtptest.Worst
	worstFree *smtptest.Worst
	worstCA   string
}

// failingServer is a server whose probes fail, for the time to verdict.
type failingServer struct {
	name, addr string
	want       string // smtp_exporter's failure reason
}

func startInProcess(tb smtptest.T) *inProcess {
	ca := smtptest.NewCA(tb)
	good := smtptest.ServerTLS(ca.Issue(tb, smtptest.LocalhostLeaf()))
	stranger := smtptest.NewCA(tb)
	untrusted := smtptest.ServerTLS(stranger.Issue(tb, smtptest.LocalhostLeaf()))
	worstCA := smtptest.NewCA(tb)

	// raw answers with greeting, then reads until the client goes, as a
	// server that does not close on its own would.
	raw := func(greeting string) string {
		return smtptest.NewRawServer(tb, func(c net.Conn, _ *smtptest.Server) {
			c.SetDeadline(time.Now().Add(time.Minute))
			c.Write([]byte(greeting))
			io.Copy(io.Discard, c)
		}).Addr
	}
	return &inProcess{
		fast: targetSet{
			server:     "in-process",
			caFile:     ca.File,
			serverName: "localhost",
			addr: map[kind]string{
				kindEHLO:     smtptest.NewServer(tb, smtptest.Config{}).Addr,
				kindStartTLS: smtptest.NewServer(tb, smtptest.Config{StartTLS: good}).Addr,
				kindImplicit: smtptest.NewServer(tb, smtptest.Config{Implicit: good}).Addr,
				kindPosture:  smtptest.NewServer(tb, smtptest.Config{StartTLS: good}).Addr,
			},
		},
		failing: []failingServer{
			{"connection refused", smtptest.RefusedAddr(tb), "connect_refused"},
			{"filtered (SYN dropped)", smtptest.FilteredAddr(tb), "connect_timeout"},
			// A server out of resources says 421 and closes (RFC 5321 section 3.8).
			{"greeting 421, then close", smtptest.NewRawServer(tb, func(c net.Conn, _ *smtptest.Server) {
				c.Write([]byte("421 4.3.2 fake.test Service not available, closing transmission channel\r\n"))
			}).Addr, "banner_rejected"},
			// A server refusing this client says 554 and waits for QUIT.
			{"greeting 554, waits for QUIT", smtptest.NewServer(tb, smtptest.Config{Greeting: "554 5.7.1 fake.test Access denied\r\n"}).Addr, "banner_rejected"},
			{"garbage line", raw("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 \xde\xad\xbe\xef not smtp\r\n"), "protocol_error"},
			{"binary garbage, no line end", raw("\x00\x01\x02\x03\xff\xfe\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\xde\xad\xbe\xef"), "protocol_error"},
			{"STARTTLS rejected (454)", smtptest.NewServer(tb, smtptest.Config{
				StartTLS: good, StartTLSReply: "454 4.7.0 TLS not available due to local problem\r\n",
			}).Addr, "starttls_rejected"},
			{"untrusted certificate", smtptest.NewServer(tb, smtptest.Config{StartTLS: untrusted}).Addr, "cert_untrusted"},
		},
		tarpit:    newTarpit(tb),
		worst:     smtptest.NewWorst(tb, worstCA, 5*time.Minute),
		worstFree: smtptest.NewWorst(tb, worstCA, 0),
		worstCA:   worstCA.File,
	}
}

// tarpit accepts connections and never says a word: every probe of it is
// held open until its deadline.
type tarpit struct {
	addr string
	open atomic.Int64
}

func newTarpit(tb smtptest.T) *tarpit {
	t := &tarpit{}
	t.addr = smtptest.NewRawServer(tb, func(c net.Conn, _ *smtptest.Server) {
		t.open.Add(1)
		defer t.open.Add(-1)
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		io.Copy(io.Discard, c)
	}).Addr
	return t
}

// postfix is the real Postfix test bed (testbed/postfix.sh), when it runs.
type postfix struct {
	targets   targetSet
	reject    string // 554 greeting to every client
	expired   string // STARTTLS with an expired certificate
	wronghost string // STARTTLS with a certificate for another name
}

// findPostfix reads the test bed's environment file and checks that it
// listens; it returns nil and the reason when it does not.
func findPostfix(envFile string) (*postfix, string) {
	f, err := os.Open(envFile)
	if err != nil {
		return nil, "no test bed environment (start it with `bash testbed/postfix.sh start` as root): " + err.Error()
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			env[k] = strings.Trim(v, `"'`)
		}
	}
	addr := func(name string) string {
		return net.JoinHostPort(env["TESTBED_HOST"], env["TESTBED_PORT_"+name])
	}
	c, err := net.DialTimeout("tcp", addr("SMTP"), 2*time.Second)
	if err != nil {
		return nil, "the test bed does not listen: " + err.Error()
	}
	c.Close()
	return &postfix{
		targets: targetSet{
			server:     "postfix",
			caFile:     env["TESTBED_CA_FILE"],
			serverName: env["TESTBED_SERVER_NAME"],
			addr: map[kind]string{
				kindEHLO:     addr("SMTP"),
				kindStartTLS: addr("SMTP"),
				kindImplicit: addr("SMTPS"),
				kindPosture:  addr("SMTP"),
			},
		},
		reject:    addr("REJECT"),
		expired:   addr("EXPIRED"),
		wronghost: addr("WRONGHOST"),
	}, ""
}
