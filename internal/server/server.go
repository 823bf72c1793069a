// Package server wires a config snapshot into running parts: listeners with
// their protocol handlers, route tables, clusters and connection pools, the
// admin API; and starts, drains and stops them. It is the only package that
// knows every part.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosnctl/mosnctl/internal/admin"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/filter"
	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/metrics"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/proxy"
	"github.com/mosnctl/mosnctl/internal/proxy/tcpproxy"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/stream"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
	"github.com/mosnctl/mosnctl/internal/upstream"
	"github.com/mosnctl/mosnctl/internal/upstream/healthcheck"
)

// DefaultDrainTimeout bounds graceful shutdown when the config sets none.
const DefaultDrainTimeout = 30 * time.Second

// Options are process-level settings beside the config.
type Options struct {
	Logger   *slog.Logger
	LogLevel *slog.LevelVar // changed by the admin API; may be nil
	// AdminAddr overrides the config's admin address ("" keeps it; "off"
	// disables the admin API).
	AdminAddr string
	// NoStreamTracking turns off the list of streams in flight
	// (/api/v1/streams answers an empty list); for measuring its cost.
	NoStreamTracking bool
	// Inherit supplies listening sockets received from the process being
	// hot-upgraded: it is asked for every listener (and for the admin API,
	// as AdminListenerName) and returns nil when it has no socket for it,
	// which is then bound fresh.
	Inherit func(name, network, address string) net.Listener
	// DynamicDump, when set, is shown beside the running config in
	// /api/v1/config_dump as "dynamic" (the xDS client's state), and
	// Collectors are added to /metrics.
	DynamicDump func() any
	Collectors  []prometheus.Collector
}

// Server is a running proxy built from one config snapshot.
type Server struct {
	// mu guards cfg, lns and logs, which a reload replaces; the data path
	// never takes it (it reads routes and clusters through refs).
	mu       sync.RWMutex
	reloadMu sync.Mutex // one reload at a time
	reloads  struct{ ok, failed atomic.Uint64 }
	source   ConfigSource
	raw      any
	cfg      *config.Config
	log      *slog.Logger
	clusters clustersRef
	checks   *healthcheck.Checkers // active health checks of the clusters in use
	pools    *proxy.Pools
	loops    *network.LoopGroup   // event loops of netpoll listeners; nil if none
	streams  *proxy.StreamTracker // nil when tracking is off
	lns      []*runningListener
	admin    *admin.Server
	logs     []io.Closer // access logs, closed when the server stops
	started  time.Time
	ready    atomic.Bool
	draining atomic.Bool
	wg       sync.WaitGroup

	// certWatch reloads certificates when their files change (nil: no
	// TLS files).
	certMu    sync.Mutex
	certWatch *mosntls.Watcher

	// hot upgrade
	inherit   func(name, network, address string) net.Listener
	adminAddr string          // as configured
	ctx       context.Context // Start's, for connections handed over later

	dynamicDump func() any
}

// runningListener is a listener as one config built it. A reload builds
// every listener anew; one that stays keeps its socket, its slot (the
// handler new connections get), its route ref and its counters.
type runningListener struct {
	cfg      config.Listener
	protocol string
	filter   string
	ioModel  string // "goroutine" or "netpoll"
	ln       *network.Listener
	// stats: the request counters, one per protocol served (an Auto
	// listener counts HTTP/1, HTTP/2 and Bolt apart).
	stats   []*metrics.RequestStats
	handler network.Handler
	slot    *atomic.Pointer[runningListener] // the listener's current build
	routes  *routeRef                        // the route table its proxies read
	table   *router.Table                    // what routes gets when this build goes live
	logs    listenerLogs                     // access logs
	logRef  *logRef                          // the access logs its proxies write to
	// tls terminates TLS (nil: plaintext); it outlives reloads, and
	// activate gives it tlsState, this build's certificates.
	tls      *mosntls.Listener
	tlsState *mosntls.ServerState
	// byProtocol serves a connection handed over from an upgraded process
	// whose protocol is already known (no detection).
	byProtocol map[string]network.HandlerFunc
}

