package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosnctl/mosnctl/internal/metrics"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// collector turns the proxy's atomic counters into Prometheus metrics at
// scrape time, so the request path never touches a label map.
type collector struct{ s *Server }

func newCollector(s *Server) prometheus.Collector { return collector{s} }

var (
	descConnActive  = prometheus.NewDesc("mosn_downstream_connections_active", "Open downstream connections.", []string{"listener"}, nil)
	descConnTotal   = prometheus.NewDesc("mosn_downstream_connections_total", "Accepted downstream connections.", []string{"listener"}, nil)
	descConnRefused = prometheus.NewDesc("mosn_downstream_connections_refused_total", "Downstream connections closed at once because the listener was at max_connections.", []string{"listener"}, nil)
	descBytesIn     = prometheus.NewDesc("mosn_downstream_bytes_received_total", "Bytes read from downstream connections.", []string{"listener"}, nil)
	descBytesOut    = prometheus.NewDesc("mosn_downstream_bytes_sent_total", "Bytes written to downstream connections.", []string{"listener"}, nil)
	descReqActive   = prometheus.NewDesc("mosn_downstream_requests_active", "Requests in flight.", []string{"listener", "protocol"}, nil)
	descReqTotal    = prometheus.NewDesc("mosn_downstream_requests_total", "Finished requests by response class (Bolt statuses mapped to their HTTP meaning; none: no response).", []string{"listener", "protocol", "response_class"}, nil)
	descDuration    = prometheus.NewDesc("mosn_downstream_request_duration_seconds", "Time from request head to the end of the response.", []string{"listener", "protocol"}, nil)

	descUpReq      = prometheus.NewDesc("mosn_upstream_requests_total", "Requests sent to upstream hosts.", []string{"cluster", "host"}, nil)
	descUpActive   = prometheus.NewDesc("mosn_upstream_requests_active", "Requests waiting for an upstream host.", []string{"cluster", "host"}, nil)
	descUpConnFail = prometheus.NewDesc("mosn_upstream_connect_failures_total", "Failed connection attempts to upstream hosts.", []string{"cluster", "host"}, nil)
	descUpErrors   = prometheus.NewDesc("mosn_upstream_errors_total", "Upstream requests that failed or got a 5xx-class answer.", []string{"cluster", "host"}, nil)
	descUpTimeouts = prometheus.NewDesc("mosn_upstream_timeouts_total", "Upstream requests that timed out.", []string{"cluster", "host"}, nil)
	descUpProto    = prometheus.NewDesc("mosn_upstream_protocol_errors_total", "Upstream connections closed because the host sent bytes nobody asked for (after a response, or while idle).", []string{"cluster", "host"}, nil)
	descUpHealthy  = prometheus.NewDesc("mosn_upstream_host_healthy", "1 when the host passes its active health checks (always without them).", []string{"cluster", "host"}, nil)
	descUpEjected  = prometheus.NewDesc("mosn_upstream_host_ejected", "1 while outlier detection holds the host out.", []string{"cluster", "host"}, nil)
	descUpEjects   = prometheus.NewDesc("mosn_upstream_outlier_ejections_total", "Ejections of the host by outlier detection.", []string{"cluster", "host"}, nil)
	descUpOverflow = prometheus.NewDesc("mosn_upstream_overflow_total", "Requests or connections a circuit-breaker limit refused.", []string{"cluster", "limit"}, nil)
	descUpConns    = prometheus.NewDesc("mosn_upstream_connections_active", "Open upstream connections.", []string{"cluster"}, nil)
	descUpBytesIn  = prometheus.NewDesc("mosn_upstream_bytes_received_total", "Bytes read from upstream connections.", []string{"cluster"}, nil)
	descReloads    = prometheus.NewDesc("mosn_config_reloads_total", "Config reloads (SIGHUP, admin API) by result: ok, or refused (the running config stayed).", []string{"result"}, nil)
	descUpBytesOut = prometheus.NewDesc("mosn_upstream_bytes_sent_total", "Bytes written to upstream connections.", []string{"cluster"}, nil)

	descTLSHandshakes = prometheus.NewDesc("mosn_downstream_tls_handshakes_total", "Completed TLS handshakes, resumed ones included.", []string{"listener"}, nil)
	descTLSResumed    = prometheus.NewDesc("mosn_downstream_tls_sessions_resumed_total", "TLS handshakes that resumed a session (session tickets).", []string{"listener"}, nil)
	descTLSFailures   = prometheus.NewDesc("mosn_downstream_tls_handshake_failures_total", "Failed TLS handshakes by reason.", []string{"listener", "reason"}, nil)
	descTLSPlaintext  = prometheus.NewDesc("mosn_downstream_tls_inspector_plaintext_total", "Connections the TLS inspector served as plaintext.", []string{"listener"}, nil)
	descUpTLS         = prometheus.NewDesc("mosn_upstream_tls_handshakes_total", "Completed TLS handshakes with upstream hosts.", []string{"cluster"}, nil)
	descUpTLSFailures = prometheus.NewDesc("mosn_upstream_tls_handshake_failures_total", "Failed TLS handshakes with upstream hosts by reason (each is a connect failure).", []string{"cluster", "reason"}, nil)
	descCertExpiry    = prometheus.NewDesc("mosn_tls_cert_expiry_timestamp_seconds", "When a certificate in use expires (Unix time).", []string{"owner", "subject", "serial"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnActive, descConnTotal, descConnRefused, descBytesIn, descBytesOut, descReqActive, descReqTotal,
		descDuration, descUpReq, descUpActive, descUpConnFail, descUpErrors, descUpTimeouts, descUpProto, descUpHealthy, descUpEjected, descUpEjects, descUpOverflow, descUpConns,
		descUpBytesIn, descUpBytesOut, descReloads, descTLSHandshakes, descTLSResumed, descTLSFailures, descTLSPlaintext,
		descUpTLS, descUpTLSFailures, descCertExpiry} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ok, failed := c.s.ReloadStats()
	ch <- prometheus.MustNewConstMetric(descReloads, counter, float64(ok), "ok")
	ch <- prometheus.MustNewConstMetric(descReloads, counter, float64(failed), "refused")
	for _, rl := range c.s.listeners() {
		n := rl.cfg.Name
		ctr := &rl.ln.Counters
		ch <- prometheus.MustNewConstMetric(descConnActive, gauge, float64(ctr.ConnsActive.Load()), n)
		ch <- prometheus.MustNewConstMetric(descConnTotal, counter, float64(ctr.ConnsTotal.Load()), n)
		ch <- prometheus.MustNewConstMetric(descConnRefused, counter, float64(ctr.ConnsRefused.Load()), n)
		ch <- prometheus.MustNewConstMetric(descBytesIn, counter, float64(ctr.BytesIn.Load()), n)
		ch <- prometheus.MustNewConstMetric(descBytesOut, counter, float64(ctr.BytesOut.Load()), n)
		for _, st := range rl.stats {
			p := st.Protocol
			ch <- prometheus.MustNewConstMetric(descReqActive, gauge, float64(st.Active.Load()), n, p)
			for i := range st.ByClass {
				ch <- prometheus.MustNewConstMetric(descReqTotal, counter, float64(st.ByClass[i].Load()), n, p, metrics.ClassLabel(i))
			}
			buckets, count, sum := st.Duration.Snapshot()
			ch <- prometheus.MustNewConstHistogram(descDuration, count, sum, buckets, n, p)
		}
		if rl.tls != nil {
			st := &rl.tls.Stats
			ch <- prometheus.MustNewConstMetric(descTLSHandshakes, counter, float64(st.Handshakes.Load()), n)
			ch <- prometheus.MustNewConstMetric(descTLSResumed, counter, float64(st.Resumed.Load()), n)
			ch <- prometheus.MustNewConstMetric(descTLSPlaintext, counter, float64(st.Plaintext.Load()), n)
			for _, r := range mosntls.Reasons() {
				ch <- prometheus.MustNewConstMetric(descTLSFailures, counter, float64(st.Failures[r].Load()), n, r.String())
			}
		}
	}
	seen := map[[3]string]bool{} // a certificate listed twice is one series
	for _, ci := range c.s.Certs() {
		if k := [3]string{ci.Owner, ci.Subject, ci.Serial}; !seen[k] {
			seen[k] = true
			ch <- prometheus.MustNewConstMetric(descCertExpiry, gauge, float64(ci.NotAfter.Unix()), ci.Owner, ci.Subject, ci.Serial)
		}
	}
	for _, cl := range c.s.clusters.load().Clusters() {
		if cl.TLS != nil {
			ch <- prometheus.MustNewConstMetric(descUpTLS, counter, float64(cl.TLS.Stats.Handshakes.Load()), cl.Name)
			for _, r := range mosntls.Reasons() {
				ch <- prometheus.MustNewConstMetric(descUpTLSFailures, counter, float64(cl.TLS.Stats.Failures[r].Load()), cl.Name, r.String())
			}
		}
		for _, h := range cl.Hosts {
			ch <- prometheus.MustNewConstMetric(descUpReq, counter, float64(h.Requests.Load()), cl.Name, h.Address)
			ch <- prometheus.MustNewConstMetric(descUpActive, gauge, float64(h.ActiveRequests.Load()), cl.Name, h.Address)
			ch <- prometheus.MustNewConstMetric(descUpConnFail, counter, float64(h.ConnectFailures.Load()), cl.Name, h.Address)
			ch <- prometheus.MustNewConstMetric(descUpErrors, counter, float64(h.Errors.Load()), cl.Name, h.Address)
			ch <- prometheus.MustNewConstMetric(descUpTimeouts, counter, float64(h.Timeouts.Load()), cl.Name, h.Address)
			ch <- prometheus.MustNewConstMetric(descUpProto, counter, float64(h.ProtocolErrors.Load()), cl.Name, h.Address)
			healthy := 0.0
			if h.Healthy() {
				healthy = 1
			}
			ch <- prometheus.MustNewConstMetric(descUpHealthy, gauge, healthy, cl.Name, h.Address)
			ejected := 0.0
			if h.Ejected() {
				ejected = 1
			}
			ch <- prometheus.MustNewConstMetric(descUpEjected, gauge, ejected, cl.Name, h.Address)
			ch <- prometheus.MustNewConstMetric(descUpEjects, counter, float64(h.Ejections.Load()), cl.Name, h.Address)
		}
		var hostOverflows uint64
		for _, h := range cl.Hosts {
			hostOverflows += h.Overflows.Load()
		}
		for _, l := range upstream.Limits() {
			ch <- prometheus.MustNewConstMetric(descUpOverflow, counter, float64(cl.Resources.Overflows(l)), cl.Name, l.String())
		}
		// The cluster's own max_connections caps each host.
		ch <- prometheus.MustNewConstMetric(descUpOverflow, counter, float64(hostOverflows), cl.Name, "max_connections_per_host")
		ctr := c.s.pools.ClusterCounters(cl.Name)
		ch <- prometheus.MustNewConstMetric(descUpConns, gauge, float64(ctr.ConnsActive.Load()), cl.Name)
		ch <- prometheus.MustNewConstMetric(descUpBytesIn, counter, float64(ctr.BytesIn.Load()), cl.Name)
		ch <- prometheus.MustNewConstMetric(descUpBytesOut, counter, float64(ctr.BytesOut.Load()), cl.Name)
	}
}
