// Package bolt owns the wire format of SOFARPC Bolt v1 (protocol code 0x01):
// decoding bytes into frames, encoding frames into bytes, and reading and
// writing the header map that SOFARPC puts its routing keys in.
//
// Everything here is a pure function over byte slices so that the hot path of
// a proxy pays no allocation per frame: a decoded Frame is a view into the
// caller's buffer (valid until that buffer is reused), header lookups scan the
// raw map in place, and encoders append to a caller-owned slice. The package
// never touches sockets and imports nothing from the layers above it.
package bolt

import (
	"errors"
	"fmt"
)

// Fixed values of the Bolt v1 header.
const (
	// ProtocolCode is the first byte of every Bolt v1 frame.
	ProtocolCode byte = 0x01
	// CommandVersion is the ver2 byte SOFARPC writes; encoders that build new
	// frames use it.
	CommandVersion byte = 0x01

	TypeResponse byte = 0x00
	TypeRequest  byte = 0x01
	TypeOneway   byte = 0x02

	CmdHeartbeat uint16 = 0
	CmdRequest   uint16 = 1
	CmdResponse  uint16 = 2

	// RequestHeaderLen is the fixed part of a request frame:
	// proto type cmdcode(2) ver2 requestId(4) codec timeout(4) classLen(2) headerLen(2) contentLen(4).
	RequestHeaderLen = 22
	// ResponseHeaderLen is the fixed part of a response frame: as a request,
	// but with a 2-byte status in place of the 4-byte timeout.
	ResponseHeaderLen = 20

	// CodecHessian2 is the serializer id SOFARPC uses by default.
	CodecHessian2 byte = 1
	// CodecProtobuf and CodecJSON are the other ids in SOFARPC's registry.
	CodecProtobuf byte = 11
	CodecJSON     byte = 12

	// DefaultMaxFrameSize bounds a frame when the caller passes no limit.
	DefaultMaxFrameSize = 16 << 20

	// requestIDOffset is where the 4-byte request id sits in both layouts.
	requestIDOffset = 5
)

// Response statuses (respStatus).
const (
	StatusSuccess                 uint16 = 0x0000
	StatusError                   uint16 = 0x0001
	StatusServerException         uint16 = 0x0002
	StatusUnknown                 uint16 = 0x0003
	StatusServerThreadpoolBusy    uint16 = 0x0004
	StatusErrorComm               uint16 = 0x0005
	StatusNoProcessor             uint16 = 0x0006
	StatusTimeout                 uint16 = 0x0007
	StatusClientSendError         uint16 = 0x0008
	StatusCodecException          uint16 = 0x0009
	StatusConnectionClosed        uint16 = 0x0010
	StatusServerSerialException   uint16 = 0x0011
	StatusServerDeserialException uint16 = 0x0012
)

// Class names and header keys SOFARPC uses. A proxy routes on the header keys
// without decoding the content.
const (
	ClassRequest  = "com.alipay.sofa.rpc.core.request.SofaRequest"
	ClassResponse = "com.alipay.sofa.rpc.core.response.SofaResponse"

	// HeaderService is the interface and version, e.g. "com.example.EchoService:1.0".
	HeaderService   = "service"
	HeaderMethod    = "sofa_head_method_name"
	HeaderTargetApp = "sofa_head_target_app"
	HeaderTraceID   = "rpc_trace_context.sofaTraceId"
)

// StatusText names a response status for logs and tables; unknown values
// are shown in hex.
func StatusText(status uint16) string {
	switch status {
	case StatusSuccess:
		return "success"
	case StatusError:
		return "error"
	case StatusServerException:
		return "server exception"
	case StatusUnknown:
		return "unknown"
	case StatusServerThreadpoolBusy:
		return "server threadpool busy"
	case StatusErrorComm:
		return "error comm"
	case StatusNoProcessor:
		return "no processor"
	case StatusTimeout:
		return "timeout"
	case StatusClientSendError:
		return "client send error"
	case StatusCodecException:
		return "codec exception"
	case StatusConnectionClosed:
		return "connection closed"
	case StatusServerSerialException:
		return "server serial exception"
	case StatusServerDeserialException:
		return "server deserial exception"
	}
	return fmt.Sprintf("status 0x%04x", status)
}

// ErrNeedMore means the buffer holds only a prefix of a frame; read more
// bytes and decode again from the same start.
var ErrNeedMore = errors.New("bolt: need more data")

// Error reports a malformed frame. The stream cannot be resynchronised after
// one, so the connection that produced it should be closed.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func errorf(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// Frame is one decoded Bolt v1 command. Class, Header and Content alias the
// buffer given to Decode: they are valid only until that buffer is reused,
// so copy what must outlive it. A Frame is meant to be reused across frames
// (Reset, or simply Decode into it again).
type Frame struct {
	Type      byte
	CmdCode   uint16
	Version   byte // ver2
	RequestID uint32
	Codec     byte
	Timeout   uint32 // requests only, milliseconds
	Status    uint16 // responses only
	Class     []byte
	Header    []byte // raw encoded header map; read it with Get and Range
	Content   []byte
	Len       int // total encoded length of the frame
}

// Reset clears f so that it keeps no reference to a previous buffer.
func (f *Frame) Reset() { *f = Frame{} }

// IsRequest reports whether f is a request, one-way or not.
func (f *Frame) IsRequest() bool { return f.Type == TypeRequest || f.Type == TypeOneway }

// IsOneway reports whether f is a request that expects no response.
func (f *Frame) IsOneway() bool { return f.Type == TypeOneway }

// IsHeartbeat reports whether f is a heartbeat or a heartbeat answer.
func (f *Frame) IsHeartbeat() bool { return f.CmdCode == CmdHeartbeat }

// HeaderLen returns the length of the fixed header in f's layout.
func (f *Frame) HeaderLen() int {
	if f.Type == TypeResponse {
		return ResponseHeaderLen
	}
	return RequestHeaderLen
}

// EncodedLen returns how many bytes AppendFrame will append for f.
func (f *Frame) EncodedLen() int {
	return f.HeaderLen() + len(f.Class) + len(f.Header) + len(f.Content)
}

// Validate reports whether AppendFrame can encode f: the variable parts must
// fit their length fields. Frames produced by Decode always can; check
// frames you built or grew yourself (for example by appending headers).
func (f *Frame) Validate() error {
	if f.Type != TypeResponse && f.Type != TypeRequest && f.Type != TypeOneway {
		return errorf("bolt: unknown command type 0x%02x", f.Type)
	}
	if len(f.Class) > 0xffff {
		return errorf("bolt: class of %d bytes exceeds the 16-bit length field", len(f.Class))
	}
	if len(f.Header) > 0xffff {
		return errorf("bolt: header map of %d bytes exceeds the 16-bit length field", len(f.Header))
	}
	if uint64(len(f.Content)) > 0xffffffff {
		return errorf("bolt: content of %d bytes exceeds the 32-bit length field", len(f.Content))
	}
	return nil
}
