package bench

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// newBoltProtocol serves bolt:// targets: SOFARPC Bolt v1 requests, built
// once from --service, --method and the payload (or taken from a capture),
// sent with a fresh request id per connection so that --streams of them
// can be in flight on one connection.
func newBoltProtocol(cfg *Config, t []target, reqs []Request) (protocol, error) {
	p := &boltProtocol{d: &dialer{addr: t[0].addr, timeout: cfg.Timeout}, streams: cfg.Streams}
	for i, r := range reqs {
		if r.Raw != nil {
			var f bolt.Frame
			if _, err := bolt.Decode(r.Raw, &f, 0); err != nil || !f.IsRequest() || f.IsOneway() {
				return nil, usageErrorf("replayed request %d is not a Bolt request", i+1)
			}
			p.frames = append(p.frames, r.Raw)
			continue
		}
		if cfg.Service == "" || cfg.RPCMethod == "" {
			return nil, usageErrorf("bolt: --service and --method are required")
		}
		var hdr []byte
		hdr = bolt.AppendHeader(hdr, bolt.HeaderService, cfg.Service)
		hdr = bolt.AppendHeader(hdr, bolt.HeaderMethod, cfg.RPCMethod)
		for _, h := range r.Headers {
			hdr = bolt.AppendHeader(hdr, h[0], h[1])
		}
		f := bolt.Frame{
			Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: bolt.CommandVersion,
			Codec: bolt.CodecHessian2, Timeout: uint32(cfg.Timeout / time.Millisecond),
			Class: []byte(bolt.ClassRequest), Header: hdr, Content: r.Body,
		}
		if err := f.Validate(); err != nil {
			return nil, usageErrorf("bolt: %v", err)
		}
		p.frames = append(p.frames, bolt.AppendFrame(nil, &f))
	}
	return p, nil
}

type boltProtocol struct {
	d       *dialer
	frames  [][]byte
	streams int
}

func (p *boltProtocol) dial(ctx context.Context) (clientConn, error) {
	nc, err := p.d.dial(ctx)
	if err != nil {
		return nil, err
	}
	return &boltConn{p: p, nc: nc, rb: newReadBuf(64 << 10), nextID: 1}, nil
}

// boltConn is one Bolt connection; responses are matched by request id.
type boltConn struct {
	p      *boltProtocol
	nc     net.Conn
	rb     readBuf
	wb     appendWriter
	nextID uint32
	frame  bolt.Frame
}

func (c *boltConn) send(req int) (uint32, error) {
	id := c.nextID
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	start := len(c.wb.b)
	c.wb.b = append(c.wb.b, c.p.frames[req]...)
	bolt.PutRequestID(c.wb.b[start:], id)
	return id, nil
}

func (c *boltConn) recv(res *response) error {
	rb := &c.rb
	for {
		n, err := bolt.Decode(rb.buffered(), &c.frame, 0)
		if err == nil {
			rb.r += n
			f := &c.frame
			if f.Type != bolt.TypeResponse || f.IsHeartbeat() {
				continue // not an answer to one of ours
			}
			res.id, res.status, res.bytes = f.RequestID, int(f.Status), int64(n)
			res.fail = errNone
			if f.Status != bolt.StatusSuccess {
				res.fail = errStatusOther
			}
			return nil
		}
		if !errors.Is(err, bolt.ErrNeedMore) {
			return &protoError{err.Error()}
		}
		// A frame larger than the buffer gets a buffer of its size.
		if total, err := bolt.FrameLen(rb.buffered(), 0); err == nil && total > len(rb.b) {
			nb := make([]byte, total)
			rb.w = copy(nb, rb.buffered())
			rb.r, rb.b = 0, nb
		}
		if _, err := rb.fill(c.nc); err != nil {
			return err
		}
	}
}

func (c *boltConn) flush() error                      { return writeAll(c.nc, &c.wb) }
func (c *boltConn) setReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }
func (c *boltConn) maxStreams() int                   { return c.p.streams }
func (c *boltConn) usable() bool                      { return true }
func (c *boltConn) abandon(uint32) bool               { return true } // a late answer is ignored by id
func (c *boltConn) close()                            { c.nc.Close() }

func (c *boltConn) conn() *net.Conn { return &c.nc }

// pending reports whether a whole frame is already buffered (see h2Conn).
func (c *boltConn) pending() bool {
	n, err := bolt.FrameLen(c.rb.buffered(), 0)
	return err == nil && len(c.rb.buffered()) >= n
}
