package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// sofaHeaders is the header map of a typical SOFARPC request.
func sofaHeaders() []byte {
	var h []byte
	h = AppendHeader(h, HeaderService, "com.example.EchoService:1.0")
	h = AppendHeader(h, HeaderMethod, "echo")
	h = AppendHeader(h, HeaderTargetApp, "echo-app")
	h = AppendHeader(h, HeaderTraceID, "0a0fe8d41700000000001100123456")
	return h
}

func sofaRequest(id uint32, content []byte) *Frame {
	return &Frame{
		Type:      TypeRequest,
		CmdCode:   CmdRequest,
		Version:   CommandVersion,
		RequestID: id,
		Codec:     CodecHessian2,
		Timeout:   3000,
		Class:     []byte(ClassRequest),
		Header:    sofaHeaders(),
		Content:   content,
	}
}

func roundTripCases() []struct {
	name string
	f    *Frame
} {
	return []struct {
		name string
		f    *Frame
	}{
		{"request", sofaRequest(7, bytes.Repeat([]byte{0xab}, 200))},
		{"oneway", &Frame{Type: TypeOneway, CmdCode: CmdRequest, Version: CommandVersion, RequestID: 8, Codec: CodecHessian2,
			Timeout: 0, Class: []byte(ClassRequest), Header: AppendHeader(nil, HeaderService, "svc"), Content: []byte("fire")}},
		{"response", &Frame{Type: TypeResponse, CmdCode: CmdResponse, Version: CommandVersion, RequestID: 0xfffffffe,
			Codec: CodecHessian2, Status: StatusServerException, Class: []byte(ClassResponse),
			Header: AppendHeader(nil, "k", "v"), Content: []byte("boom")}},
		{"heartbeat", &Frame{Type: TypeRequest, CmdCode: CmdHeartbeat, Version: CommandVersion, RequestID: 1,
			Codec: CodecHessian2, Timeout: 1000}},
		{"heartbeat ack", &Frame{Type: TypeResponse, CmdCode: CmdHeartbeat, Version: CommandVersion, RequestID: 1,
			Codec: CodecHessian2}},
		{"empty everything", &Frame{Type: TypeResponse, CmdCode: CmdResponse}},
		{"max id and timeout", &Frame{Type: TypeRequest, CmdCode: CmdRequest, Version: 0xff, RequestID: 0xffffffff,
			Codec: 0xff, Timeout: 0xffffffff, Class: []byte("c"), Content: []byte{0}}},
	}
}

func sameFrame(t *testing.T, got, want *Frame) {
	t.Helper()
	if got.Type != want.Type || got.CmdCode != want.CmdCode || got.Version != want.Version ||
		got.RequestID != want.RequestID || got.Codec != want.Codec || got.Status != want.Status ||
		got.Timeout != want.Timeout {
		t.Fatalf("fixed fields differ:\n got  %+v\n want %+v", *got, *want)
	}
	if !bytes.Equal(got.Class, want.Class) || !bytes.Equal(got.Header, want.Header) || !bytes.Equal(got.Content, want.Content) {
		t.Fatalf("variable parts differ:\n got  %q %q %q\n want %q %q %q",
			got.Class, got.Header, got.Content, want.Class, want.Header, want.Content)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := AppendFrame(nil, tc.f)
			if len(enc) != tc.f.EncodedLen() {
				t.Fatalf("encoded %d bytes, EncodedLen says %d", len(enc), tc.f.EncodedLen())
			}
			// Trailing bytes (the next frame) must not be consumed.
			buf := append(append([]byte{}, enc...), ProtocolCode, TypeRequest, 0)
			var got Frame
			n, err := Decode(buf, &got, 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if n != len(enc) || got.Len != n {
				t.Fatalf("n = %d, Len = %d, want %d", n, got.Len, len(enc))
			}
			sameFrame(t, &got, tc.f)
			if got.IsRequest() != (tc.f.Type != TypeResponse) {
				t.Errorf("IsRequest = %v for type %d", got.IsRequest(), tc.f.Type)
			}
			if got.IsHeartbeat() != (tc.f.CmdCode == CmdHeartbeat) {
				t.Errorf("IsHeartbeat = %v for cmd %d", got.IsHeartbeat(), tc.f.CmdCode)
			}
			if RequestID(enc) != tc.f.RequestID {
				t.Errorf("RequestID = %d, want %d", RequestID(enc), tc.f.RequestID)
			}
			if fl, err := FrameLen(enc, 0); err != nil || fl != len(enc) {
				t.Errorf("FrameLen = %d, %v; want %d", fl, err, len(enc))
			}
			if !Looks(enc) {
				t.Errorf("Looks = false")
			}
		})
	}
}

