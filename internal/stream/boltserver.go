package stream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// BoltOptions tune a downstream Bolt connection.
type BoltOptions struct {
	MaxFrameSize int           // default bolt.DefaultMaxFrameSize
	IdleTimeout  time.Duration // default 90s: Bolt clients heartbeat every 15-30s
	Logger       *slog.Logger
}

// BoltHandler receives each request frame of a downstream connection, in
// its reader (a goroutine, or a task of an event loop). frame and raw (its
// encoded bytes) are valid only during the call: forwarding copies raw into
// the upstream write.
type BoltHandler interface {
	ServeBolt(d *BoltDownstream, frame *bolt.Frame, raw []byte)
}

// BoltDownstream is a downstream Bolt connection: many requests in flight,
// responses written back in whatever order upstreams answer. Writers take
// the connection's write lock, so responses never interleave.
type BoltDownstream struct {
	Conn *network.Conn

	wbuf []byte // under the write lock
	// inflight counts requests sent upstream and not yet answered, so the
	// connection closes only when they are done (drain) and upstream
	// readers never write to a conn the listener reused.
	inflight *network.InFlight
}

// Begin marks a request in flight; every Begin is matched by one End, once
// its response is written (or when it has none).
func (d *BoltDownstream) Begin() { d.inflight.Add() }

// End marks a request finished without a response (one-way).
func (d *BoltDownstream) End() { d.inflight.Done() }

// WriteFrame writes an encoded response.
func (d *BoltDownstream) WriteFrame(raw []byte) error {
	d.Conn.LockWrite()
	_, err := d.Conn.Write(raw)
	d.Conn.UnlockWrite()
	return err
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
	d.wbuf = bolt.AppendErrorResponse(d.wbuf[:0], id, codec, status)
	_, err := d.Conn.Write(d.wbuf)
	d.Conn.UnlockWrite()
	return err
}

// ServeBolt runs the frame loop of a downstream Bolt connection. Malformed
// frames close the connection with a logged reason.
func ServeBolt(ctx context.Context, c *network.Conn, h BoltHandler, opts *BoltOptions) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	maxFrame := opts.MaxFrameSize
	if maxFrame <= 0 {
		maxFrame = bolt.DefaultMaxFrameSize
	}
	idle := opts.IdleTimeout
	if idle <= 0 {
		idle = 90 * time.Second
	}
	d := &BoltDownstream{Conn: c, inflight: network.NewInFlight(c)}
	defer func() {
		// Answers still on their way must not hit a closed connection
		// unnoticed: wait (bounded by upstream timeouts) before the listener
		// closes the socket.
		d.inflight.Wait()
	}()
	var f bolt.Frame
	var hb []byte // heartbeat answers, written by this reader only
	for {
		buf := c.Buffered()
		f.Reset()
		n, err := bolt.Decode(buf, &f, maxFrame)
		if errors.Is(err, bolt.ErrNeedMore) {
			// The deadline goes before the idle mark: a drain that finds the
			// connection idle kicks it with a past deadline, which must not
			// be overwritten afterwards.
			c.SetReadDeadline(time.Now().Add(idle))
			if len(buf) == 0 {
				c.Release()
				if !c.SetIdle(true) {
					handoffBolt(d)
					return
				}
			}
			ferr := c.Fill()
			c.SetIdle(false)
			if ferr != nil && c.Draining() && len(buf) == 0 && errors.Is(ferr, os.ErrDeadlineExceeded) && handoffBolt(d) {
				return
			}
			if ferr != nil {
				if len(buf) > 0 && !c.Draining() {
					log.Info("bolt: connection closed inside a frame", "remote", c.RemoteAddr().String(), "buffered", len(buf), "err", ferr)
				} else {
					logReadError(log, c, ferr)
				}
				return
			}
			continue
		}
		if err != nil {
			log.Info("bolt: malformed frame, closing connection", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		raw := buf[:n]
		switch {
		case f.IsHeartbeat() && f.IsRequest():
			hb = bolt.AppendHeartbeatResponse(hb[:0], f.RequestID, f.Codec)
			d.WriteFrame(hb)
		case f.IsRequest():
			h.ServeBolt(d, &f, raw)
		default:
			log.Info("bolt: unexpected response frame from downstream, dropped", "remote", c.RemoteAddr().String(), "request_id", f.RequestID)
		}
		c.Discard(n)
		if c.Draining() {
			handoffBolt(d)
			return
		}
	}
}

// handoffBolt passes a draining connection to the upgraded process between
// frames: no new frame is read, the answers in flight are written first,
// then the socket goes over with whatever bytes of later frames were read.
func handoffBolt(d *BoltDownstream) bool {
	if !d.Conn.CanHandoff() {
		return false
	}
	d.inflight.Wait()
	return d.Conn.Handoff(protocol.Bolt)
}
