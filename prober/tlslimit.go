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
// Throughout, no read goes past the end of the record being read:
// crypto/tls fills its input buffer as far as it can, and the bytes of the
// next record it finds there make it double the buffer, which never
// shrinks. Against a server that sends 16 KiB records back to back the
// buffer reached 40 KiB where one record's 18 do.
type tlsReads struct {
	net.Conn
	read int  // bytes read during the handshake
	done bool // the handshake ended: no more counting

	header  [tlsRecordHeaderLen]byte
	nheader int // bytes of the current record's header read so far
	body    int // bytes of the current record's body still to come
}

func (c *tlsReads) Read(b []byte) (int, error) {
	if !c.done {
		if c.read >= maxHandshakeBytes {
			return 0, errHandshakeTooLarge
		}
		b = b[:min(len(b), maxHandshakeBytes-c.read)]
	}
	if c.nheader < tlsRecordHeaderLen {
		b = b[:min(len(b), tlsRecordHeaderLen-c.nheader)]
	} else {
		b = b[:min(len(b), c.body)]
	}
	n, err := c.Conn.Read(b)
	c.read += n
	c.advance(b[:n])
	return n, err
}

// advance follows the record framing over the bytes just read (never more
// than the rest of one header or one body).
func (c *tlsReads) advance(b []byte) {
	if c.nheader < tlsRecordHeaderLen {
		c.nheader += copy(c.header[c.nheader:], b)
		if c.nheader == tlsRecordHeaderLen {
			c.body = int(c.header[3])<<8 | int(c.header[4])
		}
	} else {
		c.body -= len(b)
	}
	if c.nheader == tlsRecordHeaderLen && c.body == 0 {
		c.nheader = 0
	}
}

var errHandshakeTooLarge = fmt.Errorf("the server sent more than %d KiB during the TLS handshake (certificates of that size are not read)", maxHandshakeBytes>>10)
