package upstream

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

// DefaultConnectTimeout applies when a cluster sets no connect_timeout
// (MOSN's default as well). config.ApplyDefaults fills in the same value;
// NewCluster applies it too for configs that did not go through it.
const DefaultConnectTimeout = config.DefaultConnectTimeout

// Cluster is a named group of hosts and the load balancer over them. Its
// fields are fixed once NewCluster returns; only the counters change.
type Cluster struct {
	Name   string
	Hosts  []*Host
	LB     LoadBalancer
	LBType string // as configured, "" resolved to LB_ROUNDROBIN

	ConnectTimeout time.Duration
	IdleTimeout    time.Duration // 0: the connection pool's default
	// MaxRequestPerConn and MaxConnections are passed to the connection
	// pools as configured; 0 means the pool's default.
	MaxRequestPerConn uint32
	MaxConnections    int

	// Cluster totals, updated by the proxy beside the per-host counters.
	Requests        atomic.Uint64
	ConnectFailures atomic.Uint64
	Errors          atomic.Uint64
	Timeouts        atomic.Uint64
	ActiveRequests  atomic.Int64
}

// NewCluster builds a cluster from its config. Errors name the field by its
// path inside the cluster (for example `hosts[1].address`).
func NewCluster(cfg *config.Cluster) (*Cluster, error) {
	if cfg == nil {
		return nil, fmt.Errorf("upstream: nil cluster config")
	}
	if cfg.Name == "" {
		return nil, fmt.Errorf("name: empty cluster name")
	}
	switch cfg.Type {
	case "", "SIMPLE", "STATIC":
	default:
		return nil, fmt.Errorf("type: cluster type %q is not supported (want SIMPLE: a static list of hosts)", cfg.Type)
	}
	lbType := cfg.LbType
	if lbType == "" {
		lbType = config.LBRoundRobin
	}
	c := &Cluster{
		Name:              cfg.Name,
		LBType:            lbType,
		ConnectTimeout:    cfg.ConnectTimeout.Get(DefaultConnectTimeout),
		IdleTimeout:       cfg.IdleTimeout.Get(0),
		MaxRequestPerConn: cfg.MaxRequestPerConn,
		MaxConnections:    cfg.MaxConnections,
		Hosts:             make([]*Host, 0, len(cfg.Hosts)),
	}
	if cfg.MaxConnections < 0 {
		return nil, fmt.Errorf("max_connections: %d is negative", cfg.MaxConnections)
	}
	for i := range cfg.Hosts {
		hc := &cfg.Hosts[i]
		if err := checkAddress(hc.Address); err != nil {
			return nil, fmt.Errorf("hosts[%d].address: %w", i, err)
		}
		if hc.Weight > MaxHostWeight {
			return nil, fmt.Errorf("hosts[%d].weight: weight %d out of range %d-%d", i, hc.Weight, MinHostWeight, MaxHostWeight)
		}
		c.Hosts = append(c.Hosts, &Host{
			Address:  hc.Address,
			Hostname: hc.Hostname,
			Weight:   clampWeight(hc.Weight), // an absent weight (0) is the lowest
			Metadata: hc.Metadata,
			Cluster:  cfg.Name,
		})
	}
	lb, err := NewLoadBalancer(lbType, c.Hosts)
	if err != nil {
		return nil, fmt.Errorf("lb_type: %w", err)
	}
	c.LB = lb
	return c, nil
}

// checkAddress accepts "host:port" with a numeric port, which is what the
// connection pools dial.
func checkAddress(addr string) error {
	if addr == "" {
		return fmt.Errorf("empty address (want host:port)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q (want host:port): %v", addr, err)
	}
	if host == "" {
		return fmt.Errorf("invalid address %q: no host", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("invalid address %q: port %q is not a number in 1-65535", addr, port)
	}
	return nil
}

// Manager holds the clusters of a config snapshot. It is immutable after
// NewManager, so lookups need no lock.
type Manager struct {
	byName map[string]*Cluster
	sorted []*Cluster
}

// NewManager builds every cluster. Errors name the field by its path inside
// the cluster list (for example `clusters[2].hosts[0].address`).
func NewManager(cfgs []config.Cluster) (*Manager, error) {
	m := &Manager{byName: make(map[string]*Cluster, len(cfgs))}
	firstAt := make(map[string]int, len(cfgs))
	for i := range cfgs {
		c, err := NewCluster(&cfgs[i])
		if err != nil {
			return nil, fmt.Errorf("clusters[%d].%w", i, err)
		}
		if j, dup := firstAt[c.Name]; dup {
			return nil, fmt.Errorf("clusters[%d].name: duplicate cluster name %q (also clusters[%d])", i, c.Name, j)
		}
		firstAt[c.Name] = i
		m.byName[c.Name] = c
		m.sorted = append(m.sorted, c)
	}
	sort.Slice(m.sorted, func(a, b int) bool { return m.sorted[a].Name < m.sorted[b].Name })
	return m, nil
}

// Get returns the named cluster, or nil when there is none.
func (m *Manager) Get(name string) *Cluster {
	return m.byName[name]
}

// Clusters returns every cluster sorted by name. The slice is shared: do not
// modify it.
func (m *Manager) Clusters() []*Cluster {
	return m.sorted
}
