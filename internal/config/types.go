// Package config owns mosnctl's configuration model: MOSN's v2 format (JSON or
// YAML), its defaults, strict loading with field paths in errors, validation
// and the embedded default config. It imports no other internal package.
//
// Fields tagged `mosn:"unimplemented"` are MOSN fields mosnctl accepts but
// does not act on yet: loading lists them in one warning instead of failing.
package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Config is the whole file: servers, clusters and the admin API.
type Config struct {
	Servers        []Server       `json:"servers,omitempty"`
	ClusterManager ClusterManager `json:"cluster_manager"`
	Admin          *Admin         `json:"admin,omitempty"`

	// mosnctl's own process settings (not in MOSN's format).
	DrainTimeout *Duration `json:"drain_timeout,omitempty"`

	DisableUpgrade       json.RawMessage `json:"disable_upgrade,omitempty" mosn:"unimplemented"`
	Tracing              json.RawMessage `json:"tracing,omitempty" mosn:"unimplemented"`
	Metrics              json.RawMessage `json:"metrics,omitempty" mosn:"unimplemented"`
	Pprof                json.RawMessage `json:"pprof,omitempty" mosn:"unimplemented"`
	Plugin               json.RawMessage `json:"plugin,omitempty" mosn:"unimplemented"`
	ThirdPartCodec       json.RawMessage `json:"third_part_codec,omitempty" mosn:"unimplemented"`
	Extends              json.RawMessage `json:"extends,omitempty" mosn:"unimplemented"`
	LayeredRuntime       json.RawMessage `json:"layered_runtime,omitempty" mosn:"unimplemented"`
	CloseGraceful        json.RawMessage `json:"close_graceful,omitempty" mosn:"unimplemented"`
	InheritOldMosnconfig json.RawMessage `json:"inherit_old_mosnconfig,omitempty" mosn:"unimplemented"`
	Pid                  json.RawMessage `json:"pid,omitempty" mosn:"unimplemented"`
	UDSDir               json.RawMessage `json:"uds_dir,omitempty" mosn:"unimplemented"`
	Wasms                json.RawMessage `json:"wasm_global_plugins,omitempty" mosn:"unimplemented"`

	// Envoy v3 bootstrap blocks for xDS (bootstrap.go).
	DynamicResources *DynamicResources `json:"dynamic_resources,omitempty"`
	StaticResources  *StaticResources  `json:"static_resources,omitempty"`
	Node             *Node             `json:"node,omitempty"`
}

// Server groups listeners and the route tables they use.
type Server struct {
	ServerName      string                `json:"mosn_server_name,omitempty"`
	DefaultLogPath  string                `json:"default_log_path,omitempty"`
	DefaultLogLevel string                `json:"default_log_level,omitempty"`
	GracefulTimeout *Duration             `json:"graceful_timeout,omitempty"`
	Processor       int                   `json:"processor,omitempty"`
	Listeners       []Listener            `json:"listeners,omitempty"`
	Routers         []RouterConfiguration `json:"routers,omitempty"`

	GlobalLogRoller json.RawMessage `json:"global_log_roller,omitempty" mosn:"unimplemented"`
	// UseNetpollMode is MOSN's switch for the default io_model of the
	// server's listeners: netpoll when absent or true (on Linux), goroutine
	// when false.
	UseNetpollMode *bool           `json:"use_netpoll_mode,omitempty"`
	Optimize       json.RawMessage `json:"optimize,omitempty" mosn:"unimplemented"`
}

