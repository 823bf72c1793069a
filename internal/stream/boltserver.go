package stream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// BoltOptions tune a downstream Bolt connection.
type BoltOptions struct {
	MaxFrameSize int           // default bolt.DefaultMaxFrameSize
	IdleTimeout  time.Duration // default 90s: Bolt clients heartbeat every 15-30s
	// ReadTimeout bounds reading one frame, from its first bytes; default
	// 30s. Without it a client could hold a connection (and a drain) for
	// ever with a frame trickled a byte at a time.
	ReadTimeout time.Duration
	// SendTimeout bounds how long answers may wait for a client that does
	// not read them; then the connection closes. Default 60s.
	SendTimeout time.Duration
	// MaxQueued bounds the answers waiting for such a client, in bytes
	// (default 4 MiB; an answer arriving at an empty queue always fits).
	// Past it the connection closes.
	MaxQueued int
	Logger    *slog.Logger
	// LogLimit rate-limits the lines malformed input logs, by reason;
	// share one per listener. nil logs every one.
	LogLimit *lograte.Limiter
}

func (o *BoltOptions) withDefaults() BoltOptions {
	v := *o
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	if v.MaxFrameSize <= 0 {
		v.MaxFrameSize = bolt.DefaultMaxFrameSize
	}
	if v.IdleTimeout <= 0 {
		v.IdleTimeout = 90 * time.Second
	}
	if v.ReadTimeout <= 0 {
		v.ReadTimeout = 30 * time.Second
	}
	if v.SendTimeout <= 0 {
		v.SendTimeout = 60 * time.Second
	}
	if v.MaxQueued <= 0 {
		v.MaxQueued = 4 << 20
	}
	return v
}

// BoltHandler receives each request frame of a downstream connection, in
// its reader (a goroutine, or a task of an event loop). The views of frame and raw (its
// encoded bytes) are valid only during the call: forwarding copies raw into
// the upstream write.
type BoltHandler interface {
	ServeBolt(d *BoltDownstream, frame bolt.Frame, raw []byte)
}

// BoltDownstream is a downstream Bolt connection: many requests in flight,
// responses written back in whatever order upstreams answer. Answers are
// written by whoever has them (often the reader of an upstream connection
// that many downstream connections share), so writing one must never wait
// for this client: what its socket does not take at once is queued, and a
// flusher of this connection writes the queue.
type BoltDownstream struct {
	Conn *network.Conn

	opts BoltOptions // with defaults filled in
	log  *slog.Logger
	// Under the connection's write lock:
	wbuf    []byte        // an error answer being encoded
	queue   []byte        // answers waiting for the socket, in order
	writing int           // bytes the flusher is writing now, taken from queue
	spare   []byte        // the flusher's last buffer, for reuse
	flusher *network.Task // the flusher while one runs
	err     error         // the connection failed; answers are dropped
	// gathered: on an event loop, the answers of the loop's pass wait in
	// queue for gatherFn (writeGathered, bound once), run after the pass.
	gathered bool
	gatherFn func()
	// inflight counts requests sent upstream and not yet answered, so the
	// connection closes only when they are done (drain) and upstream
	// readers never write to a conn the listener reused.
	inflight *network.InFlight
	// The reader's own:
	h    BoltHandler
	wake func() // resume, for ParkIdle (made once)
}

// errSlowClient closes a connection whose client leaves its answers unread.
var errSlowClient = errors.New("bolt: client does not read its answers")

// Begin marks a request in flight; every Begin is matched by one End, once
// its response is written (or when it has none).
func (d *BoltDownstream) Begin() { d.inflight.Add() }

// End marks a request finished without a response (one-way).
func (d *BoltDownstream) End() { d.inflight.Done() }

// WriteFrame writes (or queues) an encoded response.
func (d *BoltDownstream) WriteFrame(raw []byte) error {
	d.Conn.LockWrite()
	defer d.Conn.UnlockWrite()
	return d.send(raw)
}

// WriteResponse writes raw with its request id replaced by id, for a
// response coming back from an upstream connection where ids were rewritten.
// raw is modified in place.
func (d *BoltDownstream) WriteResponse(raw []byte, id uint32) error {
	bolt.PutRequestID(raw, id)
	return d.WriteFrame(raw)
}

// WriteError answers request id with an empty response of the given status.
func (d *BoltDownstream) WriteError(id uint32, codec byte, status uint16) error {
	d.Conn.LockWrite()
	defer d.Conn.UnlockWrite()
	d.wbuf = bolt.AppendErrorResponse(d.wbuf[:0], id, codec, status)
	return d.send(d.wbuf)
}

