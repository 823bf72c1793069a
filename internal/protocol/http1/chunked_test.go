package http1

import (
	"bytes"
	"strings"
	"testing"
)

// feedChunked runs a fresh ChunkedReader over body delivered as the given pieces, the way bytes arrive from a
// socket: each piece is offered until it is used up or the body ends. It returns the payload, the bytes consumed
// and the error status (0 when done, -1 when the body is still incomplete).
func feedChunked(t testing.TB, pieces [][]byte) (payload []byte, consumed, status int) {
	t.Helper()
	var c ChunkedReader
	for _, p := range pieces {
		for len(p) > 0 {
			n, data, done, err := c.Next(p)
			if err != nil {
				return payload, consumed, statusOf(t, err)
			}
			if n > len(p) || (n == 0 && !done) {
				t.Fatalf("Next consumed %d of %d bytes (done=%v)", n, len(p), done)
			}
			if len(data) > 0 && !bytesWithin(data, p[:n]) {
				t.Fatalf("data %q is not inside the consumed prefix %q", data, p[:n])
			}
			payload = append(payload, data...)
			consumed += n
			p = p[n:]
			if done {
				return payload, consumed, 0
			}
		}
	}
	return payload, consumed, -1
}

// bytesWithin reports whether sub is a subslice of buf's memory.
func bytesWithin(sub, buf []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := 0; i+len(sub) <= len(buf); i++ {
		if &buf[i] == &sub[0] {
			return true
		}
	}
	return false
}

func byteAtATime(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

var validChunked = []struct {
	name, body, payload string
}{
	{"single chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"},
	{"several chunks", "3\r\nabc\r\n1\r\nd\r\na\r\n0123456789\r\n0\r\n\r\n", "abcd0123456789"},
	{"empty body", "0\r\n\r\n", ""},
	{"upper and lower hex", "A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n", "01234567890123456789a"},
	{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"},
	{"extensions", "5;name=value;flag\r\nhello\r\n0;last\r\n\r\n", "hello"},
	{"whitespace before extension", "5 \t;a=\"q s\"\r\nhello\r\n0\r\n\r\n", "hello"},
	{"trailers", "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:abc\r\n\r\n", "hello"},
	{"payload containing CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"},
	{"binary payload", "3\r\n\x00\xff\n\r\n0\r\n\r\n", "\x00\xff\n"},
}

func TestChunkedReaderValid(t *testing.T) {
	const next = "GET /next HTTP/1.1\r\n"
	for _, tt := range validChunked {
		t.Run(tt.name, func(t *testing.T) {
			buf := []byte(tt.body + next)
			payload, consumed, status := feedChunked(t, [][]byte{buf})
			if status != 0 || string(payload) != tt.payload || consumed != len(tt.body) {
				t.Fatalf("got payload %q consumed %d status %d; want %q, %d, 0", payload, consumed, status, tt.payload, len(tt.body))
			}
		})
	}
}

// TestChunkedReaderSplits cuts each body at every offset, and also feeds it a byte at a time: the payload and the
// consumed total never depend on how the bytes arrive.
func TestChunkedReaderSplits(t *testing.T) {
	for _, tt := range validChunked {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.body)
			for k := 0; k <= len(b); k++ {
				payload, consumed, status := feedChunked(t, [][]byte{b[:k], b[k:]})
				if status != 0 || string(payload) != tt.payload || consumed != len(b) {
					t.Fatalf("split at %d: payload %q consumed %d status %d", k, payload, consumed, status)
				}
				if k < len(b) {
					if _, _, status := feedChunked(t, [][]byte{b[:k]}); status != -1 {
						t.Fatalf("prefix %d: status %d, want incomplete", k, status)
					}
				}
			}
			payload, consumed, status := feedChunked(t, byteAtATime(b))
			if status != 0 || string(payload) != tt.payload || consumed != len(b) {
				t.Fatalf("byte at a time: payload %q consumed %d status %d", payload, consumed, status)
			}
		})
	}
}