// Listener is one listening socket and what runs on its connections.
type Listener struct {
	Name                  string          `json:"name,omitempty"`
	Type                  string          `json:"type,omitempty"`
	Address               string          `json:"address"`
	Network               string          `json:"network,omitempty"` // tcp (default) or unix
	BindToPort            *bool           `json:"bind_port,omitempty"`
	UseOriginalDst        json.RawMessage `json:"use_original_dst,omitempty" mosn:"refused"` // MOSN: "tproxy" or "redirect"
	ConnectionIdleTimeout *Duration       `json:"connection_idle_timeout,omitempty"`
	LogPath               string          `json:"log_path,omitempty"`
	LogLevel              string          `json:"log_level,omitempty"`
	AccessLogs            []AccessLog     `json:"access_logs,omitempty"`
	FilterChains          []FilterChain   `json:"filter_chains,omitempty"`
	StreamFilters         []Filter        `json:"stream_filters,omitempty"`
	ListenerFilters       []Filter        `json:"listener_filters,omitempty"`

	// mosnctl additions.
	MaxConnections int       `json:"max_connections,omitempty"` // 0: default limit
	ReadTimeout    *Duration `json:"read_timeout,omitempty"`    // a started request head or Bolt frame must arrive within it
	WriteTimeout   *Duration `json:"write_timeout,omitempty"`   // bounds one HTTP/1 response
	SendTimeout    *Duration `json:"send_timeout,omitempty"`    // bounds each wait for a client that does not read
	IOModel        string    `json:"io_model,omitempty"`        // "goroutine" or "netpoll"; default: netpoll on Linux unless the server's use_netpoll_mode is false
	// AccessLog writes one JSON line per request to this path ("stdout" allowed).
	AccessLog string `json:"access_log,omitempty"`

	PerConnBufferLimitBytes json.RawMessage `json:"per_connection_buffer_limit_bytes,omitempty" mosn:"unimplemented"`
	// Inspector serves TLS and plaintext clients on the one port of a
	// listener with TLS, told apart by their first bytes.
	Inspector             bool            `json:"inspector,omitempty"`
	ReusePort             json.RawMessage `json:"reuseport,omitempty" mosn:"unimplemented"`
	DefaultReadBufferSize json.RawMessage `json:"default_read_buffer_size,omitempty" mosn:"unimplemented"`
}

// AccessLog is MOSN's access log block.
type AccessLog struct {
	Path   string `json:"log_path,omitempty"`
	Format string `json:"log_format,omitempty"`
}

// FilterChain is the network filters of a listener (one chain is supported).
type FilterChain struct {
	FilterChainMatch json.RawMessage `json:"match,omitempty" mosn:"refused"`
	TLSContext       *TLSContext     `json:"tls_context,omitempty"`
	TLSContextSet    []TLSContext    `json:"tls_context_set,omitempty"`
	Filters          []Filter        `json:"filters,omitempty"`
}

// Filter is a network or stream filter: its type selects how Config is read.
type Filter struct {
	Type   string          `json:"type"`
	Config json.RawMessage `json:"config,omitempty"`

	GoPluginConfig json.RawMessage `json:"go_plugin_config,omitempty" mosn:"unimplemented"`
}

// Network filter types.
const (
	FilterProxy       = "proxy"
	FilterTCPProxy    = "tcp_proxy"
	FilterFaultInject = "fault_inject"
)

// Protocol names as MOSN spells them.
const (
	ProtocolHTTP1 = "Http1"
	ProtocolHTTP2 = "Http2"
	ProtocolBolt  = "bolt"
	ProtocolDubbo = "dubbo"
	ProtocolAuto  = "Auto"
	ProtocolX     = "X" // MOSN's xprotocol wrapper; sub protocol in extend_config
)

// ProxyConfig is the config of a "proxy" network filter.
type ProxyConfig struct {
	Name               string          `json:"name,omitempty"`
	DownstreamProtocol string          `json:"downstream_protocol"`
	UpstreamProtocol   string          `json:"upstream_protocol,omitempty"`
	RouterConfigName   string          `json:"router_config_name"`
	RouterHandlerName  string          `json:"router_handler_name,omitempty" mosn:"unimplemented"`
	ExtendConfig       json.RawMessage `json:"extend_config,omitempty"`

	FallbackForUnknownProtocol json.RawMessage `json:"fallback_for_unknown_protocol,omitempty" mosn:"unimplemented"`
	ValidateClusters           json.RawMessage `json:"validate_clusters,omitempty" mosn:"unimplemented"`
	ConcurrencyNum             json.RawMessage `json:"concurrency_num,omitempty" mosn:"unimplemented"`

	// mosnctl additions, named after Envoy's HTTP connection manager
	// fields; unset means true (PathRules), unlike Envoy, because a route
	// that denies a prefix is otherwise walked around with "/./admin".
	NormalizePath *bool `json:"normalize_path,omitempty"`
	MergeSlashes  *bool `json:"merge_slashes,omitempty"`
}

// PathRules reports whether HTTP request paths are normalized (dot
// segments, percent-encoded unreserved characters) and have their slashes
// merged before routing: each unless the config sets it to false.
func (p *ProxyConfig) PathRules() (normalize, mergeSlashes bool) {
	return p.NormalizePath == nil || *p.NormalizePath, p.MergeSlashes == nil || *p.MergeSlashes
}