// send writes b if nothing is queued and the socket takes it, and queues
// what is left; the write lock is held. On an event loop a small answer,
// with more answers due, waits for the end of the loop's pass
// (network.Conn.AfterPass): the answers that one upstream read brings for
// this client leave in one write instead of one each.
func (d *BoltDownstream) send(b []byte) error {
	if d.err != nil {
		return d.err
	}
	if d.flusher == nil && !d.gathered && len(d.queue) == 0 {
		// Gathering pays when more answers are due: the last one goes now
		// (and an idle connection's queue stays let go).
		if len(b) <= maxGathered && d.inflight.Pending() > 1 {
			if d.gatherFn == nil {
				d.gatherFn = d.writeGathered
			}
			if d.Conn.AfterPass(d.gatherFn) {
				d.gathered = true
				d.queue = append(d.queue, b...)
				return nil
			}
		}
		n, err := d.Conn.TryWrite(b)
		if err != nil {
			d.fail(err)
			return err
		}
		if b = b[n:]; len(b) == 0 {
			return nil
		}
	}
	if queued := d.writing + len(d.queue); queued > 0 && queued+len(b) > d.opts.MaxQueued {
		d.log.Info("bolt: client leaves its answers unread, closing connection", "remote", d.Conn.RemoteAddr().String(), "queued", queued)
		d.fail(errSlowClient)
		return errSlowClient
	}
	d.queue = append(d.queue, b...)
	if d.flusher == nil && (!d.gathered || len(d.queue) > maxGathered) {
		d.writeQueue()
	}
	return nil
}

// maxGathered bounds the answers kept for the end of a pass: more are
// written at once.
const maxGathered = 64 << 10

// writeQueue writes what the queue holds as far as the socket takes it and
// leaves the rest to a flusher; the write lock is held and no flusher runs.
func (d *BoltDownstream) writeQueue() {
	n, err := d.Conn.TryWrite(d.queue)
	if err != nil {
		d.fail(err)
		return
	}
	d.queue = d.queue[:copy(d.queue, d.queue[n:])]
	if len(d.queue) > 0 {
		d.flusher = d.Conn.Go(d.flush)
	}
}

// writeGathered writes the answers gathered during a pass.
func (d *BoltDownstream) writeGathered() {
	d.Conn.LockWrite()
	d.gathered = false
	if d.err == nil && d.flusher == nil && len(d.queue) > 0 {
		d.writeQueue()
	}
	d.Conn.UnlockWrite()
}

// fail drops what is queued and closes the connection: the reader sees it
// closed, and a flusher's write fails.
func (d *BoltDownstream) fail(err error) {
	d.err = err
	d.queue = nil
	d.Conn.Close()
}

// flush writes the queue until it is empty. Writers queue behind it
// meanwhile, so order is kept.
func (d *BoltDownstream) flush() {
	for {
		d.Conn.LockWrite()
		batch := d.queue
		if len(batch) == 0 || d.err != nil {
			d.flusher = nil
			d.Conn.UnlockWrite()
			return
		}
		d.queue, d.writing = d.spare[:0], len(batch)
		d.Conn.UnlockWrite()

		_, err := d.Conn.Write(batch) // within the connection's send timeout

		d.Conn.LockWrite()
		d.writing = 0
		if cap(batch) <= 1<<20 {
			d.spare = batch[:0]
		}
		if err != nil && d.err == nil {
			d.log.Info("bolt: writing queued answers failed, closing connection", "remote", d.Conn.RemoteAddr().String(), "err", err)
			d.fail(err)
		}
		d.Conn.UnlockWrite()
	}
}

// settle waits until every request in flight is answered and the answers
// are written; it reports whether the connection failed instead.
func (d *BoltDownstream) settle() (failed bool) {
	d.inflight.Wait()
	d.Conn.LockWrite()
	if d.gathered && d.err == nil && d.flusher == nil && len(d.queue) > 0 {
		d.writeQueue() // now: the socket may close before the pass ends
	}
	f := d.flusher
	d.Conn.UnlockWrite()
	if f != nil {
		f.Wait()
	}
	d.Conn.LockWrite()
	defer d.Conn.UnlockWrite()
	return d.err != nil
}

// Reasons of the lines bad downstream input logs, each rate-limited apart.
const (
	reasonCutFrame  = "connection closed inside a frame"
	reasonSlowFrame = "frame not complete within read_timeout"
	reasonMalformed = "malformed frame"
	reasonResponse  = "unexpected response frame from downstream"
)

// ServeBolt runs the frame loop of a downstream Bolt connection. Malformed
// frames close the connection with a logged reason. Between frames, with
// nothing buffered, the reader gives up its task on an event loop
// (network.Conn.ParkIdle): answers still in flight are written by the
// upstream readers meanwhile, and the function may return while the
// connection lives on.
func ServeBolt(ctx context.Context, c *network.Conn, h BoltHandler, opts *BoltOptions) {
	d := &BoltDownstream{Conn: c, opts: opts.withDefaults(), inflight: network.NewInFlight(c), h: h}
	c.SetSendTimeout(d.opts.SendTimeout) // bounds the flusher's waits
	// A whole frame must fit the read buffer: Decode reads it in place.
	c.SetMaxBuffer(d.opts.MaxFrameSize)
	d.log = d.opts.Logger
	d.serve(false)
}

// resume continues a connection parked between frames.
func (d *BoltDownstream) resume() { d.serve(true) }

