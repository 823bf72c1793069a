package tls

import (
	"bytes"
	gotls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
)

func TestSniff(t *testing.T) {
	hello := clientHello(t)
	tests := []struct {
		in   string
		want Verdict
	}{
		{"", NeedMore},
		{"G", Plaintext},
		{"GET / HTTP/1.1\r\n", Plaintext},
		{"\x01\x01\x00", Plaintext}, // Bolt v1 request
		{"\x16", NeedMore},
		{"\x16\x03", NeedMore},
		{"\x16\x03\x01\x02", NeedMore},
		{"\x16\x03\x01\x02\x00", NeedMore},
		{string(hello[:6]), ClientHello},
		{string(hello), ClientHello},
		{"\x16\x02\x01\x02\x00\x01", Malformed}, // not version 3.x
		{"\x16\x03\x01\x00\x00\x01", Malformed}, // empty record
		{"\x16\x03\x01\xff\xff\x01", Malformed}, // longer than a record may be
		{"\x16\x03\x01\x00\x05\x02", Malformed}, // a ServerHello
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.in)); got != tt.want {
			t.Errorf("Sniff(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// clientHello is the first flight of a Go TLS client.
func clientHello(t testing.TB) []byte {
	a, b := net.Pipe()
	go func() {
		gotls.Client(a, &gotls.Config{ServerName: "example.com"}).Handshake()
		a.Close()
	}()
	defer b.Close()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// FuzzSniff: Sniff never panics, never changes its input, and a verdict
// once reached stays the same as more bytes arrive (the inspector may
// decide on a prefix).
func FuzzSniff(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03"))
	f.Add([]byte("\x16\x03\x00"))
	f.Add([]byte("\x01\x01\x00\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		v := Sniff(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("Sniff changed its input")
		}
		if v < NeedMore || v > Malformed {
			t.Fatalf("verdict %d", v)
		}
		for n := 0; n <= len(b); n++ {
			if p := Sniff(b[:n]); p != NeedMore {
				if p != v {
					t.Fatalf("verdict %v on %d bytes, %v on all %d", p, n, v, len(b))
				}
				break
			}
		}
		if len(b) >= sniffLen && v == NeedMore {
			t.Fatalf("undecided on %d bytes", len(b))
		}
	})
}

// The inspector leaves every byte it looked at buffered for whoever reads
// the connection next, plaintext or TLS.
func TestInspectKeepsBytes(t *testing.T) {
	hello := clientHello(t)
	for _, first := range [][]byte{[]byte("GET / HTTP/1.1\r\n"), hello} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return
			}
			defer c.Close()
			for _, b := range first { // a byte at a time: the inspector waits for more
				c.Write([]byte{b})
				if len(first) < 40 {
					time.Sleep(time.Millisecond)
				}
			}
			io.Copy(io.Discard, c)
		}()
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := network.NewConn(nc, nil, 0)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		isTLS, err := inspect(c)
		if err != nil {
			t.Fatal(err)
		}
		if isTLS != (first[0] == 22) {
			t.Errorf("isTLS %v for %q", isTLS, first[:4])
		}
		for len(c.Buffered()) < len(first) {
			if err := c.Fill(); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(c.Buffered(), first) {
			t.Errorf("buffered %q, want %q", c.Buffered(), first)
		}
		c.Close()
		ln.Close()
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want Reason
	}{
		{io.EOF, ReasonClosed},
		{errNotTLS, ReasonNotTLS},
		{gotls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ReasonNotTLS},
	} {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
