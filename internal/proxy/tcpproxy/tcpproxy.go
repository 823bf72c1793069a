// Package tcpproxy is the L4 network filter: it forwards a downstream
// connection's bytes to a host of a cluster and back, passing half-closes
// through. It imports network and upstream only.
package tcpproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/stream"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// Proxy forwards connections to one cluster.
type Proxy struct {
	Cluster            *upstream.Cluster
	IdleTimeout        time.Duration // no bytes either way for this long closes both sides; 0: none
	MaxConnectAttempts int           // default 1
	Counters           *network.Counters
	Log                *slog.Logger // carries the listener key (log.With)
}

// ServeConn forwards c until both directions are closed.
func (p *Proxy) ServeConn(ctx context.Context, c *network.Conn) {
	pr := &pair{p: p, down: c, pending: 2}
	pr.tries.Reset(p.Cluster, p.MaxConnectAttempts, nil)
	var up *network.Conn
	for up == nil && pr.tries.Next() {
		// The host's and the cluster's connection limits count tcp_proxy
		// connections as they count the pools'.
		limit := p.limit(pr.tries.Host)
		if !limit.Acquire() {
			pr.tries.Overflowed()
			p.Log.Info("tcp_proxy: upstream connection limit reached", "cluster", p.Cluster.Name, "host", pr.tries.Host.Address)
			continue
		}
		var err error
		up, err = network.DialFrom(ctx, c.Loop(), pr.tries.Host.Address, p.Cluster.ConnectTimeout, p.Counters, 0)
		if hs := p.Cluster.TLS.HandshakeFunc(pr.tries.Host.TLSDisable, p.Log); err == nil && hs != nil {
			if err = hs(ctx, up); err != nil {
				up.Close()
				up = nil
			}
		}
		if err != nil {
			limit.Release()
			pr.tries.ConnectFailed()
			p.Log.Info("tcp_proxy: upstream connect failed", "cluster", p.Cluster.Name, "host", pr.tries.Host.Address, "err", err)
			continue
		}
	}
	if up == nil {
		if pr.tries.Host == nil {
			p.Log.Info("tcp_proxy: no healthy upstream", "cluster", p.Cluster.Name)
		}
		return
	}
	// A drain that cuts the client cuts the upstream too: after the
	// client's half-close nothing reads the client, and the upstream may
	// never close its side.
	c.CloseAlso(up)
	pr.up = up
	pr.tries.Started()
	pr.last.Store(time.Now().UnixNano())
	pr.fwd = direction{pr: pr, src: c, dst: up}
	pr.back = direction{pr: pr, src: up, dst: c}
	if pr.detached = c.Detach(); pr.detached {
		// On an event loop (the upstream socket, DialFrom, is the loop's
		// too) each direction is a task that gives itself up while its
		// source is silent: a quiet pair holds no task. The last direction
		// to end ends the pair.
		pr.fwd.wake, pr.back.wake = pr.fwd.run, pr.back.run
		c.Go(pr.back.run)
		pr.fwd.run()
		return
	}
	back := c.Go(pr.back.run) // upstream -> downstream, with its own buffer
	pr.fwd.run()
	back.Wait()
	pr.finish()
}

// limit is the connection limit of h and of the cluster.
func (p *Proxy) limit(h *upstream.Host) stream.ConnLimit {
	return stream.ConnLimit{Open: &h.OpenConnections, Max: int64(p.Cluster.MaxConnections), Cluster: p.Cluster.Resources}
}

// pair is a forwarded connection: the downstream one and its upstream.
type pair struct {
	p         *Proxy
	tries     upstream.Tries // its host, counted
	down, up  *network.Conn
	fwd, back direction
	last      atomic.Int64 // unix ns of the latest bytes either way
	detached  bool         // on an event loop: the directions end the pair
	pending   int          // directions not done (event loop: their tasks run one at a time)
}

// done ends a direction of a detached pair; the last one ends the pair.
func (pr *pair) done() {
	if pr.pending--; pr.pending == 0 {
		pr.finish()
		pr.down.Finish()
	}
}

func (pr *pair) finish() {
	pr.up.Close()
	pr.up.FreeBuffer()
	pr.p.limit(pr.tries.Host).Release()
	pr.tries.Ended()
}

// direction copies src to dst until src says EOF, then half-closes dst so
// the other side sees the end while the reverse direction keeps flowing.
// On an error both sides close, and so they do when no bytes moved either
// way for the idle timeout: a long one-way transfer keeps the quiet
// direction open.
type direction struct {
	pr       *pair
	src, dst *network.Conn
	wake     func() // run, when the source is parked (event loop)
	ended    bool
}

// run copies until the direction ends, or until its source is silent on an
// event loop: then it parks the source and returns, and the loop runs it
// again when bytes arrive, the idle deadline passes or the socket closes.
func (d *direction) run() {
	p, src, dst := d.pr.p, d.src, d.dst
	defer func() {
		if r := recover(); r != nil { // a resumed task has no handler to recover it
			p.Log.Error("tcp_proxy: panic", "panic", r)
			src.Close()
			dst.Close()
			d.end()
		}
	}()
	if d.ended {
		return
	}
	for {
		if p.IdleTimeout > 0 {
			src.SetReadDeadline(time.Unix(0, d.pr.last.Load()).Add(p.IdleTimeout))
		}
		if d.wake != nil && src.ParkRead(d.wake) {
			return
		}
		err := src.Fill()
		if errors.Is(err, os.ErrDeadlineExceeded) && p.IdleTimeout > 0 && time.Since(time.Unix(0, d.pr.last.Load())) < p.IdleTimeout {
			continue // the other direction moved bytes meanwhile
		}
		if b := src.Buffered(); len(b) > 0 {
			if p.IdleTimeout > 0 {
				d.pr.last.Store(time.Now().UnixNano())
			}
			if _, werr := dst.Write(b); werr != nil {
				src.Close()
				dst.Close()
				d.end()
				return
			}
			src.Discard(len(b))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				dst.CloseWrite()
			} else {
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
					p.Log.Debug("tcp_proxy: read failed", "err", err)
				}
				src.Close()
				dst.Close()
			}
			d.end()
			return
		}
		src.Release()
	}
}

func (d *direction) end() {
	if d.ended {
		return
	}
	d.ended = true
	if d.pr.detached {
		d.pr.done() // otherwise ServeConn waits for both
	}
}
