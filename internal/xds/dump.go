package xds

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// Dump is the client's state: what /api/v1/config_dump shows under "xds"
// and what `mosnctl xds dump --admin` reads.
type Dump struct {
	Server    string     `json:"server"`
	Node      string     `json:"node"`
	Connected bool       `json:"connected"`
	LastError string     `json:"last_error,omitempty"`
	Types     []TypeDump `json:"types"`
}

// TypeDump is one resource type: the accepted version, when it came, the
// names subscribed (none: wildcard), the last NACK and the resources.
type TypeDump struct {
	Type       string            `json:"type"` // listeners, routes, clusters, endpoints
	TypeURL    string            `json:"type_url"`
	Version    string            `json:"version"`
	LastUpdate *time.Time        `json:"last_update,omitempty"`
	Names      []string          `json:"subscribed_names,omitempty"`
	Warming    []string          `json:"warming,omitempty"` // listeners waiting for their routes
	LastNack   *Nack             `json:"last_nack,omitempty"`
	Accepted   uint64            `json:"pushes_accepted"`
	Rejected   uint64            `json:"pushes_rejected"`
	Resources  []json.RawMessage `json:"resources"`
}

// Dump returns the client's state, resources in protojson, by name.
func (c *Client) Dump() Dump { return c.dump(true) }

// Status is Dump without the resources: cheap enough to poll.
func (c *Client) Status() Dump { return c.dump(false) }

func (c *Client) dump(resources bool) Dump {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := Dump{Server: c.opts.Server, Node: c.opts.Node.GetId(), Connected: c.connected}
	if c.lastErr != nil {
		d.LastError = c.lastErr.Error()
	}
	for _, u := range typeOrder {
		ts := c.types[u]
		td := TypeDump{Type: shortType(u), TypeURL: u, Version: ts.version, Names: slices.Clone(ts.names),
			Accepted: ts.accepted, Rejected: ts.rejected}
		if resources {
			td.Resources = ResourcesJSON(ts.resources)
		}
		if !ts.updated.IsZero() {
			t := ts.updated
			td.LastUpdate = &t
		}
		if ts.nack != nil {
			n := *ts.nack
			td.LastNack = &n
		}
		if u == ListenerType {
			td.Warming = slices.Clone(c.warming)
		}
		d.Types = append(d.Types, td)
	}
	return d
}

// ResourcesJSON renders resources as protojson, sorted by name.
func ResourcesJSON(rs map[string]*anypb.Any) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(rs))
	for _, n := range sortedKeys(rs) {
		m := newMessage(rs[n].GetTypeUrl())
		if rs[n].UnmarshalTo(m) != nil {
			continue
		}
		b, err := protojson.Marshal(m)
		if err != nil {
			continue
		}
		out = append(out, b)
	}
	return out
}

var (
	descPushes    = prometheus.NewDesc("mosn_xds_pushes_total", "xDS responses by type and result: accepted (ACK) or rejected (NACK, the previous version stays).", []string{"type", "result"}, nil)
	descConnected = prometheus.NewDesc("mosn_xds_stream_connected", "1 while the ADS stream is up.", nil, nil)
	descSince     = prometheus.NewDesc("mosn_xds_seconds_since_update", "Seconds since the last accepted push of the type (absent before the first).", []string{"type"}, nil)
)

// Collector exports the client's counters to Prometheus.
func (c *Client) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Client }

func (m collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPushes
	ch <- descConnected
	ch <- descSince
}

func (m collector) Collect(ch chan<- prometheus.Metric) {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	up := 0.0
	if c.connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, up)
	for _, u := range typeOrder {
		ts := c.types[u]
		t := shortType(u)
		ch <- prometheus.MustNewConstMetric(descPushes, prometheus.CounterValue, float64(ts.accepted), t, "accepted")
		ch <- prometheus.MustNewConstMetric(descPushes, prometheus.CounterValue, float64(ts.rejected), t, "rejected")
		if !ts.updated.IsZero() {
			ch <- prometheus.MustNewConstMetric(descSince, prometheus.GaugeValue, time.Since(ts.updated).Seconds(), t)
		}
	}
}
