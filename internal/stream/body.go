package stream

import (
	"errors"
	"io"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// ErrBodyTruncated means the peer closed the connection inside a body.
var ErrBodyTruncated = errors.New("http1: connection closed inside a body")

// Body walks a framed HTTP/1 body on a connection and hands out its raw
// bytes (chunk framing included) as they arrive, so a proxy forwards them
// verbatim without ever holding the whole body.
type Body struct {
	conn      *network.Conn
	framing   http1.Framing
	remaining int64
	chunked   http1.ChunkedReader
	done      bool
}

// Reset prepares b for a body of the given framing on conn; length is the
// Content-Length for FramingLength.
func (b *Body) Reset(conn *network.Conn, framing http1.Framing, length int64) {
	b.conn, b.framing, b.remaining = conn, framing, length
	b.chunked.Reset()
	b.done = framing == http1.FramingNone || (framing == http1.FramingLength && length <= 0)
}

// Done reports whether the whole body has been handed out.
func (b *Body) Done() bool { return b.done }

// Buffered returns the body bytes already buffered, consuming them, without
// reading the connection. Empty when nothing is buffered or the body is done.
func (b *Body) Buffered() ([]byte, error) {
	if b.done {
		return nil, nil
	}
	return b.take(b.conn.Buffered())
}

// Next returns the next raw body bytes, reading the connection when nothing is
// buffered. The slice is valid until the next call. It returns (nil, nil) once
// the body is done.
func (b *Body) Next() ([]byte, error) {
	for !b.done {
		if len(b.conn.Buffered()) == 0 {
			if err := b.conn.Fill(); err != nil {
				if b.framing == http1.FramingUntilClose && errors.Is(err, io.EOF) {
					b.done = true
					return nil, nil
				}
				if errors.Is(err, io.EOF) {
					return nil, ErrBodyTruncated
				}
				return nil, err
			}
		}
		p, err := b.take(b.conn.Buffered())
		if err != nil || len(p) > 0 {
			return p, err
		}
	}
	return nil, nil
}

func (b *Body) take(buf []byte) ([]byte, error) {
	if len(buf) == 0 {
		return nil, nil
	}
	switch b.framing {
	case http1.FramingLength:
		n := int64(len(buf))
		if n > b.remaining {
			n = b.remaining
		}
		b.remaining -= n
		b.done = b.remaining == 0
		p := buf[:n]
		b.conn.Discard(int(n))
		return p, nil
	case http1.FramingChunked:
		consumed, _, done, err := b.chunked.Next(buf)
		if err != nil {
			return nil, err
		}
		b.done = done
		p := buf[:consumed]
		b.conn.Discard(consumed)
		return p, nil
	case http1.FramingUntilClose:
		b.conn.Discard(len(buf))
		return buf, nil
	}
	b.done = true
	return nil, nil
}

// Drain reads and drops the rest of the body, so the connection can carry the
// next message.
func (b *Body) Drain() error {
	for !b.done {
		if _, err := b.Next(); err != nil {
			return err
		}
	}
	return nil
}
