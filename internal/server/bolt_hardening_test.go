package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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
