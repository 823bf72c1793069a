package stream

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Pooled stream state. A proxied HTTP/2 stream is an H2ServerStream (the
// downstream side) and an H2ClientStream per try (the upstream side), each
// with heads, pipes and a timer whose buffers are worth keeping: on an
// event loop they are reused, so a stream in steady state allocates
// nothing.
//
// A stream goes back to its pool when nothing can reach it any more, which
// a count of references tells. A reference is held by:
//
//	H2ServerStream                          H2ClientStream
//	its connection's stream map             its connection's stream map
//	each queued event                       each queued event
//	the handler, from ServeH2 until Done    Forward, while it runs
//	each try (H2ClientStream.peer)          the try, until it ended (finish)
//	                                        the server stream's current try (up)
//	                                        each pending run of its timer
//
// and by a function for as long as it uses a stream it loaded from a field
// another task may clear (upRef). Only streams of an event loop are
// counted and recycled: there every user runs on the loop's thread, one at
// a time, so a stream cannot be loaded and released at once (a timer's
// run, on another goroutine, only posts its expiry to the loop, and holds
// a reference meanwhile). In the goroutine model, and for the tries of an
// HTTP/1 downstream (conversion), the garbage collector frees the streams.
// A stream whose try ran on an HTTP/1 upstream (conversion, with tasks of
// its own) is left to the garbage collector too.

var (
	h2ServerStreams = sync.Pool{New: func() any { return new(H2ServerStream) }}
	h2ClientStreams = sync.Pool{New: func() any { return new(H2ClientStream) }}
)

// newServerStream returns a stream for request id of d.
func (d *H2Downstream) newServerStream(id uint32) *H2ServerStream {
	var s *H2ServerStream
	if d.conn.Loop() != nil {
		s = h2ServerStreams.Get().(*H2ServerStream)
		s.pooled = true
	} else {
		s = new(H2ServerStream)
	}
	s.d, s.id, s.Start = d, id, time.Now()
	return s
}

func (s *H2ServerStream) ref() {
	if s.pooled {
		s.refs.Add(1)
	}
}

func (s *H2ServerStream) unref() {
	if !s.pooled {
		return
	}
	switch n := s.refs.Add(-1); {
	case n == 0 && s.h1.Load() == nil:
		s.recycle()
	case n < 0:
		refUnderflow("server")
	}
}

// recycle empties the stream, keeping its buffers, and pools it.
func (s *H2ServerStream) recycle() {
	s.Req.reset()
	s.resp.reset()
	s.body.reset()
	s.reply.reset()
	// pooled stays set: a late release of a pooled stream is counted
	// (refUnderflow) rather than ignored.
	s.Start, s.d, s.id = time.Time{}, nil, 0
	s.up.Store(nil)
	s.gone.Store(false)
	s.replying.Store(false)
	s.status.Store(0)
	s.bytesOut.Store(0)
	s.done.Store(false)
	h2ServerStreams.Put(s)
}

// newClientStream returns a try's stream with peer as its downstream end.
func newClientStream(peer h2Peer, try H2Try, deadline time.Time) *H2ClientStream {
	var t *H2ClientStream
	if s, ok := peer.(*H2ServerStream); ok && s.pooled {
		t = h2ClientStreams.Get().(*H2ClientStream)
		t.pooled = true
	} else {
		t = new(H2ClientStream)
	}
	t.peer, t.try, t.deadline = peer, try, deadline
	if t.pooled {
		peer.ref()
		t.refs.Store(2) // Forward's and the try's
	}
	return t
}

func (t *H2ClientStream) ref() {
	if t.pooled {
		t.refs.Add(1)
	}
}

func (t *H2ClientStream) unref() {
	if !t.pooled {
		return
	}
	switch n := t.refs.Add(-1); {
	case n == 0:
		peer := t.peer
		t.recycle()
		peer.unref()
	case n < 0:
		refUnderflow("client")
	}
}

// recycle empties the try's stream, keeping its buffers and its timer
// (stopped: no run is pending, or a reference would be), and pools it.
func (t *H2ClientStream) recycle() {
	t.cc.Store(nil)
	t.id, t.peer, t.try = 0, nil, nil
	t.head.reset()
	t.body.reset()
	t.headEnd = false // pooled stays set, as for a server stream
	t.headSent.Store(false)
	t.ended.Store(false)
	t.perTry.Store(false)
	t.deadline, t.perTryUntil, t.idle = time.Time{}, time.Time{}, 0
	t.armedAt.Store(0)
	t.resetErr = 0
	h2ClientStreams.Put(t)
}

// upRef returns the server stream's current try with a reference the
// caller releases (unref), or nil.
func (s *H2ServerStream) upRef() *H2ClientStream {
	up := s.up.Load()
	if up != nil {
		up.ref()
	}
	return up
}

// reset empties the pipe for another stream, keeping its buffer (up to a
// size worth keeping) and its trailers' head.
func (p *h2Pipe) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cap(p.buf) > 64<<10 {
		p.buf = nil
	}
	p.buf, p.off, p.consumed = p.buf[:0], 0, 0
	if p.trailers != nil {
		p.trailers.reset()
		p.spare, p.trailers = p.trailers, nil
	}
	p.end, p.done, p.hold, p.dropped, p.total = false, false, false, false, 0
}

// refUnderflow notes a stream released more often than it was referenced:
// a bug. The stream is left to the garbage collector; the first one is
// logged, and tests check RefUnderflows.
func refUnderflow(side string) {
	if refUnderflows.Add(1) == 1 {
		slog.Error("http2: " + side + " stream released more often than referenced; it is not reused")
	}
}

var refUnderflows atomic.Int64

// RefUnderflows counts the pooled HTTP/2 streams released more often than
// referenced since the process started; anything but 0 is a bug.
func RefUnderflows() int64 { return refUnderflows.Load() }
