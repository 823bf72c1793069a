package server

import (
	"time"

	"github.com/mosnctl/mosnctl/internal/admin"
	"github.com/mosnctl/mosnctl/internal/buildinfo"
	"github.com/mosnctl/mosnctl/internal/metrics"
	"github.com/mosnctl/mosnctl/internal/proxy"
)

// ConfigDump returns the running config, and with xDS the client's state
// ({"config": ..., "dynamic": ...}).
func (s *Server) ConfigDump() any {
	s.mu.RLock()
	cfg := s.cfg
	s.mu.RUnlock()
	if s.dynamicDump == nil {
		return cfg
	}
	return map[string]any{"config": cfg, "dynamic": s.dynamicDump()}
}

// Ready reports whether every listener is serving.
func (s *Server) Ready() bool { return s.ready.Load() }

// Draining reports whether Shutdown is under way.
func (s *Server) Draining() bool { return s.draining.Load() }

// Listeners describes the listeners and their counters.
func (s *Server) Listeners() []admin.ListenerInfo {
	lns := s.listeners()
	out := make([]admin.ListenerInfo, 0, len(lns))
	for _, rl := range lns {
		li := admin.ListenerInfo{
			Name: rl.cfg.Name, Address: rl.ln.Addr().String(), Protocol: rl.protocol, Filter: rl.filter, IOModel: rl.ioModel,
			ConnectionsActive: rl.ln.Counters.ConnsActive.Load(), ConnectionsTotal: rl.ln.Counters.ConnsTotal.Load(),
			BytesIn: rl.ln.Counters.BytesIn.Load(), BytesOut: rl.ln.Counters.BytesOut.Load(),
			RequestsByClass: map[string]uint64{},
		}
		var d metrics.Histogram
		li.RequestsActive, li.RequestsTotal = addStats(rl.stats, li.RequestsByClass, &d)
		li.LatencyP50Ms, li.LatencyP99Ms = d.Quantile(0.5)*1000, d.Quantile(0.99)*1000
		out = append(out, li)
	}
	return out
}

// addStats adds the counters of stats (a listener's, one per protocol) to
// byClass and d, and returns the requests active and finished.
func addStats(stats []*metrics.RequestStats, byClass map[string]uint64, d *metrics.Histogram) (active int64, total uint64) {
	for _, st := range stats {
		active += st.Active.Load()
		total += st.Total()
		for i := range st.ByClass {
			if v := st.ByClass[i].Load(); v > 0 {
				byClass[metrics.ClassLabel(i)] += v
			}
		}
		d.Merge(&st.Duration)
	}
	return active, total
}

// Clusters describes clusters and hosts with their counters.
func (s *Server) Clusters() []admin.ClusterInfo {
	var out []admin.ClusterInfo
	for _, c := range s.clusters.load().Clusters() {
		ctr := s.pools.ClusterCounters(c.Name)
		ci := admin.ClusterInfo{
			Name: c.Name, LBType: c.LBType,
			ActiveRequests: c.ActiveRequests.Load(), Requests: c.Requests.Load(), Errors: c.Errors.Load(),
			ConnectFailures: c.ConnectFailures.Load(), Timeouts: c.Timeouts.Load(),
			ConnectionsActive: ctr.ConnsActive.Load(), ConnectionsTotal: ctr.ConnsTotal.Load(),
			BytesIn: ctr.BytesIn.Load(), BytesOut: ctr.BytesOut.Load(),
			Hosts: []admin.HostInfo{},
		}
		for _, h := range c.Hosts {
			ci.Hosts = append(ci.Hosts, admin.HostInfo{
				Address: h.Address, Weight: h.Weight, Healthy: h.Healthy(), Ejected: h.Ejected(), Ejections: h.Ejections.Load(),
				ActiveRequests: h.ActiveRequests.Load(), Requests: h.Requests.Load(), Errors: h.Errors.Load(),
				ConnectFailures: h.ConnectFailures.Load(), Timeouts: h.Timeouts.Load(),
				ProtocolErrors: h.ProtocolErrors.Load(), Metadata: h.Metadata,
				Connections: h.OpenConnections.Load(), Overflows: h.Overflows.Load(),
			})
		}
		out = append(out, ci)
	}
	return out
}

// Stats sums the counters for pollers.
func (s *Server) Stats() admin.Stats {
	st := admin.Stats{Time: time.Now(), Version: buildinfo.Get().Version, RequestsByClass: map[string]uint64{}}
	if !s.started.IsZero() {
		st.UptimeSeconds = time.Since(s.started).Seconds()
	}
	var merged metrics.Histogram
	for _, rl := range s.listeners() {
		st.ConnectionsActive += rl.ln.Counters.ConnsActive.Load()
		st.ConnectionsTotal += rl.ln.Counters.ConnsTotal.Load()
		st.BytesIn += rl.ln.Counters.BytesIn.Load()
		st.BytesOut += rl.ln.Counters.BytesOut.Load()
		active, total := addStats(rl.stats, st.RequestsByClass, &merged)
		st.RequestsActive += active
		st.RequestsTotal += total
	}
	for _, c := range s.clusters.load().Clusters() {
		st.UpstreamRequests += c.Requests.Load()
		st.UpstreamErrors += c.Errors.Load()
	}
	st.LatencyP50Ms = merged.Quantile(0.5) * 1000
	st.LatencyP99Ms = merged.Quantile(0.99) * 1000
	buckets, count, _ := merged.Snapshot()
	for _, ub := range metrics.DurationBuckets {
		st.LatencyBucketsMs = append(st.LatencyBucketsMs, ub*1000)
		st.LatencyCounts = append(st.LatencyCounts, buckets[ub])
	}
	st.LatencyCounts = append(st.LatencyCounts, count)
	return st
}

// Streams lists the streams in flight that q selects.
func (s *Server) Streams(q admin.StreamQuery) []admin.StreamInfo {
	var state proxy.StreamState
	if q.State != "" {
		st, ok := proxy.ParseStreamState(q.State)
		if !ok {
			return []admin.StreamInfo{}
		}
		state = st
	}
	snap := s.streams.Snapshot(nil, func(ss *proxy.StreamSnapshot) bool {
		return (q.Listener == "" || ss.Listener == q.Listener) && (q.Cluster == "" || ss.Cluster == q.Cluster) &&
			(q.Host == "" || ss.Host == q.Host) && (q.Protocol == "" || ss.Protocol == q.Protocol) &&
			(q.State == "" || ss.State == state) && (q.MinAge <= 0 || q.Now.Sub(ss.Start) >= q.MinAge)
	})
	out := make([]admin.StreamInfo, 0, len(snap))
	for i := range snap {
		ss := &snap[i]
		si := admin.StreamInfo{ID: ss.ID, Protocol: ss.Protocol, Listener: ss.Listener, RequestID: ss.RequestID, Service: ss.Service,
			Route: proxy.RouteName(ss.Route), Cluster: ss.Cluster, Host: ss.Host, State: ss.State.String(),
			Start: ss.Start, AgeMs: float64(q.Now.Sub(ss.Start)) / float64(time.Millisecond),
			BytesIn: ss.BytesIn, BytesOut: ss.BytesOut}
		if ss.Downstream != nil {
			si.Downstream = ss.Downstream.String()
		}
		if t := ss.TLS; t != nil {
			si.TLSVersion, si.TLSCipher = t.Version, t.Cipher
			si.PeerURI, si.PeerDNS, si.PeerSubject = string(t.PeerURI), string(t.PeerDNS), string(t.PeerSubject)
		}
		out = append(out, si)
	}
	return out
}