// New builds everything the config describes and binds every socket; it
// starts nothing. On error, whatever was opened is closed again.
func New(cfg *config.Config, opts Options) (_ *Server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, pools: proxy.NewPools(log), inherit: opts.Inherit, ctx: context.Background(),
		checks: healthcheck.New(log)}
	if !opts.NoStreamTracking {
		s.streams = new(proxy.StreamTracker)
	}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	clusters, err := upstream.NewManagerLog(cfg.ClusterManager.Clusters, log)
	if err != nil {
		return nil, fmt.Errorf("cluster_manager: %w", err)
	}
	s.clusters.p.Store(clusters)
	s.lns, err = s.buildListeners(cfg, clusters, nil)
	if err != nil {
		return nil, err
	}
	for _, rl := range s.lns {
		if err := s.open(rl); err != nil {
			return nil, err
		}
		s.activate(rl)
	}
	if err := s.startLoops(); err != nil {
		return nil, fmt.Errorf("netpoll IO model: %w", err)
	}
	s.watchCerts()
	adminAddr := cfg.AdminAddr()
	if opts.AdminAddr != "" {
		adminAddr = opts.AdminAddr
	}
	s.adminAddr = adminAddr
	if adminAddr != "off" {
		level := opts.LogLevel
		if level == nil {
			level = new(slog.LevelVar)
		}
		s.dynamicDump = opts.DynamicDump
		s.admin = admin.New(s, level, log, append([]prometheus.Collector{newCollector(s)}, opts.Collectors...)...)
		if ln := s.inherited(AdminListenerName, "tcp", adminAddr); ln != nil {
			s.admin.UseListener(ln)
		} else if err := s.admin.Listen(adminAddr); err != nil {
			return nil, fmt.Errorf("admin: listen %s: %w", adminAddr, err)
		}
	}
	return s, nil
}

// buildListeners builds every listener of cfg without opening anything
// but access logs. A listener that old (the running ones, on reload) has by
// name takes over its socket, slot, route ref and counters.
func (s *Server) buildListeners(cfg *config.Config, clusters *upstream.Manager, old map[string]*runningListener) (_ []*runningListener, err error) {
	var lns []*runningListener
	defer closeLogsOnError(&err, &lns)
	for si := range cfg.Servers {
		srv := &cfg.Servers[si]
		tables := map[string]*router.Table{}
		for ri := range srv.Routers {
			t, err := router.New(&srv.Routers[ri])
			if err != nil {
				return nil, fmt.Errorf("servers[%d].routers[%d]: %w", si, ri, err)
			}
			tables[srv.Routers[ri].RouterConfigName] = t
		}
		for li := range srv.Listeners {
			path := fmt.Sprintf("servers[%d].listeners[%d]", si, li)
			lc := &srv.Listeners[li]
			// netpoll by default where there are event loops; MOSN's switch
			// decides when given.
			netpollDefault := network.LoopSupported
			if srv.UseNetpollMode != nil {
				netpollDefault = *srv.UseNetpollMode
			}
			rl, err := s.buildListener(lc, path, tables, clusters, netpollDefault, old[lc.Name])
			if err != nil {
				return nil, err
			}
			lns = append(lns, rl)
		}
	}
	return lns, nil
}

// open binds a new listener's socket (or takes it from the process being
// upgraded) and makes its network listener, which hands each connection to
// the listener's current build.
func (s *Server) open(rl *runningListener) error {
	lc := &rl.cfg
	ln := s.inherited(lc.Name, lc.Network, lc.Address)
	if ln == nil {
		var err error
		if ln, err = network.Listen(lc.Network, lc.Address); err != nil {
			return fmt.Errorf("listener %q: address: %w", lc.Name, err)
		}
	}
	slot := rl.slot
	rl.ln = network.NewListener(lc.Name, ln, network.HandlerFunc(func(ctx context.Context, c *network.Conn) {
		slot.Load().handler.ServeConn(ctx, c)
	}), network.ListenerOptions{MaxConnections: lc.MaxConnections, Logger: s.log})
	return nil
}

// activate makes rl the build its listener serves: new connections get its
// handler, and every connection's proxy (old ones too) its route table.
// Call under s.mu.
func (s *Server) activate(rl *runningListener) {
	if rl.tls != nil {
		rl.tls.Use(rl.tlsState)
	}
	rl.routes.p.Store(rl.table)
	rl.logRef.p.Store(&loggerBox{rl.logs.logger()})
	rl.slot.Store(rl)
	s.logs = append(s.logs, rl.logs.opened...)
}

