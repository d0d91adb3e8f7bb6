package prober

import (
	"net"
	"syscall"
	"testing"
)

// TestQuickAck checks that the option is really set on the socket: without
// it a Nagle-bound server's reply waits for our delayed ACK (40 ms), which
// no functional test notices and every STARTTLS probe's timing shows.
func TestQuickAck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Sending data right after connecting is what puts Linux in delayed-ACK
	// ("pingpong") mode, the mode quickAck leaves.
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := quickAck(c); err != nil {
		t.Fatalf("quickAck: %v", err)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	})
	if gerr != nil || got != 1 {
		t.Errorf("TCP_QUICKACK = %d (err %v), want 1", got, gerr)
	}
	if err := quickAck(nil); err != nil {
		t.Errorf("quickAck of no TCP connection: %v", err)
	}
}
