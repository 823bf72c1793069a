package proxy

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/filter"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/stream"
)

// BoltProxy forwards Bolt requests of one listener to Bolt upstreams,
// multiplexed: the reader of the downstream connection hands each request
// to the forwarding loop, which writes it upstream and moves on; the
// upstream connection's reader brings the answer back to it. No goroutine
// per request. On an event loop both readers are tasks of the downstream
// connection's loop: its upstream pools are that loop's.
type BoltProxy struct {
	Forwarder
}

// boltCall is the Bolt adapter of one request: the request (promoted:
// routing view, edits), the call of the forwarding loop, and the answer's
// way back. Pooled: a request allocates nothing.
type boltCall struct {
	stream.BoltRequest
	p       *BoltProxy
	d       *stream.BoltDownstream
	c       call
	id      uint32
	codec   byte
	oneway  bool
	bytesIn int
	written int    // bytes of the answer
	perTry  bool   // the pending try waits on its per-try timeout
	service []byte // copied only when the access log or tracker is on
	resp    stream.BoltResponse
	e       trackedStream // the tracker entry, linked while the call is in flight
}

var boltCalls = sync.Pool{New: func() any { return new(boltCall) }}

// ServeBolt forwards one request frame; f and raw are the reader's.
func (p *BoltProxy) ServeBolt(d *stream.BoltDownstream, f bolt.Frame, raw []byte) {
	start := time.Now()
	b := boltCalls.Get().(*boltCall)
	b.p, b.d, b.id, b.codec, b.oneway = p, d, f.RequestID, f.Codec, f.Type == bolt.TypeOneway
	b.Reset(&f, raw)
	if p.Filters.Streams() {
		b.Hold() // the encode side reads the request after the reader moved on
	}
	if !b.oneway {
		d.Begin()
	}
	if p.AccessLog != nil || p.Streams != nil {
		svc, _ := f.Get(bolt.HeaderService)
		b.service = append(b.service[:0], svc...)
	}
	b.bytesIn = len(raw)
	b.c = call{f: &p.Forwarder, ds: b, conn: d.Conn, start: start}
	if p.Streams != nil {
		b.c.t = p.Streams.trackRequest(&b.e, p.Listener, d.Conn, f.RequestID, b.service, b.bytesIn, start)
	}
	if f.Timeout > 0 {
		b.c.expire = start.Add(time.Duration(f.Timeout) * time.Millisecond)
	}
	b.c.run()
}

// send makes one try: the request goes out on a multiplexed connection
// of the host and the answer comes back to BoltResponse or BoltFailed.
func (b *boltCall) send(c *call) {
	cc, err := b.p.Pools.Bolt(b.d.Conn.Loop(), c.tries.Cluster, c.tries.Host).Get(context.Background())
	if err != nil {
		c.ended(stream.ConnectResult(err))
		return
	}
	until, perTry := c.try.Until()
	timeout := time.Duration(math.MaxInt64) // only the client bounds it
	if !until.IsZero() {
		timeout = max(time.Until(until), time.Nanosecond)
	}
	oneway := b.oneway
	if c.try.Hold && !oneway {
		b.Hold() // the next try may start after the reader's buffer moved on
	}
	b.perTry = perTry
	c.Started()
	var result stream.BoltResult = b
	if oneway {
		result = nil
	}
	// The answer may end the call before Send returns: nothing of b or c
	// is touched after a successful Send of a two-way request.
	if err := cc.Send(b.Encoded(), oneway, timeout, result); err != nil {
		c.ended(stream.Result{Outcome: stream.NotSent, Err: err})
		return
	}
	if oneway {
		c.ended(stream.Result{Outcome: stream.Answered, Status: 200})
	}
}

// BoltResponse relays the upstream's answer, through the route's response
// edits and the encode filters, with the original request id.
func (b *boltCall) BoltResponse(raw []byte, f *bolt.Frame) {
	if class := stream.BoltStatusClass(f.Status); b.c.try.Hold && b.c.RetryAnswer(class) {
		b.c.ended(stream.Result{Outcome: stream.Retriable, Status: class, Replayable: true})
		return
	}
	b.resp.Reset(f)
	v := b.c.encodeWhole(&b.resp, f.Content)
	out := b.resp.Encode(raw)
	result := stream.Result{Outcome: stream.Answered, Status: b.resp.Status(), HostError: f.Status != bolt.StatusSuccess}
	if v.Delay > 0 {
		held := append([]byte(nil), out...) // the upstream reader's buffer moves on
		b.after(v.Delay, func() { b.answer(held, result, v) })
		return
	}
	b.answer(out, result, v)
}

// answer relays the response, or the reply of a filter that stopped it.
func (b *boltCall) answer(out []byte, r stream.Result, v filter.Verdict) {
	if v.Status != 0 {
		r = stream.Result{Outcome: stream.Stopped, Reply: stream.Reply{Status: v.Status, Body: v.Body}}
	} else {
		b.d.WriteResponse(out, b.id)
		b.written = len(out)
		b.d.End()
	}
	b.c.ended(r)
}

// BoltFailed reports a timeout or a lost upstream connection.
func (b *boltCall) BoltFailed(status uint16) {
	timeout := status == bolt.StatusTimeout
	if timeout && b.perTry {
		b.c.ended(stream.Result{Outcome: stream.TryTimedOut, Replayable: true})
		return
	}
	b.c.ended(stream.Result{Outcome: stream.UpstreamFailed, Timeout: timeout, Replayable: b.c.try.Hold})
}

func (b *boltCall) reply(r stream.Reply) int {
	if !b.oneway {
		b.d.WriteError(b.id, b.codec, stream.BoltStatus(r))
		b.written = bolt.ResponseHeaderLen // an empty response
		b.d.End()
	}
	return r.Status
}

func (b *boltCall) status() int { return 0 } // an answer is written whole, or not at all

func (b *boltCall) wholeBody() ([]byte, bool) { return b.Frame.Content, true }

// pause resumes the request after d; meanwhile the connection's other
// calls go on. The request is held first: the reader's buffer moves on.
func (b *boltCall) pause(d time.Duration, resume func()) {
	b.Hold()
	b.after(d, resume)
}

// after runs fn on the downstream connection (its loop's task, or a
// goroutine) once d has passed.
func (b *boltCall) after(d time.Duration, fn func()) {
	time.AfterFunc(d, func() { b.d.Conn.Run(fn) })
}

func (b *boltCall) logEntry(e *AccessEntry) {
	e.Protocol, e.Remote = "bolt", b.d.Conn.RemoteAddr().String()
	e.BytesIn, e.BytesOut, e.RequestID, e.Service = int64(b.bytesIn), int64(b.written), b.id, b.service
}

// done unlinks the tracker entry and pools the call.
func (b *boltCall) done(c *call) {
	if c.t != nil {
		// Unlinked before the call is reset and pooled: no snapshot reads
		// it after this.
		b.p.Streams.unregister(c.t)
	}
	b.Release()
	*b = boltCall{BoltRequest: b.BoltRequest, service: b.service[:0], resp: b.resp}
	boltCalls.Put(b)
}
