package proxy

import (
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/stream"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// HTTP2 returns the HTTP/2 pool of host for a connection served by loop
// (nil: by its own goroutine): the host's multiplexed connections.
func (p *Pools) HTTP2(loop *network.Loop, c *upstream.Cluster, h *upstream.Host) *stream.H2Pool {
	hosts := &p.http2
	if loop != nil {
		hosts = &p.ofLoop(loop).http2
	}
	if v, ok := hosts.Load(h); ok {
		return v.(*stream.H2Pool)
	}
	pool := stream.NewH2Pool(h.Address, stream.H2PoolOptions{
		Loop:           loop,
		ConnectTimeout: c.ConnectTimeout,
		Counters:       p.ClusterCounters(c.Name),
		Log:            p.Log.With("cluster", c.Name),
		Limit:          connLimit(c, h),
		// The cluster's per-connection fields apply to streams here.
		MaxStreamsPerConn: c.MaxRequestPerConn,
		IdleTimeout:       c.IdleTimeout,
		Handshake:         c.TLS.H2HandshakeFunc(h.TLSDisable, p.Log), // nil: h2c
	})
	v, loaded := hosts.LoadOrStore(h, pool)
	if loaded {
		pool.Close()
	}
	return v.(*stream.H2Pool)
}

// retainHTTP2 closes the HTTP/2 pools of hosts not kept, once their streams
// had the drain timeout to finish.
func retainHTTP2(pools *sync.Map, keep map[*upstream.Host]bool, drain time.Duration) {
	pools.Range(func(k, v any) bool {
		if !keep[k.(*upstream.Host)] {
			pools.Delete(k)
			time.AfterFunc(drain, v.(*stream.H2Pool).Close)
		}
		return true
	})
}

// closeHTTP2 closes every HTTP/2 pool.
func closeHTTP2(pools *sync.Map) {
	pools.Range(func(_, v any) bool { v.(*stream.H2Pool).Close(); return true })
}
