package http2

import (
	"errors"

	"golang.org/x/net/http2"
)

// ErrCode is an HTTP/2 error code (RFC 9113 §7); x/net's type, so its
// constants and String method apply.
type ErrCode = http2.ErrCode

// Errors the write methods return.
var (
	// ErrStreamClosed: the stream is unknown, reset or already ended on our side.
	ErrStreamClosed = errors.New("http2: stream closed")
	// ErrStreamLimit: the peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached;
	// a pool opens another connection.
	ErrStreamLimit = errors.New("http2: peer's concurrent stream limit reached")
	// ErrGoAway: the peer sent GOAWAY (or we did), so no new stream may start.
	ErrGoAway = errors.New("http2: connection is going away")
	// ErrStreamIDsExhausted: all 2^30 client stream identifiers are used.
	ErrStreamIDsExhausted = errors.New("http2: stream identifiers exhausted")
	// ErrHeaderListTooLarge: the block exceeds the peer's SETTINGS_MAX_HEADER_LIST_SIZE.
	ErrHeaderListTooLarge = errors.New("http2: header list larger than the peer accepts")
	// ErrHeadersSent: a head was sent already; a second block is trailers
	// and must end the stream.
	ErrHeadersSent = errors.New("http2: head already sent; trailers must end the stream")
	// ErrPseudoInTrailers: trailers may not carry pseudo-header fields.
	ErrPseudoInTrailers = errors.New("http2: pseudo-header field in trailers")
)

var errCompression = errors.New("hpack: invalid header block")

// ConnError is a connection error (RFC 9113 §5.4.1): the engine has queued
// GOAWAY with Code (unless Remote) and the caller must flush and close.
type ConnError struct {
	Code   ErrCode
	Reason string
	// Remote is set when the peer ended the connection with a GOAWAY that
	// carried an error code.
	Remote bool
}

func (e *ConnError) Error() string {
	if e.Remote {
		return "http2: peer sent GOAWAY " + e.Code.String() + ": " + e.Reason
	}
	return "http2: connection error " + e.Code.String() + ": " + e.Reason
}

// StreamError reports that a stream ended abnormally (RFC 9113 §5.4.2).
type StreamError struct {
	StreamID uint32
	Code     ErrCode
	// Remote is set when the peer sent RST_STREAM; otherwise the engine
	// reset the stream because the peer broke a rule (Reason says which) or
	// the connection failed.
	Remote bool
	Reason string
}

func (e *StreamError) Error() string {
	if e.Remote {
		return "http2: stream reset by peer: " + e.Code.String()
	}
	return "http2: stream error " + e.Code.String() + ": " + e.Reason
}
