// Package admin serves the admin HTTP API: MOSN's paths where MOSN has them
// (/api/v1/config_dump, /api/v1/stats, ...) and Prometheus /metrics. It reads
// the running proxy through the small State interface and imports no layer
// of the data path.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mosnctl/mosnctl/internal/buildinfo"
)

// State is what the admin API reads from the running proxy.
type State interface {
	ConfigDump() any
	Listeners() []ListenerInfo
	Clusters() []ClusterInfo
	Stats() Stats
	Ready() bool
	// Draining reports a shutdown in progress (listeners closed, requests
	// in flight finishing).
	Draining() bool
	// ReloadConfig reads the config again and swaps it in; an error leaves
	// the running config in place.
	ReloadConfig() error
	// Streams returns the streams in flight that q selects, in any order.
	Streams(q StreamQuery) []StreamInfo
	// Certs lists the TLS certificates in use (listeners' and clusters').
	Certs() []CertInfo
}

// CertInfo is a certificate in use, as /api/v1/certs lists it.
type CertInfo struct {
	Owner    string    `json:"owner"` // "listener NAME" or "cluster NAME"
	Names    []string  `json:"names"` // DNS names, IP addresses, URIs (SPIFFE ids)
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	// ExpiresIn is the time left, in seconds (negative once expired).
	ExpiresIn int64  `json:"expires_in_seconds"`
	Source    string `json:"source"` // the file, or "inline"
}

// ListenerInfo describes one listener.
type ListenerInfo struct {
	Name              string            `json:"name"`
	Address           string            `json:"address"`
	Protocol          string            `json:"protocol"`
	Filter            string            `json:"filter"`
	IOModel           string            `json:"io_model"` // goroutine or netpoll
	ConnectionsActive int64             `json:"connections_active"`
	ConnectionsTotal  uint64            `json:"connections_total"`
	RequestsActive    int64             `json:"requests_active"`
	RequestsTotal     uint64            `json:"requests_total"`
	RequestsByClass   map[string]uint64 `json:"requests_by_class"`
	BytesIn           uint64            `json:"bytes_in"`
	BytesOut          uint64            `json:"bytes_out"`
	LatencyP50Ms      float64           `json:"latency_p50_ms"`
	LatencyP99Ms      float64           `json:"latency_p99_ms"`
}

// HostInfo describes one upstream host.
type HostInfo struct {
	Address string `json:"address"`
	Weight  uint32 `json:"weight"`
	// Healthy: the host passes its active health checks (always true
	// without them). Ejected: outlier detection holds it out. A host takes
	// traffic when it is healthy and not ejected (or when no host of its
	// cluster does).
	Healthy         bool           `json:"healthy"`
	Ejected         bool           `json:"ejected"`
	Ejections       uint64         `json:"ejections"`
	ActiveRequests  int64          `json:"active_requests"`
	Requests        uint64         `json:"requests"`
	Errors          uint64         `json:"errors"`
	ConnectFailures uint64         `json:"connect_failures"`
	Timeouts        uint64         `json:"timeouts"`
	ProtocolErrors  uint64         `json:"protocol_errors"`
	Connections     int64          `json:"connections"` // open, over all pools
	Overflows       uint64         `json:"overflows"`   // requests the cluster's max_connections refused
	Metadata        map[string]any `json:"metadata,omitempty"`
	// Rates over the cluster's rate_window_seconds (0 on a first poll).
	RPS             float64 `json:"rps"`
	ErrorsPerSecond float64 `json:"errors_per_second"`
}

// ClusterInfo describes one cluster and its hosts.
type ClusterInfo struct {
	Name              string     `json:"name"`
	LBType            string     `json:"lb_type"`
	ActiveRequests    int64      `json:"active_requests"`
	Requests          uint64     `json:"requests"`
	Errors            uint64     `json:"errors"`
	ConnectFailures   uint64     `json:"connect_failures"`
	Timeouts          uint64     `json:"timeouts"`
	ConnectionsActive int64      `json:"upstream_connections_active"`
	ConnectionsTotal  uint64     `json:"upstream_connections_total"`
	BytesIn           uint64     `json:"upstream_bytes_in"`
	BytesOut          uint64     `json:"upstream_bytes_out"`
	Hosts             []HostInfo `json:"hosts"`
	// Rates since an earlier poll of /api/v1/clusters, RateWindowSeconds
	// ago (0: no earlier poll in the last minute, rates unknown).
	RPS               float64 `json:"rps"`
	ErrorsPerSecond   float64 `json:"errors_per_second"`
	RateWindowSeconds float64 `json:"rate_window_seconds"`
}

// Stats is a cheap snapshot of counters meant for polling once a second;
// clients compute rates from successive snapshots.
type Stats struct {
	Time              time.Time         `json:"time"`
	UptimeSeconds     float64           `json:"uptime_seconds"`
	Version           string            `json:"version"`
	ConnectionsActive int64             `json:"downstream_connections_active"`
	ConnectionsTotal  uint64            `json:"downstream_connections_total"`
	RequestsActive    int64             `json:"downstream_requests_active"`
	RequestsTotal     uint64            `json:"downstream_requests_total"`
	RequestsByClass   map[string]uint64 `json:"downstream_requests_by_class"`
	BytesIn           uint64            `json:"downstream_bytes_in"`
	BytesOut          uint64            `json:"downstream_bytes_out"`
	UpstreamRequests  uint64            `json:"upstream_requests_total"`
	UpstreamErrors    uint64            `json:"upstream_errors_total"`
	LatencyP50Ms      float64           `json:"latency_p50_ms"`
	LatencyP99Ms      float64           `json:"latency_p99_ms"`
	// The latency histogram since start: bucket upper bounds and the
	// cumulative count at each, the last count being the total (+Inf).
	// Quantiles above are since start too; a poller takes the difference
	// of two snapshots' counts for the quantiles of its interval.
	LatencyBucketsMs []float64 `json:"latency_buckets_ms"`
	LatencyCounts    []uint64  `json:"latency_cumulative_counts"`
}

