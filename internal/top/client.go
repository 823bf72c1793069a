// Package top is the engine of `mosnctl top`: a client of the proxy's admin
// API and a bubbletea model that turns successive snapshots into rates,
// sparklines and tables. It reads the proxy only through the admin API's
// JSON (using the admin package's types) and imports no layer of the data
// path.
package top

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mosnctl/mosnctl/internal/admin"
)

// Snapshot is one poll of the admin API.
type Snapshot struct {
	Admin     string               `json:"admin"`
	Stats     admin.Stats          `json:"stats"`
	Listeners []admin.ListenerInfo `json:"listeners"`
	Clusters  []admin.ClusterInfo  `json:"clusters"`
	Streams   admin.StreamList     `json:"streams"`
}

// StreamsQuery is what a poll asks of /api/v1/streams.
type StreamsQuery struct {
	Limit int    // 0: the server's default
	Sort  string // "age" (default) or "bytes"
}

// Client polls one admin API.
type Client struct {
	base string
	http *http.Client
}

// NewClient makes a client of the admin API at addr (host:port, or a URL).
// timeout bounds each request.
func NewClient(addr string, timeout time.Duration) (*Client, error) {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("admin address %q: want host:port or http://host:port", addr)
	}
	// No keep-alive pool beyond one connection: a top polls once a second.
	tr := &http.Transport{MaxIdleConns: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second, DisableCompression: true}
	return &Client{base: strings.TrimRight(u.String(), "/"), http: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// Addr is the admin API's base URL.
func (c *Client) Addr() string { return c.base }

// Close drops the client's idle connection.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Fetch takes one snapshot: stats, listeners, clusters and streams.
func (c *Client) Fetch(ctx context.Context, q StreamsQuery) (*Snapshot, error) {
	s := &Snapshot{Admin: c.base}
	if err := c.get(ctx, "/api/v1/stats", &s.Stats); err != nil {
		return nil, err
	}
	if err := c.get(ctx, "/api/v1/listeners", &s.Listeners); err != nil {
		return nil, err
	}
	if err := c.get(ctx, "/api/v1/clusters", &s.Clusters); err != nil {
		return nil, err
	}
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	path := "/api/v1/streams"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	if err := c.get(ctx, path, &s.Streams); err != nil {
		return nil, err
	}
	return s, nil
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return fmt.Errorf("admin %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("admin %s: decode: %w", path, err)
	}
	return nil
}

// unwrapURLError drops net/http's `Get "url":` prefix: the path is named
// already.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
