package prober

import (
	"fmt"
	"net"
)

// maxHandshakeBytes bounds what a server may send during the TLS handshake.
// Go's client takes certificate messages up to 256 KiB, and a probe in
// flight keeps the certificates (raw and parsed) and the handshake buffer
// for the rest of its conversation, and crypto/tls's read buffers keep the
// size they grew to: 256 KiB several times over per probe against a
// hostile server. Real chains are 2 to 12 KB.
const maxHandshakeBytes = 32 << 10

// handshakeLimit counts the bytes read under a TLS client until the
// handshake is done and fails the read that passes maxHandshakeBytes.
type handshakeLimit struct {
	net.Conn
	read int
	done bool // the handshake ended: no more counting
}

func (c *handshakeLimit) Read(b []byte) (int, error) {
	if c.done {
		return c.Conn.Read(b)
	}
	if c.read >= maxHandshakeBytes {
		return 0, errHandshakeTooLarge
	}
	b = b[:min(len(b), maxHandshakeBytes-c.read)]
	n, err := c.Conn.Read(b)
	c.read += n
	return n, err
}

var errHandshakeTooLarge = fmt.Errorf("the server sent more than %d KiB during the TLS handshake (certificates of that size are not read)", maxHandshakeBytes>>10)