// TestSplit feeds every prefix of a frame: each must ask for more data and
// leave the frame untouched, and the whole frame must then decode.
func TestSplit(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := AppendFrame(nil, tc.f)
			for i := 0; i < len(enc); i++ {
				f := Frame{RequestID: 12345}
				n, err := Decode(enc[:i], &f, 0)
				if !errors.Is(err, ErrNeedMore) || n != 0 {
					t.Fatalf("prefix %d/%d: n=%d err=%v, want ErrNeedMore", i, len(enc), n, err)
				}
				if f.RequestID != 12345 {
					t.Fatalf("prefix %d: frame modified on ErrNeedMore", i)
				}
			}
			var f Frame
			if n, err := Decode(enc, &f, 0); err != nil || n != len(enc) {
				t.Fatalf("whole frame: n=%d err=%v", n, err)
			}
			sameFrame(t, &f, tc.f)
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := AppendFrame(nil, sofaRequest(1, []byte("payload")))
	mutate := func(fn func(b []byte) []byte) []byte { return fn(append([]byte{}, valid...)) }
	// Offsets in the request layout.
	const classLenAt, headerLenAt, contentLenAt = 14, 16, 18
	headerStart := RequestHeaderLen + len(ClassRequest)

	tests := []struct {
		name    string
		buf     []byte
		max     int
		wantErr string
	}{
		{"bad protocol code", []byte{0x02}, 0, "protocol code 0x02"},
		{"dubbo magic", []byte{0xda, 0xbb, 0xc2, 0x00}, 0, "protocol code 0xda"},
		{"bad type", []byte{0x01, 0x03}, 0, "unknown command type 0x03"},
		{"bad cmdcode", []byte{0x01, 0x01, 0x00, 0x07}, 0, "command code 7"},
		{"response cmd in request", []byte{0x01, 0x01, 0x00, 0x02}, 0, "command code 2"},
		{"request cmd in response", []byte{0x01, 0x00, 0x00, 0x01}, 0, "command code 1"},
		{"over max size", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[classLenAt:], 0)
			binary.BigEndian.PutUint16(b[headerLenAt:], 0)
			binary.BigEndian.PutUint32(b[contentLenAt:], 99999978)
			return b[:RequestHeaderLen]
		}), 0, "bolt: frame of 100000000 bytes exceeds limit 16777216"},
		{"over custom max", valid, 64, "exceeds limit 64"},
		{"max content length", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[contentLenAt:], 0xffffffff)
			return b
		}), 0, "exceeds limit"},
		{"header key length past map", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[headerStart:], 1000)
			return b
		}), 0, "header map entry at offset 0"},
		{"header value length past map", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[headerStart+4+len(HeaderService):], 0x7fffffff)
			return b
		}), 0, "header map entry at offset 0"},
		{"header map one byte short", mutate(func(b []byte) []byte {
			// Shrink headerLen by one and the class by nothing: the last
			// value no longer fits.
			hl := binary.BigEndian.Uint16(b[headerLenAt:])
			binary.BigEndian.PutUint16(b[headerLenAt:], hl-1)
			return b
		}), 0, "does not fit"},
		{"header map with dangling key", mutate(func(b []byte) []byte {
			// A map holding only a key: classLen 0, headerLen 5, key "a".
			b = b[:RequestHeaderLen]
			binary.BigEndian.PutUint16(b[classLenAt:], 0)
			binary.BigEndian.PutUint16(b[headerLenAt:], 5)
			binary.BigEndian.PutUint32(b[contentLenAt:], 0)
			return append(b, 0, 0, 0, 1, 'a')
		}), 0, "header map entry at offset 0"},
		{"header map with 3-byte tail", mutate(func(b []byte) []byte {
			b = b[:RequestHeaderLen]
			binary.BigEndian.PutUint16(b[classLenAt:], 0)
			binary.BigEndian.PutUint16(b[headerLenAt:], 3)
			binary.BigEndian.PutUint32(b[contentLenAt:], 0)
			return append(b, 0, 0, 0)
		}), 0, "header map entry at offset 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			n, err := Decode(tc.buf, &f, tc.max)
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if n != 0 {
				t.Errorf("n = %d on error", n)
			}
			if !strings.HasPrefix(be.Error(), "bolt: ") || !strings.Contains(be.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", be.Error(), tc.wantErr)
			}
		})
	}
}

