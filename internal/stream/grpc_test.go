package stream

import (
	"testing"
	"time"
)

func TestGRPCStatus(t *testing.T) {
	for _, tc := range []struct {
		r    Reply
		code int
	}{
		{Reply{Status: 404, Cause: NoRoute}, GRPCUnimplemented},
		{Reply{Status: 503, Cause: NoRoute}, GRPCUnimplemented}, // no such cluster
		{Reply{Status: 503, Cause: Unavailable}, GRPCUnavailable},
		{Reply{Status: 502, Cause: Unavailable}, GRPCUnavailable},
		{Reply{Status: 503, Cause: Overflowed}, GRPCUnavailable},
		{Reply{Status: 504, Cause: TimedOut}, GRPCDeadlineExceeded},
		{Reply{Status: 400, Cause: Malformed}, GRPCInternal},
		{Reply{Status: 401}, GRPCUnauthenticated},
		{Reply{Status: 403}, GRPCPermissionDenied},
		{Reply{Status: 429}, GRPCUnavailable},
		{Reply{Status: 418}, GRPCUnknown},
	} {
		if code, _ := GRPCStatus(tc.r); code != tc.code {
			t.Errorf("GRPCStatus(%+v) = %d, want %d", tc.r, code, tc.code)
		}
	}
	if _, msg := GRPCStatus(Reply{Status: 503, Body: []byte("no healthy upstream\n"), Cause: Unavailable}); string(msg) != "no healthy upstream" {
		t.Errorf("message %q", msg)
	}
}

func TestParseGRPCTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1S", time.Second, true},
		{"100m", 100 * time.Millisecond, true},
		{"5M", 5 * time.Minute, true},
		{"2H", 2 * time.Hour, true},
		{"250u", 250 * time.Microsecond, true},
		{"99999999n", 99999999, true},
		{"123456789S", 0, false}, // more than 8 digits
		{"S", 0, false},
		{"10", 0, false},
		{"1x", 0, false},
		{"-1S", 0, false},
		{"", 0, false},
	} {
		got, ok := ParseGRPCTimeout([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseGRPCTimeout(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseGRPCTimeout: never panics, never negative, and what it accepts
// is digits and a unit.
func FuzzParseGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1S", "100m", "99999999H", "0n", "x", "", "12345678u"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok := ParseGRPCTimeout(b)
		if ok && (d < 0 || len(b) < 2 || len(b) > 9) {
			t.Fatalf("ParseGRPCTimeout(%q) = %v", b, d)
		}
	})
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{"application/grpc": true, "application/grpc+proto": true, "application/grpc;charset=x": true,
		"application/grpcx": false, "application/json": false, "": false} {
		if isGRPC([]byte(ct)) != want {
			t.Errorf("isGRPC(%q) != %v", ct, want)
		}
	}
}
