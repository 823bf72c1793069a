package stream

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http2"
)

// The HTTP/2 connections of the data path, server and client side alike:
// the engine (internal/protocol/http2) driven by a reader on the socket.
//
// Locking. An engine is not safe for concurrent use, and a proxied stream
// touches two: the downstream connection's and an upstream one's, each
// read by its own goroutine or task. The engine is used under its
// connection's write lock (network.Conn.LockWrite: a mutex, or a flag on an
// event loop), and no code holds two connections' locks at once, so two
// readers relaying to each other never deadlock. The engine's callbacks
// run under the lock, inside Feed: they only copy what arrived into the
// stream's state (h2Pipe) and queue an event; the reader dispatches the
// events once it has let the lock go, and that is where one connection's
// news goes to the other. A pipe's own mutex is innermost: nothing is
// locked while it is held.
//
// Writing. What the engine queues goes to the socket at once as far as it
// takes it (TryWrite, under the lock: never waiting for a peer); the rest
// is copied out and written by a flusher task, so a slow peer holds up
// only its own connection. Flow control bounds how much DATA can pile up.

// h2EventKind is what happened to a stream during a Feed.
type h2EventKind uint8

const (
	h2EvHead     h2EventKind = iota + 1 // a request (server) or response (client) head
	h2EvData                            // body bytes (or its end, or trailers) in the pipe
	h2EvReset                           // the stream ended abnormally
	h2EvWritable                        // a blocked stream may send again
)

type h2Event struct {
	kind h2EventKind
	id   uint32
	s    h2Side
}

// h2Side is one connection's side of a proxied stream: what the reader
// dispatches its events to. A queued event holds a reference to it
// (h2pool.go).
type h2Side interface {
	event(kind h2EventKind)
	ref()
	unref()
}

// h2Conn is an HTTP/2 socket with its engine.
type h2Conn struct {
	conn *network.Conn
	eng  *http2.Conn
	log  *slog.Logger

	// Under the connection's write lock:
	events  []h2Event
	spare   []h2Event
	flusher *network.Task
	fbuf    []byte // the flusher's copy of the output
	werr    error  // writing failed: the connection is dead
	// flushQueued: flushFn (flushAfterPass, bound once) waits for the end
	// of the loop's pass.
	flushQueued bool
	flushFn     func()
	// flushing: bytes the flusher is writing, out of the engine's output;
	// starved: DATA waited for room (room), onRoom tells the streams
	// (queues a Writable event each) once what is held is written.
	flushing int
	starved  bool
	onRoom   func()
}

// maxPendingOutput bounds the bytes a connection holds for a peer that
// does not read them: past it DATA waits in the sending pipe, within the
// receiver's flow-control window, so a client that opens a large window
// and stops reading costs this much memory, not its window.
const maxPendingOutput = 1 << 20

// room is how many DATA bytes may be queued now; the lock is held. With
// none the connection is starved until what it holds is written.
func (c *h2Conn) room() int {
	n := maxPendingOutput - len(c.eng.Output()) - c.flushing
	if n <= 0 {
		c.starved = true
		return 0
	}
	return n
}

// roomBack tells the streams of a starved connection that its output is
// written (their Writable events); the lock is held.
func (c *h2Conn) roomBack() {
	if c.starved && c.flusher == nil && len(c.eng.Output()) == 0 {
		c.starved = false
		if c.onRoom != nil {
			c.onRoom()
		}
	}
}

// init binds the connection's socket, engine and log.
func (c *h2Conn) init(conn *network.Conn, eng *http2.Conn, log *slog.Logger) {
	c.conn, c.eng, c.log = conn, eng, log
	c.flushFn = c.flushAfterPass
}

func (c *h2Conn) lock()   { c.conn.LockWrite() }
func (c *h2Conn) unlock() { c.conn.UnlockWrite() }

// flushLocked sends the engine's output. On an event loop it goes after
// the loop's pass (network.Conn.AfterPass), so that what many streams
// queue in one pass leaves in one write; elsewhere, and when the
// connection is about to close, at once (writeLocked). The lock is held.
func (c *h2Conn) flushLocked() {
	if c.werr == nil && (c.flusher != nil || c.flushQueued) {
		return // the flusher or the queued flush takes it
	}
	if c.werr == nil && len(c.eng.Output()) > 0 && c.conn.AfterPass(c.flushFn) {
		c.flushQueued = true
		return
	}
	c.writeLocked()
}