func (s *Server) buildListener(lc *config.Listener, path string, tables map[string]*router.Table, clusters *upstream.Manager, netpollDefault bool, old *runningListener) (_ *runningListener, err error) {
	if len(lc.FilterChains) == 0 || len(lc.FilterChains[0].Filters) == 0 {
		return nil, fmt.Errorf("%s.filter_chains: a listener needs one filter chain with a network filter", path)
	}
	f := lc.FilterChains[0].Filters[0]
	fpath := path + ".filter_chains[0].filters[0]"
	rl := &runningListener{cfg: *lc, filter: f.Type, slot: new(atomic.Pointer[runningListener]), routes: new(routeRef), logRef: new(logRef)}
	if old != nil {
		rl.slot, rl.routes, rl.logRef = old.slot, old.routes, old.logRef
	}
	rl.ioModel = "goroutine"
	if lc.IOModel == "netpoll" || (lc.IOModel == "" && netpollDefault) {
		if !network.LoopSupported {
			s.log.Warn("the netpoll IO model needs Linux; serving with a goroutine per connection", "listener", lc.Name)
		} else {
			rl.ioModel = "netpoll"
		}
	}
	if old != nil {
		if old.ioModel != rl.ioModel {
			return nil, fmt.Errorf("%s.io_model: a running listener keeps its IO model (%s): restart or hot-upgrade to change it", path, old.ioModel)
		}
		if old.cfg.Address != lc.Address || old.cfg.Network != lc.Network {
			return nil, fmt.Errorf("%s.address: a running listener keeps its address (%s): rename the listener to move it", path, old.cfg.Address)
		}
		rl.ln = old.ln
	}
	log := s.log.With("listener", lc.Name)
	// Lines bad input logs: at most one per reason a second per listener.
	logLimit := lograte.New(time.Second)
	if rl.logs, err = openListenerLogs(lc, path, old); err != nil {
		return nil, err
	}
	defer closeLogsOnError(&err, &[]*runningListener{rl})
	var accessLog proxy.AccessLogger // nil: the proxies skip what only a log needs
	if rl.logs.logger() != nil {
		accessLog = rl.logRef
	}
	filters, err := filter.Build(lc.StreamFilters, path)
	if err != nil {
		return nil, err
	}
	if !filters.Empty() && f.Type != config.FilterProxy {
		return nil, fmt.Errorf("%s.stream_filters: stream filters need a proxy network filter, not %s", path, f.Type)
	}
	var handler network.Handler
	switch f.Type {
	case config.FilterProxy:
		pc, err := config.DecodeProxy(f, fpath)
		if err != nil {
			return nil, err
		}
		rl.table = tables[pc.RouterConfigName]
		if rl.table == nil {
			return nil, fmt.Errorf("%s.config.router_config_name: no router config %q", fpath, pc.RouterConfigName)
		}
		down := pc.DownstreamProtocol // DecodeProxy resolved MOSN's "X" to its sub protocol
		up := pc.UpstreamProtocol
		if up == "" || up == config.ProtocolAuto || up == config.ProtocolX {
			up = down
		}
		if down != config.ProtocolAuto && up != down && !config.Convertible(down, up) {
			return nil, fmt.Errorf("%s.config.upstream_protocol: converting %s to %s is not supported yet", fpath, down, up)
		}
		rl.protocol = down
		protos := []string{down}
		if down == config.ProtocolAuto {
			protos = []string{config.ProtocolHTTP1, config.ProtocolHTTP2, config.ProtocolBolt}
		}
		for _, p := range protos {
			rl.stats = append(rl.stats, s.statsFor(old, lc.Name, p))
		}
		fw := proxy.Forwarder{Listener: lc.Name, Routes: rl.routes, Clusters: &s.clusters, Pools: s.pools,
			Stats: rl.stats[0], AccessLog: accessLog, Log: log, Streams: s.streams, Filters: filters, LogLimit: logLimit}
		// forwarder is fw counting in the stats of protocol p.
		forwarder := func(p string) proxy.Forwarder {
			f := fw
			for _, st := range rl.stats {
				if st.Protocol == p {
					f.Stats = st
				}
			}
			return f
		}
		h1 := &proxy.HTTP1Proxy{Forwarder: forwarder(config.ProtocolHTTP1), UpstreamHTTP2: up == config.ProtocolHTTP2}
		normalize, merge := pc.PathRules()
		h1opts := &stream.HTTP1Options{Limits: http1.Limits{}, IdleTimeout: lc.ConnectionIdleTimeout.Get(0),
			ReadTimeout: lc.ReadTimeout.Get(0), WriteTimeout: lc.WriteTimeout.Get(0),
			SendTimeout: lc.SendTimeout.Get(0), Paths: http1.PathRules{Normalize: normalize, MergeSlashes: merge},
			Logger: log, LogLimit: logLimit}
		bp := &proxy.BoltProxy{Forwarder: forwarder(config.ProtocolBolt)}
		bopts := &stream.BoltOptions{IdleTimeout: lc.ConnectionIdleTimeout.Get(0), ReadTimeout: lc.ReadTimeout.Get(0),
			SendTimeout: lc.SendTimeout.Get(0), Logger: log, LogLimit: logLimit}
		serveHTTP1 := func(ctx context.Context, c *network.Conn) { h1.ServeConn(ctx, c, h1opts) }
		serveBolt := func(ctx context.Context, c *network.Conn) { stream.ServeBolt(ctx, c, bp, bopts) }
		serveHTTP2 := http2Handler(forwarder(config.ProtocolHTTP2), lc, up, http1.PathRules{Normalize: normalize, MergeSlashes: merge}, log, logLimit)
		rl.byProtocol = map[string]network.HandlerFunc{protocol.HTTP1: serveHTTP1, protocol.Bolt: serveBolt, protocol.HTTP2: serveHTTP2}
		switch down {
		case config.ProtocolHTTP1:
			handler = network.HandlerFunc(serveHTTP1)
		case config.ProtocolHTTP2:
			handler = serveHTTP2
		case config.ProtocolBolt:
			handler = network.HandlerFunc(serveBolt)
		case config.ProtocolAuto:
			handler = network.HandlerFunc(func(ctx context.Context, c *network.Conn) {
				switch detect(c, log, logLimit) {
				case protocol.HTTP1:
					serveHTTP1(ctx, c)
				case protocol.HTTP2:
					serveHTTP2(ctx, c)
				case protocol.Bolt:
					serveBolt(ctx, c)
				}
			})
		default:
			return nil, fmt.Errorf("%s.config.downstream_protocol: protocol %q is not supported yet", fpath, down)
		}
	case config.FilterTCPProxy:
		tc, err := config.DecodeTCPProxy(f, fpath)
		if err != nil {
			return nil, err
		}
		name := tc.Cluster
		if name == "" && len(tc.Routes) > 0 {
			name = tc.Routes[0].Cluster
		}
		cluster := clusters.Get(name)
		if cluster == nil {
			return nil, fmt.Errorf("%s.config.cluster: unknown cluster %q", fpath, name)
		}
		rl.protocol = "tcp"
		rl.stats = []*metrics.RequestStats{s.statsFor(old, lc.Name, "tcp")}
		handler = &tcpproxy.Proxy{Cluster: cluster, IdleTimeout: tc.IdleTimeout.Get(0),
			MaxConnectAttempts: int(tc.MaxConnectAttempts), Counters: s.pools.ClusterCounters(cluster.Name), Log: log}
	default:
		return nil, fmt.Errorf("%s.type: network filter %q is not supported yet", fpath, f.Type)
	}
	if fc := &lc.FilterChains[0]; len(fc.ServerTLS()) > 0 {
		var alpn []string // tcp_proxy: none
		if f.Type == config.FilterProxy {
			alpn = config.ServedALPN(rl.protocol)
		}
		st, err := mosntls.BuildServer(fc, path+".filter_chains[0]", alpn)
		if err != nil {
			return nil, err
		}
		rl.tls = mosntls.NewListener(lc.Name)
		if old != nil && old.tls != nil {
			rl.tls = old.tls // its session ticket keys live on
		}
		rl.tlsState = st
		opts := mosntls.HandlerOptions{Inspector: lc.Inspector, Log: log, LogLimit: logLimit}
		if rl.protocol == config.ProtocolAuto {
			// ALPN settles what detection would: h2 is HTTP/2; the rest
			// (http/1.1, none, plaintext) is detected as before.
			opts.NextProto = map[string]network.Handler{"h2": rl.byProtocol[protocol.HTTP2]}
		}
		handler = rl.tls.Handler(handler, opts)
	}
	rl.handler = handler
	return rl, nil
}

