package bolt

import "encoding/binary"

// AppendFrame appends the encoding of f to dst and returns the extended
// slice: the fixed header in f's layout (a response when f.Type is
// TypeResponse, a request otherwise), then Class, Header and Content. The
// length fields come from the slices; f.Len is ignored. Encoding into a
// reused dst with enough capacity allocates nothing.
//
// A Class or Header longer than 65535 bytes cannot be encoded and panics, as
// an out-of-range index would: it is a bug in the caller, not bad input. Call
// f.Validate first on frames whose sizes come from outside.
func AppendFrame(dst []byte, f *Frame) []byte {
	if len(f.Class) > 0xffff || len(f.Header) > 0xffff || uint64(len(f.Content)) > 0xffffffff {
		panic(f.Validate().Error())
	}
	dst = append(dst, ProtocolCode, f.Type)
	dst = binary.BigEndian.AppendUint16(dst, f.CmdCode)
	dst = append(dst, f.Version)
	dst = binary.BigEndian.AppendUint32(dst, f.RequestID)
	dst = append(dst, f.Codec)
	if f.Type == TypeResponse {
		dst = binary.BigEndian.AppendUint16(dst, f.Status)
	} else {
		dst = binary.BigEndian.AppendUint32(dst, f.Timeout)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.Class)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.Header)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Content)))
	dst = append(dst, f.Class...)
	dst = append(dst, f.Header...)
	return append(dst, f.Content...)
}

// appendEmptyResponse appends a response frame without class, header or content.
func appendEmptyResponse(dst []byte, cmd uint16, requestID uint32, codec byte, status uint16) []byte {
	dst = append(dst, ProtocolCode, TypeResponse)
	dst = binary.BigEndian.AppendUint16(dst, cmd)
	dst = append(dst, CommandVersion)
	dst = binary.BigEndian.AppendUint32(dst, requestID)
	dst = append(dst, codec)
	dst = binary.BigEndian.AppendUint16(dst, status)
	// classLen, headerLen, contentLen: all zero.
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
}

// AppendErrorResponse appends an rpc response with the given id and status
// and empty class, header and content: what a proxy answers when it cannot
// forward a request (no route, upstream down, timeout). SOFARPC clients map
// the status to an exception without reading a body.
func AppendErrorResponse(dst []byte, requestID uint32, codec byte, status uint16) []byte {
	return appendEmptyResponse(dst, CmdResponse, requestID, codec, status)
}

// AppendHeartbeatResponse appends the answer to a heartbeat request: a
// response with command code heartbeat, the request's id and status success.
func AppendHeartbeatResponse(dst []byte, requestID uint32, codec byte) []byte {
	return appendEmptyResponse(dst, CmdHeartbeat, requestID, codec, StatusSuccess)
}

// AppendHeartbeat appends a heartbeat request with the given id and timeout
// (milliseconds), as a client or a proxy keeping an idle upstream alive sends.
func AppendHeartbeat(dst []byte, requestID uint32, codec byte, timeoutMillis uint32) []byte {
	dst = append(dst, ProtocolCode, TypeRequest)
	dst = binary.BigEndian.AppendUint16(dst, CmdHeartbeat)
	dst = append(dst, CommandVersion)
	dst = binary.BigEndian.AppendUint32(dst, requestID)
	dst = append(dst, codec)
	dst = binary.BigEndian.AppendUint32(dst, timeoutMillis)
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
}
