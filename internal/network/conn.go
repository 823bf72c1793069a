package network

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
)

// ErrBufferFull is returned by Fill when the buffered, unconsumed bytes
// already reach the buffer limit: the peer sent a message larger than allowed.
var ErrBufferFull = errors.New("network: read buffer full")

// Default buffer sizes: most HTTP/1 heads and Bolt frames fit the initial
// buffer; it grows (by reallocation) up to the limit only for large messages.
const (
	DefaultReadBufferSize = 16 << 10
	DefaultMaxBufferSize  = 1 << 20
)

// maxPooledBufferSize is the largest read buffer given back to the pool. One
// grown for a large message is dropped instead: the pool would otherwise
// keep megabytes alive for every later small message of every connection.
const maxPooledBufferSize = 64 << 10

// Counters are byte and connection totals shared by the connections of one
// listener or one upstream cluster. They are atomics: no lock per read.
type Counters struct {
	BytesIn, BytesOut atomic.Uint64
	ConnsTotal        atomic.Uint64
	ConnsActive       atomic.Int64
	// ConnsRefused counts connections a listener closed at once because
	// it was at its connection limit.
	ConnsRefused atomic.Uint64
}

// connection states, used by graceful drain to close idle connections at once
// while letting busy ones finish their request.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

// Conn is a connection with a read buffer: codecs look at Buffered(), consume
// with Discard and ask for more with Fill. Methods other than Write/Writev
// and Close must be called from the one goroutine that reads.
type Conn struct {
	nc net.Conn
	// ls is the event loop's socket under nc (nc itself, or the socket a
	// wrapper such as TLS reads and writes through) when an event loop
	// serves the connection, nil when goroutines do: the IO model is
	// decided when the connection is made, not by looking at nc's type, so
	// that a wrapped socket stays scheduled by its loop.
	ls       *fdConn
	bb       *bytebufferpool.ByteBuffer
	r, w     int32 // Buffered is bb.B[r:w]; the buffer is at most maxBuf
	counters *Counters
	state    atomic.Int32
	maxBuf   int32
	draining atomic.Bool
	closed   atomic.Bool
	// handedOff is set once the socket went to another process (upgrade).
	handedOff atomic.Bool
	// Loop tasks only: the connection's handler is resumed from a park
	// (ParkIdle, not ParkRead); the handler returned, leaving the
	// connection to its tasks until Finish (Detach); the listener's cleanup
	// ran.
	idlePark, detached, ended bool
	// first is where a wrapped connection waits for a message's first
	// byte (Fill), so that no read buffer is held while it waits.
	first        [1]byte
	readDeadline int64                // unix ns, last set by SetReadDeadline (reading goroutine only); 0: none
	ln           *Listener            // the accepting listener (nil for upstream conns): its handoff hook
	gio          *goIO                // what Writev, TryWrite and CheckIdle need off a loop, made at their first use
	wmu          sync.Mutex           // LockWrite's, for a connection served by goroutines
	also         atomic.Pointer[Conn] // closed with this one (CloseAlso)
	send         time.Duration
	sendUntil    int64 // unix ns: the write deadline SetSendTimeout's rule set last
	// resume is the handler's continuation while the connection is parked
	// (ParkIdle); after is what AfterServe keeps for the handler's end.
	resume, after func()
}

// goIO is what a connection off a loop's socket makes at its first need:
// the scratch of a gathered write through net.Buffers (the argument is
// copied here, so the caller's pieces do not escape) and the raw access to
// a socket of Go's netpoller that TryWrite and CheckIdle use.
type goIO struct {
	bufs net.Buffers // WriteTo consumes it, so
	iov  [4][]byte   // it is re-sliced from this array each time
	raw  rawIO
}

func (c *Conn) goIO() *goIO {
	if c.gio == nil {
		c.gio = new(goIO)
	}
	return c.gio
}