func TestDecodeNullHeaderEntries(t *testing.T) {
	// SOFARPC writes length -1 for a null string and skips such entries.
	null := []byte{0xff, 0xff, 0xff, 0xff}
	str := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	var h []byte
	for _, part := range [][]byte{
		str("a"), str("1"),
		null, str("x"), // null key
		str("b"), null, // null value
		null, null,
		str("c"), str(""),
	} {
		h = append(h, part...)
	}
	enc := AppendFrame(nil, &Frame{Type: TypeRequest, CmdCode: CmdRequest, Header: h})
	var f Frame
	if _, err := Decode(enc, &f, 0); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	var got []string
	f.Range(func(k, v []byte) bool {
		got = append(got, string(k)+"="+string(v))
		return true
	})
	if want := []string{"a=1", "c="}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Range = %q, want %q", got, want)
	}
	if _, ok := f.Get("b"); ok {
		t.Errorf("Get(b) found an entry with a null value")
	}
	if v, ok := f.Get("c"); !ok || len(v) != 0 {
		t.Errorf("Get(c) = %q, %v", v, ok)
	}
}

func TestHeaderGetRange(t *testing.T) {
	var h []byte
	h = AppendHeader(h, HeaderService, "com.example.EchoService:1.0")
	h = AppendHeader(h, HeaderMethod, "echo")
	h = AppendHeader(h, "dup", "first")
	h = AppendHeader(h, "dup", "second")
	h = AppendHeaderBytes(h, []byte("bin"), []byte{0, 1, 2})
	f := Frame{Header: h}

	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{HeaderService, "com.example.EchoService:1.0", true},
		{HeaderMethod, "echo", true},
		{"dup", "first", true},
		{"bin", "\x00\x01\x02", true},
		{"missing", "", false},
		{"servic", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		v, ok := f.Get(tc.key)
		if ok != tc.wantOK || string(v) != tc.want {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.key, v, ok, tc.want, tc.wantOK)
		}
	}

	var keys []string
	f.Range(func(k, v []byte) bool {
		keys = append(keys, string(k))
		return true
	})
	if got := strings.Join(keys, ","); got != "service,sofa_head_method_name,dup,dup,bin" {
		t.Errorf("Range keys = %s", got)
	}
	n := 0
	f.Range(func(k, v []byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Range did not stop when fn returned false: %d calls", n)
	}

	// A hand-built frame with a broken map must not panic.
	broken := Frame{Header: append(AppendHeader(nil, "k", "v"), 0, 0, 0, 9, 'x')}
	if _, ok := broken.Get("zzz"); ok {
		t.Errorf("Get on broken map found something")
	}
	if v, ok := broken.Get("k"); !ok || string(v) != "v" {
		t.Errorf("Get(k) on broken map = %q, %v", v, ok)
	}
	broken.Range(func(k, v []byte) bool { return true })
}

