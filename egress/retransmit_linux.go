package egress

import (
	"net"

	"golang.org/x/sys/unix"
)

// retransmitted reports whether the kernel had to resend anything on the
// connection (a SYN, an ACK, QUIT): loss on the way out.
func retransmitted(c net.Conn) bool {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		info    *unix.TCPInfo
		infoErr error
	)
	if err := raw.Control(func(fd uintptr) {
		info, infoErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || infoErr != nil {
		return false
	}
	return info.Total_retrans > 0
}