// NewConn wraps nc; counters may be nil. maxBuf <= 0 means DefaultMaxBufferSize.
func NewConn(nc net.Conn, counters *Counters, maxBuf int) *Conn {
	if maxBuf <= 0 {
		maxBuf = DefaultMaxBufferSize
	}
	c := &Conn{nc: nc, maxBuf: int32(min(maxBuf, 1<<30)), counters: counters}
	if counters != nil {
		counters.ConnsTotal.Add(1)
		counters.ConnsActive.Add(1)
	}
	return c
}

// SetMaxBuffer changes the buffer limit once the connection's protocol is
// known (a Bolt frame may be far larger than an HTTP/1 head); n <= 0 means
// DefaultMaxBufferSize. The buffer still grows only as bytes arrive.
func (c *Conn) SetMaxBuffer(n int) {
	if n <= 0 {
		n = DefaultMaxBufferSize
	}
	c.maxBuf = int32(min(n, 1<<30))
}

// Wrap puts a layer over the connection's socket (TLS, say): reads and
// writes go through wrap's result from now on. Call it before anything is
// read or written. The connection keeps its IO model: on an event loop the
// wrapper's IO reaches the loop's socket, which yields to the loop as
// before.
//
// The wrapper must expose the socket under it as NetConn() (as *tls.Conn
// does): that is how the connection knows it is wrapped, and idle checks
// look at the socket under it.
func (c *Conn) Wrap(wrap func(net.Conn) net.Conn) {
	c.nc = wrap(c.nc)
	if !c.wrapped() {
		panic("network: Conn.Wrap: the wrapper has no NetConn method")
	}
}

// netConner is a wrapper that exposes the socket under it.
type netConner interface{ NetConn() net.Conn }

// readAheader is a wrapper that may hold bytes it read ahead of what its
// last Read returned (TLS: the rest of a record, when that Read filled the
// space it was given).
type readAheader interface{ ReadAhead() bool }

// wrapperHolds reports whether a wrapper may hold bytes read ahead: then
// Release keeps the buffer, so that the next Fill takes them in one read
// rather than a byte at a time by the one-byte wait.
func (c *Conn) wrapperHolds() bool {
	ra, ok := c.nc.(readAheader)
	return ok && ra.ReadAhead()
}