// Server is the admin HTTP server.
type Server struct {
	state    State
	registry *prometheus.Registry
	level    *slog.LevelVar
	log      *slog.Logger
	srv      *http.Server
	ln       net.Listener
	rates    rateHistory
}

// New builds the admin server; collectors are registered on a registry of
// its own (plus Go runtime and process metrics).
func New(state State, level *slog.LevelVar, log *slog.Logger, collectors ...prometheus.Collector) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	for _, c := range collectors {
		reg.MustRegister(c)
	}
	s := &Server{state: state, registry: reg, level: level, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /api/v1/version", s.version)
	mux.HandleFunc("GET /api/v1/config_dump", s.configDump)
	mux.HandleFunc("GET /api/v1/stats", s.stats)
	mux.HandleFunc("GET /api/v1/states", s.states)
	mux.HandleFunc("GET /api/v1/listeners", s.listeners)
	mux.HandleFunc("GET /api/v1/clusters", s.clusters)
	mux.HandleFunc("GET /api/v1/streams", s.streams)
	mux.HandleFunc("GET /api/v1/certs", s.certs)
	mux.HandleFunc("GET /api/v1/get_loglevel", s.getLogLevel)
	mux.HandleFunc("POST /api/v1/update_loglevel", s.updateLogLevel)
	mux.HandleFunc("POST /api/v1/config/reload", s.reloadConfig)
	mux.HandleFunc("GET /ready", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Go's profiler, for "where does the proxy spend its CPU" on a live
	// process; the admin API binds loopback unless configured otherwise.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	return s
}

var endpoints = []string{
	"/api/v1/version", "/api/v1/config_dump", "/api/v1/stats", "/api/v1/states",
	"/api/v1/listeners", "/api/v1/clusters", "/api/v1/streams", "/api/v1/certs", "/api/v1/get_loglevel", "/api/v1/update_loglevel (POST)",
	"/api/v1/config/reload (POST)",
	"/metrics", "/ready", "/debug/pprof/",
}

// Listen binds addr.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("mosnctl admin API\n\n" + strings.Join(endpoints, "\n") + "\n"))
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) { writeJSON(w, buildinfo.Get()) }

func (s *Server) configDump(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.state.ConfigDump())
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.state.Stats()) }

func (s *Server) listeners(w http.ResponseWriter, _ *http.Request) {
	ls := s.state.Listeners()
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	writeJSON(w, ls)
}

func (s *Server) certs(w http.ResponseWriter, _ *http.Request) {
	cs := s.state.Certs()
	if cs == nil {
		cs = []CertInfo{}
	}
	now := time.Now()
	for i := range cs {
		cs[i].ExpiresIn = int64(cs[i].NotAfter.Sub(now) / time.Second)
	}
	writeJSON(w, cs)
}

func (s *Server) clusters(w http.ResponseWriter, _ *http.Request) {
	cs := s.state.Clusters()
	s.rates.annotate(time.Now(), cs)
	writeJSON(w, cs)
}

// states reports MOSN's process state names, and Draining during a
// graceful shutdown.
func (s *Server) states(w http.ResponseWriter, _ *http.Request) {
	state := "Init"
	switch {
	case s.state.Draining():
		state = "Draining"
	case s.state.Ready():
		state = "Running"
	}
	writeJSON(w, map[string]string{"state": state})
}

// reloadConfig is SIGHUP over HTTP: 200 when the new config runs, 400 with
// the reason (the path of the bad field) when it was refused.
func (s *Server) reloadConfig(w http.ResponseWriter, _ *http.Request) {
	if err := s.state.ReloadConfig(); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"status": "refused", "error": err.Error()})
		return
	}
	writeJSON(w, map[string]string{"status": "reloaded"})
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if !s.state.Ready() {
		http.Error(w, "not ready\n", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) getLogLevel(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]string{"level": strings.ToLower(s.level.Level().String())})
}

// updateLogLevel takes MOSN's {"log_level": "DEBUG"} body or ?level=debug.
func (s *Server) updateLogLevel(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("level")
	if name == "" {
		var body struct {
			LogLevel string `json:"log_level"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
			http.Error(w, "want ?level=debug|info|warn|error or {\"log_level\": \"DEBUG\"}\n", http.StatusBadRequest)
			return
		}
		name = body.LogLevel
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(name))); err != nil {
		http.Error(w, "unknown log level "+name+" (want debug, info, warn or error)\n", http.StatusBadRequest)
		return
	}
	s.level.Set(lvl)
	s.log.Info("log level changed", "level", lvl.String())
	writeJSON(w, map[string]string{"level": strings.ToLower(lvl.String())})
}
