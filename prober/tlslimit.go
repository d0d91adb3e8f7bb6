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
// hostile server. Real chains are 2 to 12 KB today; post-quantum ones
// (ML-DSA keys and signatures) will be two or three times that, which is why
// the bound is not lower.
const maxHandshakeBytes = 32 << 10

// tlsRecordHeaderLen is the TLS record header: type, version, length.
const tlsRecordHeaderLen = 5

// tlsReads sits under a TLS client. Until the handshake is done it counts
// what the server sends and fails the read that passes maxHandshakeBytes.
// Throughout, it hands crypto/tls no byte past the end of the record being
// read: crypto/tls fills its input buffer as far as it can, and the bytes
// of the next record it finds there make it double the buffer, which never
// shrinks. Against a server that sends 16 KiB records back to back the
// buffer reached 40 KiB where one record's 18 do. What is read past a
// record's end waits in ahead, so that a small record still takes one read
// from the socket, header and all.
type tlsReads struct {
	net.Conn
	read int  // bytes read during the handshake
	done bool // the handshake ended: no more counting

	buf      [512]byte
	ahead    []byte // read from the socket, not handed out yet (in buf)
	aheadErr error  // the error that came with ahead, for after it

	header  [tlsRecordHeaderLen]byte
	nheader int // bytes of the current record's header handed out so far
	body    int // bytes of the current record's body still to hand out
}

func (c *tlsReads) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(c.ahead) == 0 {
		if err := c.aheadErr; err != nil {
			c.aheadErr = nil
			return 0, err
		}
		if c.nheader == tlsRecordHeaderLen && c.body >= len(c.buf) {
			// Inside a long body: straight into b, up to the record's end.
			n, err := c.readConn(b[:min(len(b), c.body)])
			c.body -= n
			if c.body == 0 {
				c.nheader = 0
			}
			return n, err
		}
		n, err := c.readConn(c.buf[:])
		c.ahead, c.aheadErr = c.buf[:n], err
		if n == 0 {
			c.aheadErr = nil
			return 0, err
		}
	}
	n := 0
	for n < len(b) && len(c.ahead) > 0 {
		k := c.body
		if c.nheader < tlsRecordHeaderLen {
			k = tlsRecordHeaderLen - c.nheader
		}
		k = min(k, len(b)-n, len(c.ahead))
		copy(b[n:], c.ahead[:k])
		if c.nheader < tlsRecordHeaderLen {
			c.nheader += copy(c.header[c.nheader:], c.ahead[:k])
			if c.nheader == tlsRecordHeaderLen {
				c.body = int(c.header[3])<<8 | int(c.header[4])
			}
		} else {
			c.body -= k
		}
		c.ahead = c.ahead[k:]
		n += k
		if c.nheader == tlsRecordHeaderLen && c.body == 0 {
			c.nheader = 0
			break // the record ends here
		}
	}
	return n, nil
}

// readConn reads from the connection, within the handshake's bound.
func (c *tlsReads) readConn(b []byte) (int, error) {
	if c.done {
		return c.Conn.Read(b)
	}
	if c.read >= maxHandshakeBytes {
		return 0, errHandshakeTooLarge
	}
	n, err := c.Conn.Read(b[:min(len(b), maxHandshakeBytes-c.read)])
	c.read += n
	return n, err
}

var errHandshakeTooLarge = fmt.Errorf("the server sent more than %d KiB during the TLS handshake (certificates of that size are not read)", maxHandshakeBytes>>10)
