package protocol

import (
	"errors"
	"testing"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{"GET / HTTP/1.1\r\n", HTTP1, nil},
		{"POST /x HTTP/1.1\r\n", HTTP1, nil},
		{"OPTIONS * HTTP/1.1\r\n", HTTP1, nil},
		{"GE", "", ErrNeedMore},
		{"GET", "", ErrNeedMore},
		{"", "", ErrNeedMore},
		{"\x01", "", ErrNeedMore},
		{"\x01\x01\x00\x01", Bolt, nil},         // request
		{"\x01\x00\x00\x02", Bolt, nil},         // response
		{"\x01\x07", "", ErrUnknown},            // no such Bolt type
		{"PRI * HTTP/2.0\r\n", "", ErrNeedMore}, // HTTP/2 preface, cut
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP2, nil},
		{"PRI * HTTP/2.0\r\n\r\nXX", "", ErrUnknown},
		{"GETX / HTTP/1.1", "", ErrUnknown},
		{"\x16\x03\x01", "", ErrUnknown}, // TLS ClientHello: not served yet
		{"\xda\xbb", "", ErrUnknown},     // Dubbo: not served yet
	} {
		got, err := Detect([]byte(tc.in))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Detect(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// FuzzDetect: detection never panics, and a decided protocol stays decided
// when more bytes follow (it looks only at a prefix).
func FuzzDetect(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\n", "\x01\x01\x00\x01", "PRI * HTTP/2.0", "\x16\x03\x01", "G", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := Detect(b)
		if err != nil {
			return
		}
		if more, err := Detect(append(b[:len(b):len(b)], "tail bytes"...)); err != nil || more != name {
			t.Fatalf("Detect(%q) = %s but with more bytes %q, %v", b, name, more, err)
		}
	})
}
