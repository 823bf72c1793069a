package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// connPair returns a network.Conn reading what the returned writer sends.
func connPair(t *testing.T) (*network.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := network.NewConn(<-acc, nil, 0)
	t.Cleanup(func() { w.Close(); c.Close(); c.FreeBuffer() })
	return c, w
}

// TestBodyChunkedVerbatimAcrossReads sends a chunked body in small pieces
// with the next message behind it: Body hands out exactly the body's bytes,
// framing included, and leaves the next message buffered.
func TestBodyChunkedVerbatimAcrossReads(t *testing.T) {
	c, w := connPair(t)
	body := "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
	next := "GET /next HTTP/1.1\r\n"
	go func() {
		for _, p := range []string{body[:3], body[3:17], body[17:40], body[40:] + next} {
			w.Write([]byte(p))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var b Body
	b.Reset(c, http1.FramingChunked, -1)
	var got []byte
	for !b.Done() {
		p, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
	}
	if string(got) != body {
		t.Fatalf("body bytes %q, want %q", got, body)
	}
	for len(c.Buffered()) < len(next) {
		if err := c.Fill(); err != nil {
			t.Fatal(err)
		}
	}
	if string(c.Buffered()) != next {
		t.Fatalf("left over %q, want the next message", c.Buffered())
	}
}

func TestBodyLengthAndTruncation(t *testing.T) {
	c, w := connPair(t)
	go func() { w.Write([]byte("0123456789extra")) }()
	var b Body
	b.Reset(c, http1.FramingLength, 10)
	var got []byte
	for !b.Done() {
		p, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
	}
	if string(got) != "0123456789" {
		t.Fatalf("got %q", got)
	}
	// A body cut short by the peer is an error, not a short success.
	b.Reset(c, http1.FramingLength, 100)
	go func() { w.Write([]byte("abc")); w.Close() }()
	var err error
	for err == nil && !b.Done() {
		_, err = b.Next()
	}
	if !errors.Is(err, ErrBodyTruncated) {
		t.Fatalf("want ErrBodyTruncated, got %v", err)
	}
}

func TestHTTP1PoolReusesAndExpires(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	p := NewHTTP1Pool(ln.Addr().String(), HTTP1PoolOptions{IdleTimeout: 50 * time.Millisecond, MaxIdle: 1})
	defer p.Close()
	ctx := context.Background()
	a, reused, err := p.Get(ctx)
	if err != nil || reused {
		t.Fatalf("first Get: reused=%v err=%v", reused, err)
	}
	p.Put(a)
	b, reused, _ := p.Get(ctx)
	if !reused || b != a {
		t.Fatal("an idle connection was not reused")
	}
	c, _, _ := p.Get(ctx) // a second connection while b is busy
	p.Put(b)
	p.Put(c) // over MaxIdle: closed
	if n := p.IdleCount(); n != 1 {
		t.Fatalf("idle = %d, want 1", n)
	}
	time.Sleep(60 * time.Millisecond)
	d, reused, _ := p.Get(ctx) // the idle one expired
	if reused {
		t.Fatal("an expired idle connection was reused")
	}
	p.Discard(d)
	for i := 0; i < 3; i++ { // dials are accepted asynchronously
		select {
		case <-accepted:
		case <-time.After(2 * time.Second):
			t.Fatalf("dialed %d connections, want 3", i)
		}
	}
}

// TestBoltClientConnTimeoutAndLoss checks the multiplexed upstream
// connection: a response matched by its rewritten id, a request with no
// answer failing with Timeout, and pending requests failing with
// ConnectionClosed when the upstream goes away.
func TestBoltClientConnTimeoutAndLoss(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	upstream := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); upstream <- c }()
	cc, err := DialBolt(context.Background(), nil, ln.Addr().String(), time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	up := <-upstream
	req := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: 1, RequestID: 777, Codec: bolt.CodecHessian2})

	answered := &result{done: make(chan struct{})}
	if err := cc.Send(req, false, 5*time.Second, answered); err != nil {
		t.Fatal(err)
	}
	// The upstream sees a fresh id and answers it.
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(up, buf, bolt.RequestHeaderLen)
	id := bolt.RequestID(buf[:n])
	if id == 777 {
		t.Fatal("request id was not rewritten")
	}
	up.Write(bolt.AppendErrorResponse(nil, id, bolt.CodecHessian2, bolt.StatusSuccess))
	<-answered.done
	if answered.status != bolt.StatusSuccess || !answered.response {
		t.Fatalf("answered: %+v", answered)
	}

	timedOut := &result{done: make(chan struct{})}
	cc.Send(req, false, 50*time.Millisecond, timedOut)
	<-timedOut.done
	if timedOut.status != bolt.StatusTimeout {
		t.Fatalf("no answer: status %d, want timeout", timedOut.status)
	}

	lost := &result{done: make(chan struct{})}
	cc.Send(req, false, 5*time.Second, lost)
	up.Close()
	<-lost.done
	if lost.status != bolt.StatusConnectionClosed {
		t.Fatalf("lost upstream: status %d, want connection closed", lost.status)
	}
	if cc.Alive() {
		t.Fatal("connection still alive after the upstream closed")
	}
}

