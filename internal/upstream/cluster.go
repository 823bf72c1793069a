package upstream

import (
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
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
	LB     LoadBalancer // over every host; Tries picks through subsets (subset.go)
	LBType string       // as configured, "" resolved to LB_ROUNDROBIN

	// HealthCheck is the active health check the server runs for the
	// cluster (package healthcheck); nil: none.
	HealthCheck *config.HealthCheck
	// Resources is the circuit breaker: per-cluster limits callers take and
	// release.
	Resources *Resources

	all      hostSet
	subsets  []subset // lb_subset_config; nil: no subsets
	fallback *hostSet // lb_subset_config's fall_back_policy; nil: no host
	outlier  *outlierDetector

	ConnectTimeout time.Duration
	IdleTimeout    time.Duration // 0: the connection pool's default
	// MaxRequestPerConn and MaxConnections are passed to the connection
	// pools as configured; 0 means the pool's default.
	MaxRequestPerConn uint32
	MaxConnections    int

	// TLS originates TLS to the hosts (nil: plaintext), except to hosts
	// with TLSDisable.
	TLS *mosntls.Client

	cfg config.Cluster // as built, to tell an unchanged cluster on reload

	// Cluster totals, updated by the proxy beside the per-host counters.
	Requests        atomic.Uint64
	ConnectFailures atomic.Uint64
	Errors          atomic.Uint64
	Timeouts        atomic.Uint64
	ActiveRequests  atomic.Int64
}

// NewCluster builds a cluster from its config. Errors name the field by its
// path inside the cluster (for example `hosts[1].address`).
func NewCluster(cfg *config.Cluster) (*Cluster, error) { return newCluster(cfg, nil, slog.Default()) }

// newCluster builds a cluster; hosts of old (the cluster of that name in
// the config being replaced) that are unchanged are taken over with their
// counters, health and connection pools (keyed by the host).
func newCluster(cfg *config.Cluster, old *Cluster, log *slog.Logger) (*Cluster, error) {
	if cfg == nil {
		return nil, fmt.Errorf("upstream: nil cluster config")
	}
	if err := config.ValidateResilience(cfg); err != nil {
		return nil, err
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
		HealthCheck:       cfg.HealthCheck,
		Resources:         newResources(cfg.CircuitBreakers),
		cfg:               *cfg,
	}
	if cfg.TLSContext.Enabled() {
		if old != nil && old.TLS != nil && reflect.DeepEqual(old.cfg.TLSContext, cfg.TLSContext) {
			c.TLS = old.TLS // its session cache and reloads live on
		} else {
			tc, err := mosntls.NewClient(cfg.Name, cfg.TLSContext, "tls_context", nil)
			if err != nil {
				return nil, err
			}
			c.TLS = tc
		}
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
		h := &Host{
			TLSDisable: hc.TLSDisable,
			Address:    hc.Address,
			Hostname:   hc.Hostname,
			Weight:     clampWeight(hc.Weight), // an absent weight (0) is the lowest
			Metadata:   hc.Metadata,
			Cluster:    cfg.Name,
		}
		// A host's pools keep the TLS they were made with: a host whose
		// cluster changed its TLS is a new host.
		if same := old.host(h); same != nil && (old.TLS == c.TLS) {
			h = same
		} else if prev := old.hostAt(h.Address); prev != nil {
			h.inheritHealth(prev) // a new weight or labels: the same server, as healthy as it was
		}
		c.Hosts = append(c.Hosts, h)
	}
	lb, err := NewLoadBalancer(lbType, c.Hosts)
	if err != nil {
		return nil, fmt.Errorf("lb_type: %w", err)
	}
	c.LB = lb
	c.all = hostSet{hosts: c.Hosts, lb: lb}
	if err := c.buildSubsets(cfg); err != nil {
		return nil, err
	}
	if cfg.OutlierDetection != nil {
		c.outlier = newOutlierDetector(c, cfg.OutlierDetection, log)
	}
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
	log    *slog.Logger
}

// NewManager builds every cluster. Errors name the field by its path inside
// the cluster list (for example `clusters[2].hosts[0].address`).
func NewManager(cfgs []config.Cluster) (*Manager, error) {
	return NewManagerLog(cfgs, slog.Default())
}

// NewManagerLog is NewManager with the logger of outlier detection's
// ejections; managers Rebuild makes keep it.
func NewManagerLog(cfgs []config.Cluster, log *slog.Logger) (*Manager, error) {
	return (&Manager{log: log}).Rebuild(cfgs)
}

// Rebuild builds the clusters of a new config as NewManager does, keeping
// what did not change: a cluster whose config is the same is the same
// *Cluster (its counters, hosts and pools live on); in a changed cluster,
// hosts with the same address, weight and metadata are kept, and the
// cluster's request counters carry over.
func (m *Manager) Rebuild(cfgs []config.Cluster) (*Manager, error) {
	log := m.log
	if log == nil {
		log = slog.Default()
	}
	n := &Manager{byName: make(map[string]*Cluster, len(cfgs)), log: log}
	firstAt := make(map[string]int, len(cfgs))
	for i := range cfgs {
		old := m.byName[cfgs[i].Name]
		c := old
		if old == nil || !reflect.DeepEqual(old.cfg, cfgs[i]) {
			var err error
			if c, err = newCluster(&cfgs[i], old, log); err != nil {
				return nil, fmt.Errorf("clusters[%d].%w", i, err)
			}
			if old != nil {
				c.Requests.Store(old.Requests.Load())
				c.ConnectFailures.Store(old.ConnectFailures.Load())
				c.Errors.Store(old.Errors.Load())
				c.Timeouts.Store(old.Timeouts.Load())
				for l := range c.Resources.res {
					c.Resources.res[l].overflow.Store(old.Resources.Overflows(Limit(l)))
				}
			}
		}
		if j, dup := firstAt[c.Name]; dup {
			return nil, fmt.Errorf("clusters[%d].name: duplicate cluster name %q (also clusters[%d])", i, c.Name, j)
		}
		firstAt[c.Name] = i
		n.byName[c.Name] = c
		n.sorted = append(n.sorted, c)
	}
	sort.Slice(n.sorted, func(a, b int) bool { return n.sorted[a].Name < n.sorted[b].Name })
	return n, nil
}

// host returns c's host equal to h (address, hostname, weight, metadata),
// or nil. A nil c has none.
func (c *Cluster) host(h *Host) *Host {
	if c == nil {
		return nil
	}
	for _, o := range c.Hosts {
		if o.Address == h.Address && o.Hostname == h.Hostname && o.Weight == h.Weight && o.TLSDisable == h.TLSDisable && reflect.DeepEqual(o.Metadata, h.Metadata) {
			return o
		}
	}
	return nil
}

// hostAt returns c's host with address addr, or nil.
func (c *Cluster) hostAt(addr string) *Host {
	if c == nil {
		return nil
	}
	for _, o := range c.Hosts {
		if o.Address == addr {
			return o
		}
	}
	return nil
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