// flushAfterPass is the flush queued by flushLocked.
func (c *h2Conn) flushAfterPass() {
	c.lock()
	c.flushQueued = false
	c.writeLocked()
	ev := c.takeEvents() // roomBack's
	c.unlock()
	if len(ev) > 0 {
		c.dispatch(ev)
	}
}

// writeLocked sends the engine's output now: as much as the socket takes,
// the rest by the flusher. The lock is held.
func (c *h2Conn) writeLocked() {
	if c.werr != nil {
		if out := c.eng.Output(); len(out) > 0 {
			c.eng.Advance(len(out))
		}
		return
	}
	if c.flusher != nil {
		return
	}
	out := c.eng.Output()
	if len(out) == 0 {
		return
	}
	n, err := c.conn.TryWrite(out)
	c.eng.Advance(n)
	if err != nil {
		c.failWrite(err)
		return
	}
	if len(c.eng.Output()) > 0 {
		c.flusher = c.conn.Go(c.flush)
		return
	}
	c.roomBack()
}

// failWrite marks the connection dead and closes it: its reader sees that
// and fails the streams. The lock is held.
func (c *h2Conn) failWrite(err error) {
	c.werr = err
	c.eng.Advance(len(c.eng.Output()))
	c.conn.Close()
}

// flush writes the engine's output until there is none, waiting for the
// peer (within the connection's send timeout).
func (c *h2Conn) flush() {
	for {
		c.lock()
		out := c.eng.Output()
		if len(out) == 0 || c.werr != nil {
			c.flusher = nil
			if cap(c.fbuf) > 256<<10 {
				c.fbuf = nil
			}
			c.roomBack()
			ev := c.takeEvents()
			c.unlock()
			if len(ev) > 0 {
				c.dispatch(ev)
			}
			return
		}
		buf := append(c.fbuf[:0], out...)
		c.eng.Advance(len(out))
		c.flushing = len(buf)
		c.unlock()
		_, err := c.conn.Write(buf)
		c.lock()
		c.flushing = 0
		c.fbuf = buf[:0]
		if err != nil && c.werr == nil {
			c.log.Debug("http2: write failed, closing connection", "remote", c.conn.RemoteAddr().String(), "err", err)
			c.failWrite(err)
		}
		c.unlock()
	}
}

// queue records an event for dispatch after the lock is let go; the lock
// is held (the engine's callbacks run under it).
func (c *h2Conn) queue(kind h2EventKind, id uint32, s h2Side) {
	s.ref()
	c.events = append(c.events, h2Event{kind: kind, id: id, s: s})
}

// takeEvents hands the queued events to the caller; the lock is held.
func (c *h2Conn) takeEvents() []h2Event {
	ev := c.events
	c.events = c.spare[:0]
	return ev
}

// dispatch runs the events without any lock, then gives the slice back.
func (c *h2Conn) dispatch(ev []h2Event) {
	for i := range ev {
		if s := ev[i].s; s != nil {
			s.event(ev[i].kind)
			s.unref()
		}
	}
	clear(ev)
	c.lock()
	if cap(ev) >= cap(c.spare) {
		c.spare = ev[:0]
	}
	c.unlock()
}

// feed gives buffered bytes to the engine and dispatches what they caused;
// a non-nil error ends the connection.
func (c *h2Conn) feed() error {
	buf := c.conn.Buffered()
	c.lock()
	err := c.eng.Feed(buf)
	c.conn.Discard(len(buf))
	c.flushLocked()
	ev := c.takeEvents()
	c.unlock()
	c.dispatch(ev)
	return err
}

// with runs fn on the engine under the lock and sends what it queued.
func (c *h2Conn) with(fn func(e *http2.Conn)) {
	c.lock()
	fn(c.eng)
	c.flushLocked()
	ev := c.takeEvents() // Writable may fire inside a write method
	c.unlock()
	if len(ev) > 0 {
		c.dispatch(ev)
	}
}

// errConnClosed fails streams of a connection that ended.
var errConnClosed = errors.New("http2: connection closed")

