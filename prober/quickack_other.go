//go:build !linux

package prober

import "net"

// quickAck is Linux's answer to delayed ACKs stalling a Nagle-bound
// server's reply (see quickack_linux.go); elsewhere it does nothing.
func quickAck(net.Conn) error { return nil }
