package bolt

import "encoding/binary"

// Looks reports whether b starts like a Bolt v1 frame: the protocol code and
// a known command type. It needs at least two bytes; with fewer it says no,
// so a detector should wait for two bytes before asking.
func Looks(b []byte) bool {
	return len(b) >= 2 && b[0] == ProtocolCode && validType(b[1])
}

func validType(t byte) bool {
	return t == TypeResponse || t == TypeRequest || t == TypeOneway
}

// validCommand reports whether cmd may travel in a frame of type t: requests
// carry heartbeats and rpc requests, responses carry heartbeat answers and
// rpc responses. Anything else is a peer we cannot frame safely.
func validCommand(t byte, cmd uint16) bool {
	if cmd == CmdHeartbeat {
		return true
	}
	if t == TypeResponse {
		return cmd == CmdResponse
	}
	return cmd == CmdRequest
}

// FrameLen returns the total length of the frame at the start of buf once its
// fixed header is there, so a reader can size its buffer before the frame is
// complete. It returns ErrNeedMore while the fixed header is incomplete and
// an *Error as soon as the bytes seen are malformed or the frame is larger
// than maxFrameSize (DefaultMaxFrameSize when maxFrameSize <= 0).
func FrameLen(buf []byte, maxFrameSize int) (int, error) {
	if len(buf) < 1 {
		return 0, ErrNeedMore
	}
	if buf[0] != ProtocolCode {
		return 0, errorf("bolt: protocol code 0x%02x, want 0x%02x", buf[0], ProtocolCode)
	}
	if len(buf) < 2 {
		return 0, ErrNeedMore
	}
	typ := buf[1]
	if !validType(typ) {
		return 0, errorf("bolt: unknown command type 0x%02x", typ)
	}
	if len(buf) < 4 {
		return 0, ErrNeedMore
	}
	cmd := binary.BigEndian.Uint16(buf[2:])
	if !validCommand(typ, cmd) {
		return 0, errorf("bolt: command code %d is not valid in a frame of type 0x%02x", cmd, typ)
	}
	hl := RequestHeaderLen
	if typ == TypeResponse {
		hl = ResponseHeaderLen
	}
	if len(buf) < hl {
		return 0, ErrNeedMore
	}
	// classLen, headerLen and contentLen are the last 8 bytes of both layouts.
	classLen := uint64(binary.BigEndian.Uint16(buf[hl-8:]))
	headerLen := uint64(binary.BigEndian.Uint16(buf[hl-6:]))
	contentLen := uint64(binary.BigEndian.Uint32(buf[hl-4:]))
	total := uint64(hl) + classLen + headerLen + contentLen
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	if total > uint64(maxFrameSize) {
		return 0, errorf("bolt: frame of %d bytes exceeds limit %d", total, maxFrameSize)
	}
	return int(total), nil
}

// Decode decodes the frame at the start of buf into f and returns its length
// (f.Len). It returns ErrNeedMore, leaving f untouched, when buf holds only
// part of a frame, and an *Error when the bytes are malformed: wrong protocol
// code, unknown type or command code, a frame over maxFrameSize
// (DefaultMaxFrameSize when <= 0), or a header map whose lengths do not add
// up. f's byte slices alias buf; nothing is copied or allocated.
func Decode(buf []byte, f *Frame, maxFrameSize int) (n int, err error) {
	total, err := FrameLen(buf, maxFrameSize)
	if err != nil {
		return 0, err
	}
	if len(buf) < total {
		return 0, ErrNeedMore
	}
	typ := buf[1]
	hl := RequestHeaderLen
	if typ == TypeResponse {
		hl = ResponseHeaderLen
	}
	classLen := int(binary.BigEndian.Uint16(buf[hl-8:]))
	headerLen := int(binary.BigEndian.Uint16(buf[hl-6:]))
	classEnd := hl + classLen
	headerEnd := classEnd + headerLen
	header := buf[classEnd:headerEnd:headerEnd]
	if err := checkHeaderMap(header); err != nil {
		return 0, err
	}

	f.Type = typ
	f.CmdCode = binary.BigEndian.Uint16(buf[2:])
	f.Version = buf[4]
	f.RequestID = binary.BigEndian.Uint32(buf[requestIDOffset:])
	f.Codec = buf[9]
	if typ == TypeResponse {
		f.Timeout = 0
		f.Status = binary.BigEndian.Uint16(buf[10:])
	} else {
		f.Timeout = binary.BigEndian.Uint32(buf[10:])
		f.Status = 0
	}
	// Full slice expressions cap each view so an append by the caller
	// cannot scribble over the next part of the frame.
	f.Class = buf[hl:classEnd:classEnd]
	f.Header = header
	f.Content = buf[headerEnd:total:total]
	f.Len = total
	return total, nil
}

// RequestID reads the request id of an encoded frame. frame must hold at
// least the first 9 bytes of a frame.
func RequestID(frame []byte) uint32 {
	return binary.BigEndian.Uint32(frame[requestIDOffset:])
}

// PutRequestID rewrites the request id of an encoded frame in place, which is
// how a proxy maps downstream ids to the ids of a shared upstream connection
// without re-encoding. frame must hold at least the first 9 bytes of a frame.
func PutRequestID(frame []byte, id uint32) {
	binary.BigEndian.PutUint32(frame[requestIDOffset:], id)
}