type result struct {
	status   uint16
	response bool
	done     chan struct{}
}

func (r *result) BoltResponse(raw []byte, f *bolt.Frame) {
	r.status, r.response = f.Status, bytes.Equal(raw[:1], []byte{bolt.ProtocolCode})
	close(r.done)
}

func (r *result) BoltFailed(status uint16) { r.status = status; close(r.done) }

// bigAnswers answers every request with a large response, from a goroutine
// of its own as an upstream reader would.
type bigAnswers struct {
	size    int
	written chan error
}

func (h *bigAnswers) ServeBolt(d *BoltDownstream, f bolt.Frame, _ []byte) {
	d.Begin()
	resp := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeResponse, CmdCode: bolt.CmdResponse, Version: 1,
		RequestID: f.RequestID, Codec: f.Codec, Content: bytes.Repeat([]byte("r"), h.size)})
	go func() {
		h.written <- d.WriteFrame(resp)
		d.End()
	}()
}

// Answers for a client that does not read wait in its queue: writing them
// never blocks the writer, and the send timeout closes the connection.
func TestBoltDownstreamQueuesForClientNotReading(t *testing.T) {
	c, client := connPair(t)
	const requests = 16
	h := &bigAnswers{size: 1 << 20, written: make(chan error, requests)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		ServeBolt(context.Background(), c, h, &BoltOptions{SendTimeout: time.Second, MaxQueued: 64 << 20})
	}()
	for id := range uint32(requests) {
		client.Write(bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: 1, RequestID: id + 1, Codec: bolt.CodecHessian2}))
	}
	// 16 MiB of answers, far more than the sockets buffer: none of the
	// writers waits for the client (answers after the write timeout fail).
	queued := 0
	for range requests {
		select {
		case err := <-h.written:
			if err == nil {
				queued++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a writer is blocked by a client that does not read")
		}
	}
	if queued == 0 {
		t.Fatal("no answer was written or queued")
	}
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection outlived its send timeout")
	}
	if !c.Closed() {
		t.Fatal("connection not closed")
	}
}

// Past MaxQueued the connection closes at once and later answers fail.
func TestBoltDownstreamQueueLimit(t *testing.T) {
	c, client := connPair(t)
	h := &bigAnswers{size: 1 << 20, written: make(chan error, 16)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		ServeBolt(context.Background(), c, h, &BoltOptions{MaxQueued: 2 << 20})
	}()
	for id := range uint32(16) {
		client.Write(bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: 1, RequestID: id + 1, Codec: bolt.CodecHessian2}))
	}
	// The close can come before the reader has taken every request; once
	// ServeBolt returns, every answer it started has reported.
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection stayed open past its queue limit")
	}
	var failed int
	for len(h.written) > 0 {
		if err := <-h.written; errors.Is(err, errSlowClient) {
			failed++
		}
	}
	if failed == 0 || !c.Closed() {
		t.Fatalf("%d answers refused, closed %v: want the connection closed past 2 MiB queued", failed, c.Closed())
	}
}