// serve is the frame loop; resumed means the connection was parked idle
// and is woken: it reads before anything else.
func (d *BoltDownstream) serve(resumed bool) {
	c, h := d.Conn, d.h
	log, limit, maxFrame, idle, readTimeout := d.log, d.opts.LogLimit, d.opts.MaxFrameSize, d.opts.IdleTimeout, d.opts.ReadTimeout
	// Answers still on their way must not hit a closed connection
	// unnoticed: wait (bounded by upstream and write timeouts) before the
	// listener closes the socket.
	parked := false
	defer func() {
		if !parked {
			d.settle()
		}
	}()
	var f bolt.Frame
	// inFrame is set while the read deadline is the one of a frame split
	// over reads: set once at its first bytes, not moved by later ones.
	inFrame := false
	for {
		buf := c.Buffered()
		var n int
		err := bolt.ErrNeedMore
		if !resumed {
			f.Reset()
			n, err = bolt.Decode(buf, &f, maxFrame)
		}
		if errors.Is(err, bolt.ErrNeedMore) {
			switch {
			case resumed:
			case len(buf) == 0:
				// The deadline goes before the idle mark: a drain that finds
				// the connection idle kicks it with a past deadline, which
				// must not be overwritten afterwards.
				c.ExtendReadDeadline(time.Now().Add(idle), time.Second)
				inFrame = false
				c.Release()
				if !c.SetIdle(true) {
					handoffBolt(d)
					return
				}
				d.trim()
				if d.wake == nil {
					d.wake = d.resume
				}
				if c.ParkIdle(d.wake) {
					parked = true
					return
				}
			case !inFrame:
				// Only a frame split over reads pays for this deadline.
				c.SetReadDeadline(time.Now().Add(readTimeout))
				inFrame = true
			}
			resumed = false
			ferr := c.Fill()
			c.SetIdle(false)
			if ferr != nil && c.Draining() && len(buf) == 0 && errors.Is(ferr, os.ErrDeadlineExceeded) && handoffBolt(d) {
				return
			}
			if ferr != nil {
				switch {
				case len(buf) == 0 || c.Draining():
					logReadError(log, c, ferr)
				case errors.Is(ferr, os.ErrDeadlineExceeded):
					if ok, suppressed := limit.Allow(reasonSlowFrame); ok {
						log.Info("bolt: "+reasonSlowFrame+", closing connection", "remote", c.RemoteAddr().String(), "buffered", len(buf),
							"read_timeout", readTimeout, "suppressed", suppressed)
					}
				default:
					if ok, suppressed := limit.Allow(reasonCutFrame); ok {
						log.Info("bolt: "+reasonCutFrame, "remote", c.RemoteAddr().String(), "buffered", len(buf), "err", ferr,
							"suppressed", suppressed)
					}
				}
				return
			}
			continue
		}
		inFrame = false
		if err != nil {
			// The decoder's message carries numbers (codes, sizes): one
			// reason for them all keeps the limiter's reasons few.
			if ok, suppressed := limit.Allow(reasonMalformed); ok {
				log.Info("bolt: "+reasonMalformed+", closing connection", "remote", c.RemoteAddr().String(), "err", err, "suppressed", suppressed)
			}
			return
		}
		raw := buf[:n]
		switch {
		case f.IsHeartbeat() && f.IsRequest():
			d.writeHeartbeat(f.RequestID, f.Codec)
		case f.IsRequest():
			h.ServeBolt(d, f, raw) // by value: a pointer would make f escape, an allocation per wake
		default:
			if ok, suppressed := limit.Allow(reasonResponse); ok {
				log.Info("bolt: "+reasonResponse+", dropped", "remote", c.RemoteAddr().String(), "request_id", f.RequestID, "suppressed", suppressed)
			}
		}
		c.Discard(n)
		if c.Draining() {
			handoffBolt(d)
			return
		}
	}
}

// writeHeartbeat answers a heartbeat.
func (d *BoltDownstream) writeHeartbeat(id uint32, codec byte) {
	d.Conn.LockWrite()
	defer d.Conn.UnlockWrite()
	d.wbuf = bolt.AppendHeartbeatResponse(d.wbuf[:0], id, codec)
	d.send(d.wbuf)
}

// trim lets an idle connection's buffers go, unless answers are being
// written: it keeps only what every connection has.
func (d *BoltDownstream) trim() {
	d.Conn.LockWrite()
	if d.flusher == nil && len(d.queue) == 0 {
		d.queue, d.spare = nil, nil
	}
	if cap(d.wbuf) > 256 {
		d.wbuf = nil
	}
	d.Conn.UnlockWrite()
}

// handoffBolt passes a draining connection to the upgraded process between
// frames: no new frame is read, the answers in flight are written first,
// then the socket goes over with whatever bytes of later frames were read.
func handoffBolt(d *BoltDownstream) bool {
	if !d.Conn.CanHandoff() {
		return false
	}
	if d.settle() {
		return false
	}
	return d.Conn.Handoff(protocol.Bolt)
}