// statsFor keeps a listener's request counters of a protocol (a label of
// theirs) across a reload.
func (s *Server) statsFor(old *runningListener, name, protocol string) *metrics.RequestStats {
	if old != nil {
		for _, st := range old.stats {
			if st.Protocol == protocol {
				return st
			}
		}
	}
	return &metrics.RequestStats{Listener: name, Protocol: protocol}
}

// startLoops gives the netpoll listeners their event loops. When every
// listener is one, there is a loop per P of GOMAXPROCS (like a worker per
// core) and one P more for the rest of the process; otherwise one P stays
// with the goroutines that serve the other listeners.
func (s *Server) startLoops() error {
	var netpoll []*runningListener
	for _, rl := range s.lns {
		if rl.ioModel == "netpoll" {
			netpoll = append(netpoll, rl)
		}
	}
	if len(netpoll) == 0 {
		return nil
	}
	exclusive := len(netpoll) == len(s.lns)
	loops, err := network.NewLoopGroup(0, exclusive)
	if err != nil {
		return err
	}
	s.loops = loops
	s.log.Info("netpoll IO model", "event_loops", loops.Len(), "listeners", len(netpoll),
		"gomaxprocs", runtime.GOMAXPROCS(0), "extra_p", exclusive)
	for _, rl := range netpoll {
		rl.ln.UseLoops(loops)
	}
	return nil
}