// TCPProxyConfig is the config of a "tcp_proxy" network filter.
type TCPProxyConfig struct {
	StatPrefix         string          `json:"stat_prefix,omitempty"`
	Cluster            string          `json:"cluster,omitempty"`
	IdleTimeout        *Duration       `json:"idle_timeout,omitempty"`
	MaxConnectAttempts uint32          `json:"max_connect_attempts,omitempty"`
	Routes             []TCPRoute      `json:"routes,omitempty"`
	AccessLog          json.RawMessage `json:"access_log,omitempty" mosn:"unimplemented"`
}

// TCPRoute picks a cluster by addresses; without addresses it matches all.
type TCPRoute struct {
	Cluster          string   `json:"cluster"`
	SourceAddrs      []string `json:"source_addrs,omitempty" mosn:"refused"`
	DestinationAddrs []string `json:"destination_addrs,omitempty" mosn:"refused"`
}

// RouterConfiguration is a named route table.
type RouterConfiguration struct {
	RouterConfigName       string              `json:"router_config_name"`
	VirtualHosts           []VirtualHost       `json:"virtual_hosts,omitempty"`
	RequestHeadersToAdd    []HeaderValueOption `json:"request_headers_to_add,omitempty"`
	ResponseHeadersToAdd   []HeaderValueOption `json:"response_headers_to_add,omitempty"`
	RequestHeadersToRemove []string            `json:"request_headers_to_remove,omitempty"`

	ResponseHeadersToRemove []string        `json:"response_headers_to_remove,omitempty"`
	RouterConfigPath        json.RawMessage `json:"router_configs,omitempty" mosn:"unimplemented"`
}

// VirtualHost matches requests by domain (exact, "*.suffix", "prefix.*" or "*").
type VirtualHost struct {
	Name                   string              `json:"name,omitempty"`
	Domains                []string            `json:"domains,omitempty"`
	Routers                []Router            `json:"routers,omitempty"`
	RequestHeadersToAdd    []HeaderValueOption `json:"request_headers_to_add,omitempty"`
	ResponseHeadersToAdd   []HeaderValueOption `json:"response_headers_to_add,omitempty"`
	RequestHeadersToRemove []string            `json:"request_headers_to_remove,omitempty"`

	RequireTLS              json.RawMessage `json:"require_tls,omitempty" mosn:"refused"`
	ResponseHeadersToRemove []string        `json:"response_headers_to_remove,omitempty"`
	PerFilterConfig         json.RawMessage `json:"per_filter_config,omitempty" mosn:"unimplemented"`
}

// Router is one route: a match and what to do with matching requests.
type Router struct {
	Match                 RouterMatch     `json:"match"`
	Route                 *RouteAction    `json:"route,omitempty"`
	DirectResponse        *DirectResponse `json:"direct_response,omitempty"`
	Redirect              json.RawMessage `json:"redirect,omitempty" mosn:"unimplemented"`
	Metadata              json.RawMessage `json:"metadata,omitempty" mosn:"unimplemented"`
	PerFilterConfig       json.RawMessage `json:"per_filter_config,omitempty" mosn:"unimplemented"`
	RequestMirrorPolicies json.RawMessage `json:"request_mirror_policies,omitempty" mosn:"refused"`
}

// RouterMatch: at most one of Prefix, Path and Regex; Headers all must match.
type RouterMatch struct {
	Prefix         string          `json:"prefix,omitempty"`
	Path           string          `json:"path,omitempty"`
	Regex          string          `json:"regex,omitempty"`
	CaseSensitive  *bool           `json:"case_sensitive,omitempty"`
	Headers        []HeaderMatcher `json:"headers,omitempty"`
	Variables      json.RawMessage `json:"variables,omitempty" mosn:"refused"`
	DslExpressions json.RawMessage `json:"dsl_expressions,omitempty" mosn:"refused"`
}

// HeaderMatcher matches a header (or a Bolt/Dubbo header key) by exact value
// or, with Regex, by a regular expression that must match the whole value.
type HeaderMatcher struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Regex bool   `json:"regex,omitempty"`
}

