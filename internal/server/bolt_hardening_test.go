package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// echoRequest encodes an EchoService request of the given id, content and
// frame timeout (ms).
func echoRequest(id uint32, timeoutMillis uint32, content []byte) []byte {
	var h []byte
	h = bolt.AppendHeader(h, bolt.HeaderService, "com.example.EchoService:1.0")
	h = bolt.AppendHeader(h, bolt.HeaderMethod, "echo")
	return bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: bolt.CommandVersion,
		RequestID: id, Codec: bolt.CodecHessian2, Timeout: timeoutMillis, Class: []byte(bolt.ClassRequest), Header: h, Content: content})
}

// readBoltFrame reads one whole frame from c.
func readBoltFrame(t *testing.T, c net.Conn) bolt.Frame {
	t.Helper()
	head := make([]byte, bolt.ResponseHeaderLen)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	total, err := bolt.FrameLen(head, 0)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	buf := make([]byte, total)
	copy(buf, head)
	if _, err := io.ReadFull(c, buf[len(head):]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	var f bolt.Frame
	if _, err := bolt.Decode(buf, &f, 0); err != nil {
		t.Fatalf("decoding a frame: %v", err)
	}
	return f
}

// withReadTimeout sets read_timeout on the listener of a boltProxyConfig.
func withReadTimeout(cfg, d string) string {
	return strings.Replace(cfg, `"address": "127.0.0.1:0",`, `"address": "127.0.0.1:0", "read_timeout": "`+d+`",`, 1)
}

// Frames larger than the 1 MiB default read buffer travel whole both ways
// (the Bolt frame limit is 16 MiB), on connections that then carry small
// calls as before.
func TestBoltLargeFramesBothWays(t *testing.T) {
	up := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, boltProxyConfig("bolt", "", up))
	ctx := context.Background()
	c, err := boltrpc.Dial(ctx, p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, content := range [][]byte{big, []byte("small"), big[:1<<20], []byte("after")} {
		resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: content, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("%d-byte call: %v", len(content), err)
		}
		if resp.Status != bolt.StatusSuccess || !bytes.Equal(resp.Content, content) {
			t.Fatalf("%d-byte call: status %s, %d bytes back", len(content), bolt.StatusText(resp.Status), len(resp.Content))
		}
	}
}

// A frame announcing more than the 16 MiB limit closes its connection with
// a logged reason; the listener keeps serving.
func TestBoltFrameOverLimitClosesConnection(t *testing.T) {
	up := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, boltProxyConfig("bolt", "", up))
	raw := echoRequest(1, 5000, nil)
	binary.BigEndian.PutUint32(raw[bolt.RequestHeaderLen-4:], 17<<20) // contentLen
	c := dialRaw(t, p.addr("in"))
	c.Write(raw)
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes, want the connection closed", n)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection still open after a frame over the limit")
	}
	waitFor(t, "the reason logged", func() bool { return strings.Contains(p.log.String(), "exceeds limit") })
	bc, err := boltrpc.Dial(context.Background(), p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if resp, err := bc.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "m", Content: []byte("hi"), Timeout: 5 * time.Second}); err != nil || string(resp.Content) != "hi" {
		t.Fatalf("call after a frame over the limit: %+v %v", resp, err)
	}
}

// A frame in progress must be complete within the listener's read_timeout
// from its first bytes: trickled bytes do not extend it. A frame split over
// reads but quick enough is served.
func TestBoltPartialFrameReadTimeout(t *testing.T) {
	up := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, withReadTimeout(boltProxyConfig("bolt", "", up), "300ms"))

	split := dialRaw(t, p.addr("in"))
	req := echoRequest(7, 5000, []byte("split"))
	split.Write(req[:10])
	time.Sleep(100 * time.Millisecond)
	split.Write(req[10:])
	if f := readBoltFrame(t, split); f.RequestID != 7 || f.Status != bolt.StatusSuccess || string(f.Content) != "split" {
		t.Fatalf("split frame: id %d status %s content %q", f.RequestID, bolt.StatusText(f.Status), f.Content)
	}

	// One byte every 50 ms: each gap is well within the timeout, the frame
	// (about 100 bytes, 5 s) is not.
	slow := dialRaw(t, p.addr("in"))
	start := time.Now()
	go func() {
		for _, b := range echoRequest(8, 5000, []byte("trickle")) {
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	slow.SetReadDeadline(time.Now().Add(4 * time.Second))
	n, err := slow.Read(make([]byte, 64))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a frame trickled byte by byte kept its connection open past read_timeout")
	}
	if err == nil {
		t.Fatalf("read %d bytes, want the connection closed", n)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v, want about the 300ms read_timeout", d)
	}
	waitFor(t, "the reason logged", func() bool { return strings.Contains(p.log.String(), "frame not complete within read_timeout") })

	// The listener keeps serving, and an idle connection is not cut by
	// read_timeout (only connection_idle_timeout bounds it).
	idle := dialRaw(t, p.addr("in"))
	time.Sleep(500 * time.Millisecond)
	idle.Write(echoRequest(9, 5000, []byte("idle")))
	if f := readBoltFrame(t, idle); f.RequestID != 9 || string(f.Content) != "idle" {
		t.Fatalf("call after an idle wait: id %d content %q", f.RequestID, f.Content)
	}
}

// The frame's own timeout bounds the request when it is shorter than the
// route's (set or the 15s default).
func TestBoltFrameTimeoutBoundsRequest(t *testing.T) {
	silent := serveTCP(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
	for _, tc := range []struct{ name, route string }{
		{"route timeout", `, "timeout": "15s"`},
		{"default timeout", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, boltProxyConfig("bolt", tc.route, silent))
			c := dialRaw(t, p.addr("in"))
			start := time.Now()
			c.Write(echoRequest(5, 200, []byte("never answered")))
			f := readBoltFrame(t, c)
			if f.RequestID != 5 || f.Status != bolt.StatusTimeout {
				t.Fatalf("got id %d status %s, want id 5 status timeout", f.RequestID, bolt.StatusText(f.Status))
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("timeout answered after %v, want about the frame's 200ms", d)
			}
		})
	}
}
