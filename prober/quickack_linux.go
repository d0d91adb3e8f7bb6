package prober

import (
	"net"
	"syscall"
)

// quickAck asks the kernel to acknowledge what arrives next at once.
//
// A server that leaves Nagle's algorithm on (Postfix does) holds a small
// reply until its previous segment is acknowledged. After a TLS 1.3
// handshake that previous segment is the session tickets, which nothing of
// ours answers, and Linux delays the bare ACK by up to 40 ms: the EHLO
// after STARTTLS, or the QUIT, then takes 40 ms of the probe's own making,
// in one probe of three against the test bed's Postfix. The kernel leaves
// quick-ack mode again by itself, so this is set after every command.
func quickAck(c net.Conn) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	}); err != nil {
		return err
	}
	return serr
}