func TestPutRequestID(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := AppendFrame(nil, tc.f)
			PutRequestID(enc, 0xdeadbeef)
			if RequestID(enc) != 0xdeadbeef {
				t.Fatalf("RequestID = %x", RequestID(enc))
			}
			var f Frame
			if _, err := Decode(enc, &f, 0); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := *tc.f
			want.RequestID = 0xdeadbeef
			sameFrame(t, &f, &want)
		})
	}
}

func TestCannedResponses(t *testing.T) {
	tests := []struct {
		name string
		enc  []byte
		want Frame
	}{
		{"error response", AppendErrorResponse([]byte("prefix"), 42, CodecHessian2, StatusNoProcessor)[len("prefix"):],
			Frame{Type: TypeResponse, CmdCode: CmdResponse, Version: CommandVersion, RequestID: 42, Codec: CodecHessian2, Status: StatusNoProcessor}},
		{"heartbeat response", AppendHeartbeatResponse(nil, 43, CodecHessian2),
			Frame{Type: TypeResponse, CmdCode: CmdHeartbeat, Version: CommandVersion, RequestID: 43, Codec: CodecHessian2}},
		{"heartbeat", AppendHeartbeat(nil, 44, CodecHessian2, 1000),
			Frame{Type: TypeRequest, CmdCode: CmdHeartbeat, Version: CommandVersion, RequestID: 44, Codec: CodecHessian2, Timeout: 1000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			n, err := Decode(tc.enc, &f, 0)
			if err != nil || n != len(tc.enc) {
				t.Fatalf("Decode: n=%d err=%v", n, err)
			}
			sameFrame(t, &f, &tc.want)
			if !bytes.Equal(tc.enc, AppendFrame(nil, &tc.want)) {
				t.Errorf("canned encoding differs from AppendFrame")
			}
		})
	}
}

func TestLooks(t *testing.T) {
	tests := []struct {
		in   []byte
		want bool
	}{
		{nil, false},
		{[]byte{0x01}, false},
		{[]byte{0x01, 0x00}, true},
		{[]byte{0x01, 0x01}, true},
		{[]byte{0x01, 0x02}, true},
		{[]byte{0x01, 0x03}, false},
		{[]byte{0x02, 0x01}, false},
		{[]byte("GET / HTTP/1.1"), false},
	}
	for _, tc := range tests {
		if got := Looks(tc.in); got != tc.want {
			t.Errorf("Looks(%x) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := sofaRequest(1, nil).Validate(); err != nil {
		t.Errorf("valid frame: %v", err)
	}
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{"bad type", Frame{Type: 9}, "unknown command type"},
		{"long class", Frame{Type: TypeRequest, Class: make([]byte, 1<<16)}, "class of 65536 bytes"},
		{"long header", Frame{Type: TypeResponse, Header: make([]byte, 1<<16)}, "header map of 65536 bytes"},
	}
	for _, tc := range tests {
		err := tc.f.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("AppendFrame with a 64 KiB class did not panic")
		}
	}()
	AppendFrame(nil, &Frame{Type: TypeRequest, Class: make([]byte, 1<<16)})
}

func TestDecodeViewsAreCapped(t *testing.T) {
	enc := AppendFrame(nil, sofaRequest(1, []byte("content")))
	var f Frame
	if _, err := Decode(enc, &f, 0); err != nil {
		t.Fatal(err)
	}
	_ = append(f.Class, 'X')
	_ = append(f.Header, 'X')
	var again Frame
	if _, err := Decode(enc, &again, 0); err != nil {
		t.Fatalf("appending to a view corrupted the buffer: %v", err)
	}
	f.Reset()
	if f.Class != nil || f.Len != 0 {
		t.Errorf("Reset left %+v", f)
	}
}

func TestStatusText(t *testing.T) {
	if got := StatusText(StatusServerThreadpoolBusy); got != "server threadpool busy" {
		t.Errorf("StatusText = %q", got)
	}
	if got := StatusText(0x99); got != "status 0x0099" {
		t.Errorf("StatusText(0x99) = %q", got)
	}
}
