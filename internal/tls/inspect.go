package tls

import (
	"errors"

	"github.com/mosnctl/mosnctl/internal/network"
)

// errNotTLS is the inspector's verdict on bytes that start like a TLS
// record but can't be a ClientHello's.
var errNotTLS = errors.New("tls: first bytes are not a TLS handshake record")

// Verdict is what the first bytes of a connection say.
type Verdict int

// Verdicts of Sniff.
const (
	NeedMore    Verdict = iota // too few bytes to tell
	Plaintext                  // not TLS: serve the bytes as they are
	ClientHello                // a TLS handshake record
	Malformed                  // a handshake record header no client sends
)

// sniffLen is how many bytes Sniff needs at most: a record header (type,
// version, length) and the handshake message type.
const sniffLen = 6

// Sniff tells a TLS ClientHello from plaintext by the first bytes of a
// connection, without consuming or changing them. A TLS client's first
// record is a handshake record (22) of version 3.x (TLS 1.0 to 1.3 write
// 3.1 there; SSL 3 wrote 3.0) carrying a ClientHello (1). No plaintext
// protocol mosnctl serves starts with byte 22: HTTP starts with a letter,
// Bolt with 1 or 2.
func Sniff(b []byte) Verdict {
	if len(b) == 0 {
		return NeedMore
	}
	if b[0] != 22 {
		return Plaintext
	}
	if len(b) < 2 {
		return NeedMore
	}
	if b[1] != 3 {
		return Malformed
	}
	if len(b) < 5 {
		return NeedMore
	}
	if n := int(b[3])<<8 | int(b[4]); n == 0 || n > 16384+2048 {
		return Malformed
	}
	if len(b) < sniffLen {
		return NeedMore
	}
	if b[5] != 1 {
		return Malformed
	}
	return ClientHello
}

// inspect reads until Sniff decides, leaving every byte buffered for
// whoever serves the connection next.
func inspect(c *network.Conn) (isTLS bool, err error) {
	for {
		switch Sniff(c.Buffered()) {
		case Plaintext:
			return false, nil
		case ClientHello:
			return true, nil
		case Malformed:
			return false, errNotTLS
		}
		if err := c.Fill(); err != nil {
			return false, err
		}
	}
}
