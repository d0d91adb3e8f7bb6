package smtptest

import (
	"net"
	"strconv"
	"syscall"
	"time"
)

// RefusedAddr returns a loopback address where nothing listens, so a
// connect is refused at once. A socket stays bound to the port without
// listening until the test ends: a port merely closed again would be
// handed to the next listener that asks for port 0, often at once.
func RefusedAddr(t T) string {
	t.Helper()
	_, addr := boundSocket(t)
	return addr
}

// FilteredAddr returns a loopback address that behaves like a filtered
// port: a listener that never accepts, with its accept queue already full,
// so the kernel drops further SYNs and a connect times out. It stands in
// for a firewall DROP rule where the test may not change the firewall.
func FilteredAddr(t T) string {
	t.Helper()
	fd, addr := boundSocket(t)
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the accept queue (backlog 0 holds one connection); the kernel
	// then drops new SYNs instead of answering them.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return addr
}

// boundSocket returns a TCP socket bound to a free loopback port, closed
// when the test ends, and its address.
func boundSocket(t T) (int, string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// SharedPort returns a port free on 127.0.0.1 to 127.0.0.n, for servers on
// several loopback addresses that share one port, as a target and the
// egress canaries of its port do.
func SharedPort(t T, n int) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		free := true
		for i := 2; i <= n && free; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0."+strconv.Itoa(i), strconv.Itoa(port)))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on 127.0.0.1 to 127.0.0.%d", n)
	return 0
}