// detect reads a connection's first bytes until they name a protocol.
func detect(c *network.Conn, log *slog.Logger, limit *lograte.Limiter) string {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	for {
		name, err := protocol.Detect(c.Buffered())
		if err == nil {
			return name
		}
		if !errors.Is(err, protocol.ErrNeedMore) {
			if ok, suppressed := limit.Allow("protocol detection failed"); ok {
				log.Info("protocol detection failed, closing connection", "remote", c.RemoteAddr().String(),
					"first_bytes", fmt.Sprintf("%q", first(c.Buffered(), 16)), "suppressed", suppressed)
			}
			return ""
		}
		if err := c.Fill(); err != nil {
			return ""
		}
	}
}

func first(b []byte, n int) []byte { return b[:min(len(b), n)] }

// Start serves every listener and the admin API.
func (s *Server) Start(ctx context.Context) {
	s.started = time.Now()
	s.ctx = ctx
	s.checks.Sync(s.clusters.load())
	for _, rl := range s.listeners() {
		s.serve(rl)
	}
	if s.admin != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.admin.Serve(); err != nil {
				s.log.Error("admin API stopped", "err", err)
			}
		}()
		s.log.Info("admin API listening", "address", s.admin.Addr().String())
	}
	s.ready.Store(true)
}

// serve accepts connections on a listener until it closes.
func (s *Server) serve(rl *runningListener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := rl.ln.Serve(s.ctx); err != nil {
			s.log.Error("listener stopped", "listener", rl.cfg.Name, "err", err)
		}
	}()
	s.log.Info("listening", "listener", rl.cfg.Name, "address", rl.ln.Addr().String(), "filter", rl.filter, "protocol", rl.protocol, "io_model", rl.ioModel)
}

// listeners is the running listeners; the slice is replaced, never changed,
// by a reload.
func (s *Server) listeners() []*runningListener {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lns
}

// Shutdown stops accepting, lets in-flight requests finish until ctx is
// done, then closes what is left: downstream connections and the upstream
// connections requests still wait on, so the drain timeout bounds the whole
// shutdown. It returns the number of connections cut.
func (s *Server) Shutdown(ctx context.Context) int {
	s.ready.Store(false)
	s.draining.Store(true)
	drained := make(chan struct{})
	defer close(drained)
	go func() {
		select {
		case <-ctx.Done():
			s.pools.Abort()
		case <-drained:
		}
	}()
	var cut atomic.Int64
	var wg sync.WaitGroup
	for _, rl := range s.listeners() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cut.Add(int64(rl.ln.Shutdown(ctx)))
		}()
	}
	wg.Wait()
	if s.admin != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.admin.Shutdown(sctx)
		cancel()
	}
	s.closeAll()
	s.wg.Wait()
	return int(cut.Load())
}

func (s *Server) closeAll() {
	s.checks.Stop()
	s.stopCertWatch()
	for _, rl := range s.listeners() {
		if rl.ln != nil {
			rl.ln.Close()
		}
	}
	s.pools.Close()
	if s.loops != nil {
		s.loops.Close()
		s.loops = nil
	}
	s.mu.Lock()
	logs := s.logs
	s.logs = nil
	s.mu.Unlock()
	for _, l := range logs {
		l.Close()
	}
}

// DrainTimeout is the configured drain timeout.
func (s *Server) DrainTimeout() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg.DrainTimeout.Get(DefaultDrainTimeout)
}

// ListenerAddr returns the bound address of a listener by name (nil if none).
func (s *Server) ListenerAddr(name string) net.Addr {
	for _, rl := range s.listeners() {
		if rl.cfg.Name == name {
			return rl.ln.Addr()
		}
	}
	return nil
}

// AdminAddr returns the admin API's bound address (nil when disabled).
func (s *Server) AdminAddr() net.Addr {
	if s.admin == nil {
		return nil
	}
	return s.admin.Addr()
}