// h2Pipe carries one direction of a stream's body from the connection that
// received it to the one that sends it on: the bytes the receiving engine
// delivered and the relay has not yet sent, whether END_STREAM came, and
// the trailers. Its bytes are bounded by the receiver's stream window: the
// receiving engine hears that a byte is consumed (WINDOW_UPDATE) only once
// the relay has sent it on, so a slow sender holds back only its stream.
//
// A held pipe keeps what it sent, for another try of the request; it
// stops holding (and the request stops being replayable) past maxHeld.
type h2Pipe struct {
	mu       sync.Mutex // innermost: held around slice operations only
	buf      []byte
	off      int  // bytes of buf sent in the current try
	consumed int  // bytes of buf reported consumed to the receiver
	end      bool // END_STREAM came (with the last DATA or the trailers)
	trailers *H2Head
	spare    *H2Head // a reset pipe's trailers head, for reuse
	done     bool    // END_STREAM went out in the current try
	hold     bool
	dropped  bool // bytes were sent and let go: no replay
	total    int64
}

// maxHeld bounds the request body kept for a retry, as HTTP/1's.
const maxHeld = maxHeldBody

// put adds received bytes; trailers (nil: none) end the body.
func (p *h2Pipe) put(b []byte, end bool) {
	p.mu.Lock()
	p.buf = append(p.buf, b...)
	p.total += int64(len(b))
	if end {
		p.end = true
	}
	p.mu.Unlock()
}

// putTrailers records trailers, which end the body.
func (p *h2Pipe) putTrailers(h *http2.Headers) {
	p.mu.Lock()
	if p.trailers == nil {
		p.trailers, p.spare = p.spare, nil
		if p.trailers == nil {
			p.trailers = new(H2Head)
		}
	}
	p.trailers.copyFrom(h)
	p.end = true
	p.mu.Unlock()
}

// rewind starts a new try: everything held goes again.
func (p *h2Pipe) rewind() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped {
		return false
	}
	p.off, p.done = 0, false
	return true
}

// replayable reports whether the pipe could go again whole.
func (p *h2Pipe) replayable() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.dropped
}

// relay sends what the pipe holds on stream id of dst, as far as dst's
// windows and room (h2Conn.room: what dst may still queue) allow, and the
// trailers or END_STREAM after the last byte; h
// (nil: none) sees each chunk sent, as the request's (request) or the
// response's body. It returns the bytes newly sent, to report consumed to
// the receiver, and whether the body is complete; a Reply with a status
// means a filter stopped the exchange. dst's lock is held.
func (p *h2Pipe) relay(e *http2.Conn, room int, id uint32, h Hooks, request bool) (consume int, complete bool, stop Reply, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return 0, true, Reply{}, nil
	}
	all := p.buf[p.off:]
	data := all[:min(len(all), max(room, 0))]
	if len(data) == 0 && (len(all) > 0 || !p.end) {
		return 0, false, Reply{}, nil
	}
	endData := p.end && p.trailers == nil && len(data) == len(all)
	n, err := e.WriteData(id, data, endData)
	if err != nil {
		return 0, false, Reply{}, err
	}
	p.off += n
	last := n == len(all) && p.end
	if h != nil && (n > 0 || last) {
		if request {
			stop = h.RequestData(data[:n], last)
		} else {
			stop = h.ResponseData(data[:n], last)
		}
	}
	if last {
		if p.trailers != nil {
			if err := e.WriteTrailers(id, p.trailers.Fields); err != nil {
				return 0, false, stop, err
			}
		}
		p.done = true
	}
	if p.off > p.consumed {
		consume = p.off - p.consumed
		p.consumed = p.off
	}
	switch {
	case !p.hold && p.off == len(p.buf):
		p.dropped = p.dropped || p.off > 0
		p.buf, p.off, p.consumed = p.buf[:0], 0, 0
		if cap(p.buf) > 1<<20 {
			p.buf = nil
		}
	case p.hold && len(p.buf) > maxHeld:
		p.hold, p.dropped = false, true
		p.buf = p.buf[:copy(p.buf, p.buf[p.off:])]
		p.consumed -= p.off
		p.off = 0
	}
	return consume, p.done, stop, nil
}

// drop empties the pipe of a stream nobody relays any more and returns
// how many received bytes were never reported consumed.
func (p *h2Pipe) drop() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.buf) - p.consumed
	p.buf, p.off, p.consumed, p.done = p.buf[:0], 0, 0, true
	return n
}
