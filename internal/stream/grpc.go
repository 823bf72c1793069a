package stream

import (
	"bytes"
	"math"
	"time"
)

// gRPC status codes the proxy answers with (grpc/doc/statuscodes.md).
const (
	GRPCUnknown          = 2
	GRPCDeadlineExceeded = 4
	GRPCPermissionDenied = 7
	GRPCUnimplemented    = 12
	GRPCInternal         = 13
	GRPCUnavailable      = 14
	GRPCUnauthenticated  = 16
)

var grpcContentType = []byte("application/grpc")

// isGRPC reports a gRPC content-type: application/grpc, alone or with a
// subtype (+proto) or parameters.
func isGRPC(ct []byte) bool {
	if !bytes.HasPrefix(ct, grpcContentType) {
		return false
	}
	return len(ct) == len(grpcContentType) || ct[len(grpcContentType)] == '+' || ct[len(grpcContentType)] == ';'
}

// GRPCStatus maps a local reply to a gRPC status and message: by its cause
// (no route: UNIMPLEMENTED; no host, connect failure, upstream failure,
// overflow: UNAVAILABLE; timeout: DEADLINE_EXCEEDED), else by its HTTP
// status as gRPC's HTTP-to-gRPC table does.
func GRPCStatus(r Reply) (code int, message []byte) {
	message = bytes.TrimRight(r.Body, "\n")
	switch r.Cause {
	case NoRoute:
		return GRPCUnimplemented, message
	case Unavailable, Overflowed:
		return GRPCUnavailable, message
	case TimedOut:
		return GRPCDeadlineExceeded, message
	case Malformed:
		return GRPCInternal, message
	}
	switch r.Status {
	case 400:
		return GRPCInternal, message
	case 401:
		return GRPCUnauthenticated, message
	case 403:
		return GRPCPermissionDenied, message
	case 404:
		return GRPCUnimplemented, message
	case 429, 502, 503, 504:
		return GRPCUnavailable, message
	}
	return GRPCUnknown, message
}

// ParseGRPCTimeout parses a grpc-timeout value: at most 8 digits and a
// unit (H, M, S, m, u, n). ok is false for anything else.
func ParseGRPCTimeout(v []byte) (d time.Duration, ok bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, b := range v[:len(v)-1] {
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	if time.Duration(n) > math.MaxInt64/unit {
		return math.MaxInt64, true // 99999999H: longer than a Duration holds
	}
	return time.Duration(n) * unit, true
}