// RouteAction forwards to a cluster or one of weighted clusters.
type RouteAction struct {
	ClusterName            string              `json:"cluster_name,omitempty"`
	WeightedClusters       []WeightedCluster   `json:"weighted_clusters,omitempty"`
	Timeout                *Duration           `json:"timeout,omitempty"`
	IdleTimeout            *Duration           `json:"idle_timeout,omitempty"` // Envoy's: time between bytes
	RetryPolicy            *RetryPolicy        `json:"retry_policy,omitempty"`
	PrefixRewrite          string              `json:"prefix_rewrite,omitempty"`
	HostRewrite            string              `json:"host_rewrite,omitempty"`
	RequestHeadersToAdd    []HeaderValueOption `json:"request_headers_to_add,omitempty"`
	ResponseHeadersToAdd   []HeaderValueOption `json:"response_headers_to_add,omitempty"`
	RequestHeadersToRemove []string            `json:"request_headers_to_remove,omitempty"`
	ClusterHeader          json.RawMessage     `json:"cluster_header,omitempty" mosn:"refused"`
	MetadataMatch          *MetadataMatch      `json:"metadata_match,omitempty"` // subset routing (resilience.go)
	AutoHostRewrite        json.RawMessage     `json:"auto_host_rewrite,omitempty" mosn:"refused"`

	AutoHostRewriteHeader   json.RawMessage `json:"auto_host_rewrite_header,omitempty" mosn:"refused"`
	ClusterVariable         json.RawMessage `json:"cluster_variable,omitempty" mosn:"refused"`
	UpstreamProtocol        json.RawMessage `json:"upstream_protocol,omitempty" mosn:"unimplemented"`
	HashPolicy              json.RawMessage `json:"hash_policy,omitempty" mosn:"refused"`
	RegexRewrite            json.RawMessage `json:"regex_rewrite,omitempty" mosn:"refused"`
	ResponseHeadersToRemove []string        `json:"response_headers_to_remove,omitempty"`
}

// WeightedCluster is MOSN's {"cluster": {"name": ..., "weight": ...}}.
type WeightedCluster struct {
	Cluster ClusterWeight `json:"cluster"`
}

// ClusterWeight names a cluster and its share of traffic.
type ClusterWeight struct {
	Name          string          `json:"name"`
	Weight        uint32          `json:"weight"`
	MetadataMatch json.RawMessage `json:"metadata_match,omitempty" mosn:"refused"`
}

// RetryPolicy is a route's retry_policy, in MOSN's form or Envoy's (see RetryOn).
type RetryPolicy struct {
	RetryOn      RetryOn   `json:"retry_on"`
	RetryTimeout *Duration `json:"retry_timeout,omitempty"`
	NumRetries   uint32    `json:"num_retries"`
	// StatusCodes (MOSN's name) and RetriableStatusCodes (Envoy's) are the
	// answers retried: in MOSN's form instead of every 5xx, in Envoy's with
	// retriable-status-codes.
	StatusCodes          []int `json:"status_codes,omitempty"`
	RetriableStatusCodes []int `json:"retriable_status_codes,omitempty"`
}

// DirectResponse answers without an upstream.
type DirectResponse struct {
	StatusCode int    `json:"status"`
	Body       string `json:"body,omitempty"`
}

// HeaderValueOption adds a header; Append keeps existing values.
type HeaderValueOption struct {
	Header HeaderValue `json:"header"`
	Append *bool       `json:"append,omitempty"`
}

// HeaderValue is a header name and value.
type HeaderValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ClusterManager holds the static clusters.
type ClusterManager struct {
	Clusters               []Cluster       `json:"clusters,omitempty"`
	AutoDiscovery          json.RawMessage `json:"auto_discovery,omitempty" mosn:"unimplemented"`
	RegistryUseHealthCheck json.RawMessage `json:"registry_use_health_check,omitempty" mosn:"unimplemented"`
	ClusterPoolEnable      json.RawMessage `json:"cluster_pool_enable,omitempty" mosn:"unimplemented"`
	TLSContext             json.RawMessage `json:"tls_context,omitempty" mosn:"unimplemented"`
	ClustersConfigs        json.RawMessage `json:"clusters_configs,omitempty" mosn:"unimplemented"`
}

// Load balancer names as MOSN spells them.
const (
	LBRoundRobin         = "LB_ROUNDROBIN"
	LBRandom             = "LB_RANDOM"
	LBWeightedRoundRobin = "LB_WEIGHTED_ROUNDROBIN"
	LBLeastRequest       = "LB_LEAST_REQUEST"
)

