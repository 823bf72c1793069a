package proxy

import (
	"log/slog"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/stream"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// Pools holds the upstream connection pools of every host, per protocol,
// shared by all listeners so upstream connections are reused across them.
type Pools struct {
	Log *slog.Logger
	// Counters aggregate upstream connection and byte totals per cluster.
	countersMu sync.Mutex
	counters   map[string]*network.Counters

	http1 sync.Map // *upstream.Host -> *stream.HTTP1Pool
	bolt  sync.Map // *upstream.Host -> *stream.BoltPool
	http2 sync.Map // *upstream.Host -> *stream.H2Pool
	// loops holds the pools of each event loop (netpoll IO model): a loop's
	// upstream sockets belong to it, so loops don't share pools.
	loops sync.Map // *network.Loop -> *loopPools
}

// loopPools are one event loop's pools. Only that loop's tasks add to them,
// one at a time: there is no race to lose.
type loopPools struct {
	http1 sync.Map // *upstream.Host -> *stream.HTTP1Pool
	bolt  sync.Map // *upstream.Host -> *stream.BoltPool
	http2 sync.Map // *upstream.Host -> *stream.H2Pool
}

func (p *Pools) ofLoop(loop *network.Loop) *loopPools {
	v, ok := p.loops.Load(loop)
	if !ok {
		v, _ = p.loops.LoadOrStore(loop, new(loopPools))
	}
	return v.(*loopPools)
}

// NewPools makes an empty set of pools.
func NewPools(log *slog.Logger) *Pools {
	if log == nil {
		log = slog.Default()
	}
	return &Pools{Log: log, counters: make(map[string]*network.Counters)}
}

// ClusterCounters returns the upstream counters of a cluster.
func (p *Pools) ClusterCounters(cluster string) *network.Counters {
	p.countersMu.Lock()
	defer p.countersMu.Unlock()
	c := p.counters[cluster]
	if c == nil {
		c = &network.Counters{}
		p.counters[cluster] = c
	}
	return c
}

// connLimit is the cap on h's connections, shared by all its pools.
func connLimit(c *upstream.Cluster, h *upstream.Host) stream.ConnLimit {
	return stream.ConnLimit{Open: &h.OpenConnections, Max: int64(c.MaxConnections), Cluster: c.Resources}
}

// HTTP1 returns the HTTP/1 pool of host for a connection served by loop
// (nil: by its own goroutine).
func (p *Pools) HTTP1(loop *network.Loop, c *upstream.Cluster, h *upstream.Host) *stream.HTTP1Pool {
	if loop != nil {
		return p.loopHTTP1(loop, c, h)
	}
	if v, ok := p.http1.Load(h); ok {
		return v.(*stream.HTTP1Pool)
	}
	pool := p.newHTTP1Pool(nil, c, h)
	v, loaded := p.http1.LoadOrStore(h, pool)
	if loaded {
		pool.Close()
	}
	return v.(*stream.HTTP1Pool)
}

func (p *Pools) newHTTP1Pool(loop *network.Loop, c *upstream.Cluster, h *upstream.Host) *stream.HTTP1Pool {
	return stream.NewHTTP1Pool(h.Address, stream.HTTP1PoolOptions{
		ConnectTimeout:     c.ConnectTimeout,
		IdleTimeout:        c.IdleTimeout,
		MaxRequestsPerConn: c.MaxRequestPerConn,
		Limit:              connLimit(c, h),
		Counters:           p.ClusterCounters(c.Name),
		Loop:               loop,
		ProtocolErrors:     &h.ProtocolErrors,
		Log:                p.Log.With("cluster", c.Name),
		Handshake:          c.TLS.HandshakeFunc(h.TLSDisable, p.Log), // nil: plaintext
	})
}

func (p *Pools) loopHTTP1(loop *network.Loop, c *upstream.Cluster, h *upstream.Host) *stream.HTTP1Pool {
	hosts := &p.ofLoop(loop).http1
	if pool, ok := hosts.Load(h); ok {
		return pool.(*stream.HTTP1Pool)
	}
	pool := p.newHTTP1Pool(loop, c, h)
	hosts.Store(h, pool)
	return pool
}

// Bolt returns the Bolt pool of host for a connection served by loop (nil:
// by its own goroutine).
func (p *Pools) Bolt(loop *network.Loop, c *upstream.Cluster, h *upstream.Host) *stream.BoltPool {
	hosts := &p.bolt
	if loop != nil {
		hosts = &p.ofLoop(loop).bolt
	}
	if v, ok := hosts.Load(h); ok {
		return v.(*stream.BoltPool)
	}
	pool := stream.NewBoltPool(h.Address, stream.BoltPoolOptions{
		Loop:           loop,
		ConnectTimeout: c.ConnectTimeout,
		Counters:       p.ClusterCounters(c.Name),
		Log:            p.Log,
		Limit:          connLimit(c, h),
		Handshake:      c.TLS.HandshakeFunc(h.TLSDisable, p.Log), // nil: plaintext
	})
	v, loaded := hosts.LoadOrStore(h, pool)
	if loaded {
		pool.Close()
	}
	return v.(*stream.BoltPool)
}

// Retain closes the pools of hosts that clusters no longer has (after a
// reload): HTTP/1 pools at once (a connection in use closes when its
// request ends), Bolt pools, whose connections carry many requests, once
// the requests still on them had the drain timeout to finish.
func (p *Pools) Retain(clusters *upstream.Manager, drain time.Duration) {
	keep := make(map[*upstream.Host]bool)
	for _, c := range clusters.Clusters() {
		for _, h := range c.Hosts {
			keep[h] = true
		}
	}
	retain := func(http1, bolt *sync.Map) {
		http1.Range(func(k, v any) bool {
			if !keep[k.(*upstream.Host)] {
				http1.Delete(k)
				v.(*stream.HTTP1Pool).Close()
			}
			return true
		})
		bolt.Range(func(k, v any) bool {
			if !keep[k.(*upstream.Host)] {
				bolt.Delete(k)
				time.AfterFunc(drain, v.(*stream.BoltPool).Close)
			}
			return true
		})
	}
	retain(&p.http1, &p.bolt)
	retainHTTP2(&p.http2, keep, drain)
	p.loops.Range(func(_, v any) bool {
		lp := v.(*loopPools)
		retain(&lp.http1, &lp.bolt)
		retainHTTP2(&lp.http2, keep, drain)
		return true
	})
}

// Close closes every pool's idle connections; those in use close when
// their request ends.
func (p *Pools) Close() { p.each((*stream.HTTP1Pool).Close) }

// Abort closes every pool with the connections in use, so requests still
// waiting for an upstream end at once (a drain out of time).
func (p *Pools) Abort() { p.each((*stream.HTTP1Pool).Abort) }

// each closes the Bolt pools (whose connections serve many requests, so
// closing is cutting) and applies closeHTTP1 to the HTTP/1 pools.
func (p *Pools) each(closeHTTP1 func(*stream.HTTP1Pool)) {
	closeAll := func(http1, bolt *sync.Map) {
		http1.Range(func(_, v any) bool { closeHTTP1(v.(*stream.HTTP1Pool)); return true })
		bolt.Range(func(_, v any) bool { v.(*stream.BoltPool).Close(); return true })
	}
	closeAll(&p.http1, &p.bolt)
	closeHTTP2(&p.http2)
	p.loops.Range(func(_, v any) bool {
		lp := v.(*loopPools)
		closeAll(&lp.http1, &lp.bolt)
		closeHTTP2(&lp.http2)
		return true
	})
}
