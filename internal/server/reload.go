package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// routeRef is the route table a listener's proxies read for each request:
// a reload swaps the table under connections that stay open.
type routeRef struct{ p atomic.Pointer[router.Table] }

// Match implements proxy.Routes.
func (r *routeRef) Match(req router.Request) *router.Route { return r.p.Load().Match(req) }

// clustersRef is the cluster manager every proxy reads; a reload swaps it.
type clustersRef struct {
	p atomic.Pointer[upstream.Manager]
}

// Get implements proxy.Clusters.
func (c *clustersRef) Get(name string) *upstream.Cluster { return c.p.Load().Get(name) }

func (c *clustersRef) load() *upstream.Manager { return c.p.Load() }

// Reload swaps in a new config without a restart. Everything is built and
// checked first; on any error nothing changes and the old config keeps
// serving. Then, at once: listeners that stay (by name) keep their socket
// and connections, and their proxies, keep-alive connections included, see
// the new routes and clusters from their next request; requests in flight
// finish on what they started with; new listeners open; removed ones drain
// in the background, within the drain timeout. Clusters and hosts that did
// not change keep their connection pools and counters. A listener may not
// change its address or IO model in place.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	err := s.reload(cfg)
	if err != nil {
		s.reloads.failed.Add(1)
		s.log.Error("config reload refused, the running config stays", "err", err)
		return err
	}
	s.reloads.ok.Add(1)
	return nil
}

func (s *Server) reload(cfg *config.Config) (err error) {
	if s.draining.Load() {
		return errors.New("shutting down")
	}
	s.mu.RLock()
	oldLns := s.lns
	s.mu.RUnlock()
	old := make(map[string]*runningListener, len(oldLns))
	for _, rl := range oldLns {
		old[rl.cfg.Name] = rl
	}
	clusters, err := s.clusters.load().Rebuild(cfg.ClusterManager.Clusters)
	if err != nil {
		return fmt.Errorf("cluster_manager: %w", err)
	}
	lns, err := s.buildListeners(cfg, clusters, old)
	var opened []*runningListener
	defer func() {
		if err != nil {
			for _, rl := range lns {
				rl.logs.closeOpened()
			}
			for _, rl := range opened {
				rl.ln.Close()
			}
		}
	}()
	if err != nil {
		return err
	}
	for _, rl := range lns {
		if rl.ln != nil {
			continue // kept
		}
		if err = s.open(rl); err != nil {
			return err
		}
		opened = append(opened, rl)
		if rl.ioModel == "netpoll" {
			if err = s.ensureLoops(); err != nil {
				return fmt.Errorf("listener %q: netpoll IO model: %w", rl.cfg.Name, err)
			}
			rl.ln.UseLoops(s.loops)
		}
	}

	// Commit: nothing below fails.
	s.mu.Lock()
	s.clusters.p.Store(clusters)
	for _, rl := range lns {
		s.activate(rl)
		delete(old, rl.cfg.Name)
	}
	s.lns, s.cfg = lns, cfg
	s.mu.Unlock()
	if !s.started.IsZero() {
		s.checks.Sync(clusters) // checkers of replaced clusters stop, new ones start
	}
	s.reloadClusterCerts()
	s.watchCerts()
	for _, rl := range opened {
		s.serve(rl)
	}
	for _, rl := range old { // removed
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.drainRemoved(rl)
		}()
	}
	s.pools.Retain(clusters, s.DrainTimeout())
	s.log.Info("config reloaded", "listeners", len(lns), "added", len(opened), "removed", len(old),
		"clusters", len(clusters.Clusters()))
	return nil
}

// ensureLoops makes the event loops a listener added by a reload needs
// when no listener had them; they leave a P to the goroutines, as loops
// beside goroutine listeners do.
func (s *Server) ensureLoops() error {
	if s.loops != nil {
		return nil
	}
	loops, err := network.NewLoopGroup(0, false)
	if err != nil {
		return err
	}
	s.loops = loops
	return nil
}

// drainRemoved shuts down a listener a reload removed, as Shutdown would.
func (s *Server) drainRemoved(rl *runningListener) {
	ctx, cancel := context.WithTimeout(context.Background(), s.DrainTimeout())
	defer cancel()
	cut := rl.ln.Shutdown(ctx)
	s.log.Info("listener removed by reload, drained", "listener", rl.cfg.Name, "connections_cut", cut)
}

// ReloadStats are the reload counters, for metrics.
func (s *Server) ReloadStats() (ok, failed uint64) {
	return s.reloads.ok.Load(), s.reloads.failed.Load()
}

// ConfigSource reads the config again for ReloadConfig; raw is what the
// server keeps of it for a hot upgrade (see RawConfig).
type ConfigSource func() (cfg *config.Config, raw any, err error)

// SetConfigSource sets where ReloadConfig reads the config from, and the
// raw form of the config running now.
func (s *Server) SetConfigSource(src ConfigSource, raw any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.source, s.raw = src, raw
}

// RawConfig is the raw form of the running config, as the config source
// gave it (the file's bytes, for a hot upgrade to pass on).
func (s *Server) RawConfig() any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.raw
}

// ReloadConfig reads the config from its source (SIGHUP, the admin API's
// POST /api/v1/config/reload) and reloads it. A config that does not parse
// or validate is refused with the path of the bad field; the running one
// stays.
func (s *Server) ReloadConfig() error {
	s.mu.RLock()
	src := s.source
	s.mu.RUnlock()
	if src == nil {
		return errors.New("config reload: no config source")
	}
	cfg, raw, err := src()
	if err == nil {
		err = s.Reload(cfg)
	} else {
		s.reloads.failed.Add(1)
		s.log.Error("config reload refused, the running config stays", "err", err)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.raw = raw
	s.mu.Unlock()
	return nil
}