func TestChunkedReaderInvalid(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty size", "\r\nhello\r\n0\r\n\r\n"},
		{"non-hex size", "g\r\nhello\r\n0\r\n\r\n"},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n"},
		{"hex prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"size overflow", "10000000000000000\r\n"},
		{"size overflow max", "ffffffffffffffff\r\n"},
		{"whitespace before size", " 5\r\nhello\r\n0\r\n\r\n"},
		{"whitespace after size without extension", "5 \r\nhello\r\n0\r\n\r\n"},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n"},
		{"bare CR after size", "5\rhello\r\n0\r\n\r\n"},
		{"LF inside extension", "5;a\nb\r\nhello\r\n0\r\n\r\n"},
		{"NUL inside extension", "5;a\x00\r\nhello\r\n0\r\n\r\n"},
		{"size line too long", "5;" + strings.Repeat("x", MaxChunkSizeLine) + "\r\nhello\r\n0\r\n\r\n"},
		{"data longer than size", "5\r\nhello!\r\n0\r\n\r\n"},
		{"data shorter than size", "5\r\nhell\r\n0\r\n\r\n"},
		{"missing CRLF after data", "5\r\nhello0\r\n\r\n"},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n"},
		{"trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n"},
		{"trailer space before colon", "0\r\nX : a\r\n\r\n"},
		{"trailer without colon", "0\r\nX\r\n\r\n"},
		{"trailer empty name", "0\r\n: a\r\n\r\n"},
		{"trailer CTL in value", "0\r\nX: a\x01\r\n\r\n"},
		{"trailer bare LF", "0\r\nX: a\n\r\n"},
		{"final bare LF", "0\r\n\n"},
		{"final CR then garbage", "0\r\n\rx"},
		{"trailers too large", "0\r\n" + strings.Repeat("X: 0123456789abcdef\r\n", MaxTrailerBytes/20) + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, status := feedChunked(t, [][]byte{[]byte(tt.body)})
			if status != 400 {
				t.Fatalf("status %d, want 400", status)
			}
			if _, _, status := feedChunked(t, byteAtATime([]byte(tt.body))); status != 400 {
				t.Fatalf("byte at a time: status %d, want 400", status)
			}
		})
	}
}

func TestChunkedReaderStickyAndDone(t *testing.T) {
	var c ChunkedReader
	if _, _, _, err := c.Next([]byte("z")); err == nil {
		t.Fatal("want error")
	}
	if n, _, _, err := c.Next([]byte("5\r\nhello\r\n0\r\n\r\n")); err == nil || n != 0 {
		t.Fatalf("error not sticky: n=%d err=%v", n, err)
	}
	c.Reset()
	n, data, done, err := c.Next([]byte("5\r\nhello\r\n0\r\n\r\nXYZ"))
	if err != nil || !done || n != 15 || string(data) != "hello" || !c.Done() {
		t.Fatalf("n=%d data=%q done=%v err=%v", n, data, done, err)
	}
	n, data, done, err = c.Next([]byte("XYZ"))
	if n != 0 || data != nil || !done || err != nil {
		t.Fatalf("after done: n=%d data=%q done=%v err=%v", n, data, done, err)
	}
}

// TestChunkedReaderStopsAtEachRun checks the one-run-per-call contract: the second chunk's payload comes in the
// next call. Framing after a run is consumed up to the next payload byte, so the last chunk ends in one call.
func TestChunkedReaderStopsAtEachRun(t *testing.T) {
	buf := []byte("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
	var c ChunkedReader
	n, data, done, err := c.Next(buf)
	if err != nil || done || string(data) != "abc" || n != len("3\r\nabc\r\n3\r\n") {
		t.Fatalf("first call: n=%d data=%q done=%v err=%v", n, data, done, err)
	}
	n2, data, done, err := c.Next(buf[n:])
	if err != nil || !done || string(data) != "def" || n+n2 != len(buf) {
		t.Fatalf("second call: n=%d data=%q done=%v err=%v", n2, data, done, err)
	}
}

func TestAppendChunkRoundTrip(t *testing.T) {
	var body []byte
	want := ""
	for _, p := range []string{"a", "", strings.Repeat("b", 255), strings.Repeat("c", 4097)} {
		body = AppendChunk(body, []byte(p))
		want += p
	}
	body = AppendLastChunk(body)
	if !bytes.HasPrefix(body, []byte("1\r\na\r\nff\r\n")) || !bytes.HasSuffix(body, []byte("\r\n0\r\n\r\n")) {
		t.Fatalf("encoding: %q...", body[:20])
	}
	payload, consumed, status := feedChunked(t, [][]byte{body})
	if status != 0 || string(payload) != want || consumed != len(body) {
		t.Fatalf("status %d consumed %d/%d payload ok %v", status, consumed, len(body), string(payload) == want)
	}
}
