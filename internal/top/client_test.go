package top

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveAdmin runs a real HTTP server on loopback answering the admin API's
// paths with h.
func serveAdmin(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestClientFetch(t *testing.T) {
	want := busySnapshot(3)
	var streamsQuery string
	addr := serveAdmin(t, func(w http.ResponseWriter, r *http.Request) {
		var v any
		switch r.URL.Path {
		case "/api/v1/stats":
			v = want.Stats
		case "/api/v1/listeners":
			v = want.Listeners
		case "/api/v1/clusters":
			v = want.Clusters
		case "/api/v1/streams":
			streamsQuery = r.URL.RawQuery
			v = want.Streams
		default:
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(v)
	})
	c, err := NewClient(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Fetch(context.Background(), StreamsQuery{Limit: 7, Sort: "bytes"})
	if err != nil {
		t.Fatal(err)
	}
	if streamsQuery != "limit=7&sort=bytes" {
		t.Errorf("streams query = %q", streamsQuery)
	}
	if got.Admin != "http://"+addr || len(got.Listeners) != 3 || len(got.Clusters) != 2 ||
		len(got.Streams.Streams) != 31 || got.Stats.RequestsTotal != want.Stats.RequestsTotal {
		t.Errorf("snapshot = %+v", got)
	}
}

func TestClientErrors(t *testing.T) {
	broken := serveAdmin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/stats" {
			w.Write([]byte("{not json"))
			return
		}
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	failing := serveAdmin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/stats" {
			w.Write([]byte("{}"))
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct{ addr, want string }{
		{broken, "admin /api/v1/stats: decode"},
		{failing, "admin /api/v1/listeners: 503 Service Unavailable: not ready"},
		{closed, "admin /api/v1/stats: dial tcp"},
	}
	for _, tt := range tests {
		c, err := NewClient(tt.addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Fetch(context.Background(), StreamsQuery{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.addr, err, tt.want)
		}
		c.Close()
	}
	for _, bad := range []string{"http://", "://x", ""} {
		if _, err := NewClient(bad, time.Second); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
}

func TestWriteTablesGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTables(&b, busySnapshot(3), 120); err != nil {
		t.Fatal(err)
	}
	golden(t, "once-table", b.String())
	b.Reset()
	if err := WriteJSON(&b, emptySnapshot(t0, 5)); err != nil {
		t.Fatal(err)
	}
	golden(t, "once-empty-json", b.String())
}
