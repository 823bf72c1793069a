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
	var tries upstream.Tries
	tries.Reset(p.Cluster, p.MaxConnectAttempts)
	var up *network.Conn
	for up == nil && tries.Next() {
		var err error
		up, err = network.DialFrom(ctx, c.Loop(), tries.Host.Address, p.Cluster.ConnectTimeout, p.Counters, 0)
		if err != nil {
			tries.ConnectFailed()
			p.Log.Info("tcp_proxy: upstream connect failed", "cluster", p.Cluster.Name, "host", tries.Host.Address, "err", err)
		}
	}
	if up == nil {
		if tries.Host == nil {
			p.Log.Info("tcp_proxy: no healthy upstream", "cluster", p.Cluster.Name)
		}
		return
	}
	defer func() { up.Close(); up.FreeBuffer() }()
	tries.Started()
	defer tries.Ended()

	// On an event loop the upstream socket (DialFrom) and this second
	// direction are the loop's too.
	var last atomic.Int64 // unix ns of the latest bytes either way
	last.Store(time.Now().UnixNano())
	back := c.Go(func() { p.pipe(up, c, &last) }) // upstream -> downstream, with its own buffer
	p.pipe(c, up, &last)
	back.Wait()
}

// pipe copies src to dst until src says EOF, then half-closes dst so the
// other side sees the end while the reverse direction keeps flowing. On an
// error both sides close, and so they do when no bytes moved either way for
// the idle timeout: a long one-way transfer keeps the quiet direction open.
func (p *Proxy) pipe(src, dst *network.Conn, last *atomic.Int64) {
	for {
		if p.IdleTimeout > 0 {
			src.SetReadDeadline(time.Unix(0, last.Load()).Add(p.IdleTimeout))
		}
		err := src.Fill()
		if errors.Is(err, os.ErrDeadlineExceeded) && p.IdleTimeout > 0 && time.Since(time.Unix(0, last.Load())) < p.IdleTimeout {
			continue // the other direction moved bytes meanwhile
		}
		if b := src.Buffered(); len(b) > 0 {
			if p.IdleTimeout > 0 {
				last.Store(time.Now().UnixNano())
			}
			if _, werr := dst.Write(b); werr != nil {
				src.Close()
				dst.Close()
				return
			}
			src.Discard(len(b))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				dst.CloseWrite()
				return
			}
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				p.Log.Debug("tcp_proxy: read failed", "err", err)
			}
			src.Close()
			dst.Close()
			return
		}
		src.Release()
	}
}