// wrapped reports whether Wrap put a layer (TLS) over the socket: its
// state (a TLS session) can't be handed to another process, and it may
// hold bytes it read ahead. (A type assertion rather than a field keeps
// Conn in its size class.)
func (c *Conn) wrapped() bool {
	_, ok := c.nc.(netConner)
	return ok
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Buffered returns the bytes read and not yet consumed. The slice is valid
// until the next Fill or Release.
func (c *Conn) Buffered() []byte {
	if c.bb == nil {
		return nil
	}
	return c.bb.B[c.r:c.w]
}

// Discard consumes n buffered bytes.
func (c *Conn) Discard(n int) {
	c.r += int32(n)
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
}

// Fill reads at least one more byte into the buffer, keeping the unconsumed
// bytes. Slices from Buffered taken before may be invalidated.
func (c *Conn) Fill() error {
	if c.bb == nil && c.wrapped() {
		// A wrapper (TLS) blocks inside Read holding the buffer it was
		// given, and its connection never parks: it waits for the next
		// message with one byte of the connection's own instead, and the
		// rest of the record comes from the wrapper's buffer without a
		// system call.
		n, err := c.nc.Read(c.first[:])
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		c.getBuffer()
		c.bb.B[0] = c.first[0]
		c.w = 1
		if c.counters != nil {
			c.counters.BytesIn.Add(1)
		}
		return nil
	}
	if c.bb == nil {
		c.getBuffer()
	}
	if int(c.w) == len(c.bb.B) {
		if c.r > 0 { // compact
			n := copy(c.bb.B, c.bb.B[c.r:c.w])
			c.r, c.w = 0, int32(n)
		} else {
			if len(c.bb.B) >= int(c.maxBuf) {
				return ErrBufferFull
			}
			size := min(2*len(c.bb.B), int(c.maxBuf))
			nb := make([]byte, size)
			copy(nb, c.bb.B[c.r:c.w])
			c.bb.B = nb
		}
	}
	n, err := c.nc.Read(c.bb.B[c.w:])
	c.w += int32(n)
	if n > 0 && c.counters != nil {
		c.counters.BytesIn.Add(uint64(n))
	}
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (c *Conn) getBuffer() {
	c.bb = bytebufferpool.Get()
	if cap(c.bb.B) < DefaultReadBufferSize {
		c.bb.B = make([]byte, DefaultReadBufferSize)
	}
	c.bb.B = c.bb.B[:cap(c.bb.B)]
}

// Release returns the read buffer to the pool when nothing is buffered, so an
// idle connection holds no buffer. Call it before blocking for a new message.
func (c *Conn) Release() {
	if c.bb != nil && c.r == c.w && !c.wrapperHolds() {
		c.putBuffer()
	}
}

// putBuffer gives the read buffer back to the pool, or to the garbage
// collector when it grew past maxPooledBufferSize.
func (c *Conn) putBuffer() {
	if cap(c.bb.B) <= maxPooledBufferSize {
		bytebufferpool.Put(c.bb)
	}
	c.bb = nil
	c.r, c.w = 0, 0
}

// SetSendTimeout makes a write fail with os.ErrDeadlineExceeded once it has
// waited about d for a peer that does not read (nginx's send_timeout: the
// time allowed between two writes, not for a whole response). It moves the
// write deadline itself, every d/4 rather than every write, so a write has
// between 3d/4 and d; don't combine it with SetWriteDeadline. 0 turns it off.
func (c *Conn) SetSendTimeout(d time.Duration) {
	c.send = d
	if d == 0 && c.sendUntil != 0 {
		c.sendUntil = 0
		c.nc.SetWriteDeadline(time.Time{})
	}
}

func (c *Conn) armSend() {
	now := c.clock()
	if time.Duration(c.sendUntil-now.UnixNano()) > c.send-c.send/4 {
		return
	}
	until := now.Add(c.send)
	c.sendUntil = until.UnixNano()
	c.nc.SetWriteDeadline(until)
}

// Write writes b.
func (c *Conn) Write(b []byte) (int, error) {
	if c.send > 0 {
		c.armSend()
	}
	n, err := c.nc.Write(b)
	if n > 0 && c.counters != nil {
		c.counters.BytesOut.Add(uint64(n))
	}
	return n, err
}

// TryWrite writes as much of b as the socket takes now, without waiting for
// room: n < len(b) (even 0) means its buffer is full. A writer that must
// not wait for one peer (a reader answering many connections) queues the
// rest itself. Call it under LockWrite.
func (c *Conn) TryWrite(b []byte) (int, error) {
	if c.send > 0 {
		c.armSend() // an old deadline must not fail a write that doesn't wait
	}
	n, err := c.tryWrite(b)
	if n > 0 && c.counters != nil {
		c.counters.BytesOut.Add(uint64(n))
	}
	return n, err
}

// LockWrite keeps the connection's writing side for the caller until
// UnlockWrite: with several writers (the requests or the responses of a
// multiplexed protocol), each message goes out whole. On an event loop the
// writers are tasks of the connection's loop, and one that has to wait
// yields to the loop.
func (c *Conn) LockWrite() {
	if !c.lockWriteOnLoop() {
		c.wmu.Lock()
	}
}

// UnlockWrite ends LockWrite.
func (c *Conn) UnlockWrite() {
	if !c.unlockWriteOnLoop() {
		c.wmu.Unlock()
	}
}

// piecesWriter is a wrapper (TLS) that writes gathered pieces better than
// one at a time: net.Buffers would make a TLS record of each.
type piecesWriter interface {
	Writev(pieces [][]byte) (int64, error)
}

// Writev writes the pieces with one gathered write where the platform allows.
// Not safe for concurrent use with itself; callers serialise writes.
func (c *Conn) Writev(pieces ...[]byte) error {
	if c.send > 0 {
		c.armSend()
	}
	n, err, done := c.writevOnLoop(pieces)
	if !done {
		g := c.goIO()
		g.bufs = append(g.iov[:0], pieces...)
		if pw, ok := c.nc.(piecesWriter); ok {
			n, err = pw.Writev(g.bufs)
		} else {
			n, err = g.bufs.WriteTo(c.nc)
		}
		clear(g.iov[:]) // drop references to the caller's buffers
		g.bufs = nil
	}
	if n > 0 && c.counters != nil {
		c.counters.BytesOut.Add(uint64(n))
	}
	return err
}

// SetReadDeadline sets the read deadline; zero clears it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDeadline = 0
	if !t.IsZero() {
		c.readDeadline = max(t.UnixNano(), 1)
	}
	return c.nc.SetReadDeadline(t)
}

// ExtendReadDeadline moves the read deadline to t unless the one in force
// already lies within slack before t. Keep-alive loops call it for every
// message: re-arming the runtime timer once per slack instead of once per
// message, at the price of a deadline firing up to slack early.
func (c *Conn) ExtendReadDeadline(t time.Time, slack time.Duration) error {
	if d := c.readDeadline; d != 0 && d <= t.UnixNano() && time.Duration(t.UnixNano()-d) <= slack {
		return nil
	}
	return c.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline; zero clears it.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// SetIdle marks whether the connection waits for a new message (true) or is
// busy with one. Drain closes idle connections and lets busy ones finish.
// It reports false when the connection is draining and should close.
func (c *Conn) SetIdle(idle bool) bool {
	if idle {
		c.state.Store(stateIdle)
		if c.draining.Load() {
			return false
		}
		return true
	}
	c.state.CompareAndSwap(stateIdle, stateActive)
	return !c.draining.Load()
}

// Draining reports whether the connection should close after the current
// message.
func (c *Conn) Draining() bool { return c.draining.Load() }

// StartDrain asks the connection to close after its current message; an idle
// one is woken (its read fails) so that it closes now.
func (c *Conn) StartDrain() {
	c.draining.Store(true)
	if c.state.Load() == stateIdle {
		if c.ls != nil {
			c.ls.Interrupt() // a loop socket: its deadlines belong to its loop
		} else {
			c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// CloseWrite half-closes a TCP connection; other kinds are closed.
func (c *Conn) CloseWrite() error {
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		return tc.CloseWrite()
	}
	return c.nc.Close()
}

// Close closes the connection and returns its buffer to the pool. It is safe
// to call more than once and from any goroutine; the buffer is released only
// by the reading goroutine's final Close.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.state.Store(stateClosed)
	err := c.nc.Close()
	if also := c.also.Load(); also != nil {
		also.Close()
	}
	if c.counters != nil {
		c.counters.ConnsActive.Add(-1)
	}
	return err
}

// closeNotifier is a wrapper (TLS) that tells its peer the stream ends
// before the socket closes (close_notify), so that the peer can tell an end
// from a cut. It bounds its own wait for the peer.
type closeNotifier interface{ CloseNotify() error }

// CloseOwned is Close by the connection's own reader as it ends the
// connection (the listener's cleanup after its handler): a wrapper first
// says goodbye to the peer (TLS's close_notify). The goodbye is a write,
// so it takes the writing side like any writer; on an event loop a wait
// for room yields to the loop. Other goroutines call Close, which cuts.
func (c *Conn) CloseOwned() error {
	if cn, ok := c.nc.(closeNotifier); ok && !c.closed.Load() && !c.handedOff.Load() {
		c.LockWrite()
		cn.CloseNotify()
		c.UnlockWrite()
	}
	return c.Close()
}

// CloseAlso ties other to c: closing c closes other too. A proxy ties its
// upstream connection to the client's so that whoever cuts the client (a
// drain past its deadline) ends the exchange, even while nothing reads the
// client.
func (c *Conn) CloseAlso(other *Conn) { c.also.Store(other) }

// Closed reports whether Close was called.
func (c *Conn) Closed() bool { return c.closed.Load() }

// FreeBuffer returns the read buffer to the pool; call only from the reading
// goroutine once it no longer reads.
func (c *Conn) FreeBuffer() {
	if c.bb != nil {
		c.putBuffer()
	}
}
