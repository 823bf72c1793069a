package serve

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/server"
	"github.com/mosnctl/mosnctl/internal/xds"
)

// dynamic is the xDS client of a config with dynamic_resources; nil
// without. Its pushes go to the server running now (a hot upgrade that
// fails back replaces it).
type dynamic struct {
	boot   *xds.Bootstrap
	client *xds.Client
	srv    atomic.Pointer[server.Server]
}

func newDynamic(cfg *config.Config, opts Options, log *slog.Logger) (*dynamic, error) {
	if !cfg.XDS() {
		if opts.ServiceNode != "" || opts.ServiceCluster != "" {
			return nil, cli.Usagef("--service-node and --service-cluster need a config with dynamic_resources")
		}
		return nil, nil
	}
	b, err := xds.NewBootstrap(cfg, opts.ServiceNode, opts.ServiceCluster)
	if err != nil {
		return nil, cli.Usage(fmt.Errorf("config %s: %w", opts.ConfigPath, err))
	}
	d := &dynamic{boot: b}
	d.client = xds.NewClient(xds.Options{Server: b.Server, Node: b.Node, NodeOnFirstOnly: b.NodeOnFirstOnly,
		Base: b.Base, Log: log, Apply: func(c *config.Config) error {
			srv := d.srv.Load()
			if srv == nil {
				return fmt.Errorf("not serving yet")
			}
			return srv.Reload(c)
		}})
	return d, nil
}

func (d *dynamic) serverOptions(o *server.Options) {
	if d == nil {
		return
	}
	o.DynamicDump = func() any { return d.client.Dump() }
	o.Collectors = []prometheus.Collector{d.client.Collector()}
}

func (d *dynamic) setServer(s *server.Server) {
	if d != nil {
		d.srv.Store(s)
	}
}

// run starts the client; the returned func stops it and waits.
func (d *dynamic) run(ctx context.Context, s *server.Server) (stop func()) {
	if d == nil {
		return func() {}
	}
	d.srv.Store(s)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.client.Run(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
