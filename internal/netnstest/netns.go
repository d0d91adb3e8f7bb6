// Package netnstest gives a test a network namespace of its own, joined to
// the test's namespace by a veth pair, so that it can firewall (nftables)
// and break the paths of the code under test without touching the host's:
// the code dials from inside the namespace, the test's servers listen on
// the host side of the veth, and rules in the namespace's own nftables drop
// or reject what leaves it. Everything is removed when the test ends.
//
// It needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and the ip and nft programs
// (iproute2, nftables: testbed/deps.sh installs them). Without them a test
// skips, except under CI=true, where it fails.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace of one test.
type NS struct {
	Name string
	// HostIP is the host end of the veth (in the test's namespace), NSIP
	// the namespace's; HostIP6 and NSIP6 likewise, when IPv6 is there.
	HostIP, NSIP   netip.Addr
	HostIP6, NSIP6 netip.Addr

	handle *os.File // the namespace, for setns
	hostIf string
	mu     sync.Mutex
	next   int // the next extra host address
}

// New makes the namespace and its veth pair, with a random /24 of
// 10.0.0.0/8 and a random /64 of fd00::/8 that no interface of the host
// uses, and loopback up inside.
func New(t *testing.T) *NS {
	t.Helper()
	need(t)
	id := randomHex(t, 4)
	n := &NS{Name: "smtpexp-" + id, hostIf: "se" + id + "h", next: 10}
	run(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		if n.handle != nil {
			n.handle.Close()
		}
		// Deleting the namespace deletes its veth end, and with it the pair.
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", n.Name, err, out)
		}
		_ = exec.Command("ip", "link", "del", n.hostIf).Run() // gone already, normally
	})
	nsIf := "se" + id + "n"
	prefix4, prefix6 := freePrefixes(t)
	n.HostIP, n.NSIP = prefix4.Addr().Next(), prefix4.Addr().Next().Next()
	run(t, "ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", nsIf)
	run(t, "ip", "link", "set", nsIf, "netns", n.Name)
	run(t, "ip", "addr", "add", n.HostIP.String()+"/24", "dev", n.hostIf)
	run(t, "ip", "link", "set", n.hostIf, "up")
	n.run(t, "ip", "link", "set", "lo", "up")
	n.run(t, "ip", "addr", "add", n.NSIP.String()+"/24", "dev", nsIf)
	n.run(t, "ip", "link", "set", nsIf, "up")
	if ipv6() {
		n.HostIP6, n.NSIP6 = prefix6.Addr().Next(), prefix6.Addr().Next().Next()
		// nodad: the addresses are usable at once, not after duplicate
		// address detection's second or two.
		run(t, "ip", "-6", "addr", "add", n.HostIP6.String()+"/64", "dev", n.hostIf, "nodad")
		n.run(t, "ip", "-6", "addr", "add", n.NSIP6.String()+"/64", "dev", nsIf, "nodad")
	}
	f, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		t.Fatal(err)
	}
	n.handle = f
	return n
}

// need skips the test when it cannot make namespaces, and fails it under
// CI=true, where everything must run.
func need(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, prog := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("a network namespace of its own needs %s (testbed/deps.sh installs nftables)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NeedIPv6 skips (fails under CI=true) a test that needs IPv6 where the
// host has none.
func (n *NS) NeedIPv6(t *testing.T) {
	t.Helper()
	if n.HostIP6.IsValid() {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("IPv6 is disabled on this host")
	}
	t.Skip("IPv6 is disabled on this host")
}

func ipv6() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
	return err == nil && strings.TrimSpace(string(b)) == "0"
}

// freePrefixes picks a /24 of 10.0.0.0/8 and a /64 of fd00::/8 that no
// address of the host lies in.
func freePrefixes(t *testing.T) (netip.Prefix, netip.Prefix) {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		p4 := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, b[0], b[1], 0}), 24)
		var a16 [16]byte
		a16[0] = 0xfd
		copy(a16[1:8], b[1:8])
		p6 := netip.PrefixFrom(netip.AddrFrom16(a16), 64)
		used := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && (p4.Contains(ip.Unmap()) || p6.Contains(ip)) {
					used = true
				}
			}
		}
		if !used {
			return p4, p6
		}
	}
	t.Fatal("no free 10.x.y.0/24 for the test's namespace")
	return netip.Prefix{}, netip.Prefix{}
}

// AddHostAddr adds one more address of the namespace's /24 (or /64, for
// ip6) to the host end of the veth, for one more server the namespace
// reaches: canaries and targets on one port each need one.
func (n *NS) AddHostAddr(t *testing.T, family string) netip.Addr {
	t.Helper()
	n.mu.Lock()
	i := n.next
	n.next++
	n.mu.Unlock()
	var a netip.Addr
	if family == "ip6" {
		b := n.HostIP6.As16()
		b[15] = byte(i)
		a = netip.AddrFrom16(b)
		run(t, "ip", "-6", "addr", "add", a.String()+"/128", "dev", n.hostIf, "nodad")
	} else {
		b := n.HostIP.As4()
		b[3] = byte(i)
		a = netip.AddrFrom4(b)
		run(t, "ip", "addr", "add", a.String()+"/32", "dev", n.hostIf)
	}
	return a
}

// Listen listens on port of a new address of family on the host end of
// the veth (see AddHostAddr): a server the namespace reaches.
func (n *NS) Listen(t *testing.T, family string, port uint16) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(n.AddHostAddr(t, family), port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Nft loads an nftables ruleset into the namespace (its own tables: the
// host's firewall is not touched).
func (n *NS) Nft(t *testing.T, ruleset string) {
	t.Helper()
	cmd := n.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f in %s: %v\n%s\n%s", n.Name, err, out, ruleset)
	}
}

// FlushNft removes every nftables rule of the namespace.
func (n *NS) FlushNft(t *testing.T) {
	t.Helper()
	n.run(t, "nft", "flush", "ruleset")
}

// Command is a command that runs inside the namespace.
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

func (n *NS) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := n.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), n.Name, err, out)
	}
}

// Dial connects from inside the namespace: the socket is made there, and
// lives there whatever thread later uses it. It is a DialFunc.
func (n *NS) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	if err := unix.Setns(int(n.handle.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering %s: %w", n.Name, err)
	}
	var d net.Dialer
	conn, dialErr := d.DialContext(ctx, network, address)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays in the namespace: left locked, it ends with
		// this goroutine instead of serving others there.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("leaving %s: %w", n.Name, err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