// Cluster is a named group of upstream hosts.
type Cluster struct {
	Name                 string    `json:"name"`
	Type                 string    `json:"type,omitempty"` // SIMPLE (static) is the only kind so far
	SubType              string    `json:"sub_type,omitempty"`
	LbType               string    `json:"lb_type,omitempty"`
	MaxRequestPerConn    uint32    `json:"max_request_per_conn,omitempty"`
	ConnBufferLimitBytes uint32    `json:"conn_buffer_limit_bytes,omitempty"`
	ConnectTimeout       *Duration `json:"connect_timeout,omitempty"`
	IdleTimeout          *Duration `json:"idle_timeout,omitempty"`
	// MaxConnections bounds pooled connections per host (mosnctl addition; 0: default).
	MaxConnections int    `json:"max_connections,omitempty"`
	Hosts          []Host `json:"hosts,omitempty"`
	// Resilience (resilience.go): checked by checkResilience.
	CircuitBreakers  *CircuitBreakers  `json:"circuit_breakers,omitempty"`
	HealthCheck      *HealthCheck      `json:"health_check,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlier_detection,omitempty"`
	LBSubsetConfig   *LBSubsetConfig   `json:"lb_subset_config,omitempty"`

	Spec              json.RawMessage `json:"spec,omitempty" mosn:"unimplemented"`
	LBOriDstConfig    json.RawMessage `json:"original_dst_lb_config,omitempty" mosn:"unimplemented"`
	TLSContext        *TLSContext     `json:"tls_context,omitempty"`
	ClusterManagerTLS json.RawMessage `json:"cluster_manager_tls,omitempty" mosn:"unimplemented"`
	DnsRefreshRate    json.RawMessage `json:"dns_refresh_rate,omitempty" mosn:"unimplemented"`
	RespectDnsTTL     json.RawMessage `json:"respect_dns_ttl,omitempty" mosn:"unimplemented"`
	DnsLookupFamily   json.RawMessage `json:"dns_lookup_family,omitempty" mosn:"unimplemented"`
	DnsResolvers      json.RawMessage `json:"dns_resolvers,omitempty" mosn:"unimplemented"`
	LbConfig          json.RawMessage `json:"lbconfig,omitempty" mosn:"unimplemented"`
	SlowStart         json.RawMessage `json:"slow_start,omitempty" mosn:"unimplemented"`
	Mark              json.RawMessage `json:"mark,omitempty" mosn:"unimplemented"`
	KeepAlive         json.RawMessage `json:"keepalive,omitempty" mosn:"unimplemented"`
	DnsResolverFile   json.RawMessage `json:"dns_resolver_file,omitempty" mosn:"unimplemented"`
	DnsResolverPort   json.RawMessage `json:"dns_resolver_port,omitempty" mosn:"unimplemented"`
	ClusterPoolEnable json.RawMessage `json:"cluster_pool_enable,omitempty" mosn:"unimplemented"`
}

// Host is one upstream endpoint.
type Host struct {
	Address    string         `json:"address"`
	Hostname   string         `json:"hostname,omitempty"`
	Weight     uint32         `json:"weight,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	TLSDisable bool           `json:"tls_disable,omitempty"`
}

// Admin is Envoy/MOSN's admin block: {"address":{"socket_address":{...}}}.
type Admin struct {
	Address       AdminAddress    `json:"address"`
	AccessLogPath json.RawMessage `json:"access_log_path,omitempty" mosn:"unimplemented"`
}

// AdminAddress wraps the socket address as MOSN's format nests it.
type AdminAddress struct {
	SocketAddress SocketAddress `json:"socket_address"`
}

// SocketAddress is an IP (or name) and port.
type SocketAddress struct {
	Address   string `json:"address"`
	PortValue uint32 `json:"port_value"`
}

// Addr returns "address:port" of the admin API.
func (a *Admin) Addr() string {
	return joinHostPort(a.Address.SocketAddress.Address, a.Address.SocketAddress.PortValue)
}

func joinHostPort(host string, port uint32) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// Duration is a time.Duration written as a Go duration string ("1.5s", "200ms")
// or as a number of seconds, as MOSN configs do both.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// UnmarshalJSON accepts "1s" style strings and plain numbers of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. \"1s\", \"250ms\")", s)
		}
		if v < 0 {
			return fmt.Errorf("negative duration %q", s)
		}
		d.Duration = v
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s (want a string such as \"1s\")", b)
	}
	if n < 0 {
		return fmt.Errorf("negative duration %v", n)
	}
	// Beyond ~292 years the conversion to int64 nanoseconds would overflow.
	if n*float64(time.Second) >= math.MaxInt64 {
		return fmt.Errorf("duration %v seconds is too large", n)
	}
	d.Duration = time.Duration(n * float64(time.Second))
	return nil
}

// Get returns the duration or def when d is nil or zero.
func (d *Duration) Get(def time.Duration) time.Duration {
	if d == nil || d.Duration == 0 {
		return def
	}
	return d.Duration
}
