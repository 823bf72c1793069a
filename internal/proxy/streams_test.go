package proxy

import (
	"sync"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

func TestStreamTrackerLifecycle(t *testing.T) {
	var tr StreamTracker
	start := time.Unix(1700000000, 0)
	route := &router.Route{VirtualHost: "v", MatchedPrefix: []byte("/slow")}
	cluster := &upstream.Cluster{Name: "origin"}
	host := &upstream.Host{Address: "10.0.0.1:80"}

	var a, b trackedStream
	a.listener, a.protocol = "in", "HTTP/1.1"
	b.listener, b.protocol = "rpc", "bolt"
	tr.register(&a, 1)
	tr.register(&b, 17) // same shard as a: exercises the list links
	if n := tr.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	if got := tr.Snapshot(nil, nil); len(got) != 0 {
		t.Fatalf("idle entries listed: %+v", got)
	}

	tr.begin(&a, start)
	a.setRoute(route)
	a.setCluster(cluster)
	a.setHost(host)
	a.setState(StreamWaiting)
	a.setBytesIn(10)
	a.addBytesIn(5)
	a.setBytesOut(7)
	tr.begin(&b, start.Add(time.Second))

	got := tr.Snapshot(nil, nil)
	if len(got) != 2 {
		t.Fatalf("got %d streams, want 2", len(got))
	}
	byListener := map[string]StreamSnapshot{}
	for _, s := range got {
		byListener[s.Listener] = s
	}
	s := byListener["in"]
	if s.State != StreamWaiting || s.Route != route || s.Cluster != "origin" || s.Host != "10.0.0.1:80" ||
		s.BytesIn != 15 || s.BytesOut != 0 || !s.Start.Equal(start) || s.Protocol != "HTTP/1.1" {
		t.Errorf("HTTP/1 stream = %+v (bytes out are shown from responding on)", s)
	}
	a.setState(StreamResponding)
	for _, s := range tr.Snapshot(nil, nil) {
		if s.Listener == "in" && (s.BytesOut != 7 || s.ID != byListener["in"].ID) {
			t.Errorf("responding: %+v", s)
		}
	}
	if bs := byListener["rpc"]; bs.State != StreamRouting || bs.Cluster != "" || bs.ID == s.ID {
		t.Errorf("bolt stream = %+v (other id %d)", bs, s.ID)
	}

	only := tr.Snapshot(nil, func(s *StreamSnapshot) bool { return s.Cluster == "origin" })
	if len(only) != 1 || only[0].Listener != "in" {
		t.Errorf("filtered snapshot = %+v", only)
	}

	// A new request on the connection does not show what the last one set
	// until it has set its own.
	a.setState(StreamIdle)
	tr.begin(&a, start.Add(2*time.Second))
	for _, s := range tr.Snapshot(nil, nil) {
		if s.Listener == "in" && (s.Route != nil || s.Cluster != "" || s.Host != "" || s.BytesIn != 0 || s.BytesOut != 0) {
			t.Errorf("a new request shows the last one's fields: %+v", s)
		}
	}
	other := &upstream.Host{Address: "10.0.0.2:80"}
	a.setHost(other)
	for _, s := range tr.Snapshot(nil, nil) {
		if s.Listener == "in" && (s.State != StreamConnecting || s.Host != "10.0.0.2:80" || s.BytesIn != 0) {
			t.Errorf("connecting: %+v", s)
		}
	}

	tr.unregister(&a)
	tr.unregister(&a) // twice is harmless
	if n := tr.Len(); n != 1 {
		t.Fatalf("Len after unregister = %d, want 1", n)
	}
	tr.unregister(&b)
	if n := tr.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}

func TestStreamTrackerNil(t *testing.T) {
	var tr *StreamTracker
	if got := tr.Snapshot(nil, nil); got != nil {
		t.Errorf("nil tracker listed %v", got)
	}
	var e *trackedStream // tracking off: setters are no-ops
	e.setState(StreamWaiting)
	e.setRoute(nil)
	e.setCluster(nil)
	e.setHost(nil)
	e.setBytesIn(1)
	e.addBytesIn(1)
	e.setBytesOut(1)
}

// TestStreamTrackerConcurrent runs registrations, updates and snapshots at
// once; under -race it proves the request path and listing share nothing
// unguarded.
func TestStreamTrackerConcurrent(t *testing.T) {
	var tr StreamTracker
	host := &upstream.Host{Address: "h"}
	stop := make(chan struct{})
	var wg, reader sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				var e trackedStream
				e.listener = "in"
				tr.register(&e, uint32(w*1000+i))
				tr.begin(&e, time.Now())
				e.setHost(host)
				e.setBytesOut(int64(i))
				e.setState(StreamIdle)
				tr.unregister(&e)
			}
		}()
	}
	reader.Add(1)
	go func() {
		defer reader.Done()
		for {
			select {
			case <-stop:
				return
			default:
				tr.Snapshot(nil, nil)
			}
		}
	}()
	wg.Wait()
	close(stop)
	reader.Wait()
	if n := tr.Len(); n != 0 {
		t.Errorf("Len = %d after every entry left", n)
	}
}

func TestStreamStateNames(t *testing.T) {
	for s := StreamIdle; s <= StreamResponding; s++ {
		got, ok := ParseStreamState(s.String())
		if !ok || got != s {
			t.Errorf("ParseStreamState(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if _, ok := ParseStreamState("stuck"); ok {
		t.Error("unknown state name parsed")
	}
	if StreamState(99).String() != "unknown" {
		t.Error("out-of-range state has a name")
	}
}

func TestRouteName(t *testing.T) {
	tests := []struct {
		r    *router.Route
		want string
	}{
		{nil, ""},
		{&router.Route{VirtualHost: "v", MatchedPrefix: []byte("/api")}, "v /api"},
		{&router.Route{VirtualHost: "rpc"}, "rpc *"},
	}
	for _, tt := range tests {
		if got := RouteName(tt.r); got != tt.want {
			t.Errorf("RouteName = %q, want %q", got, tt.want)
		}
	}
}

// BenchmarkStreamTrackerRequest is what tracking adds to one HTTP/1 request:
// the stores ServeConn's request path makes into its connection's entry.
func BenchmarkStreamTrackerRequest(b *testing.B) {
	var tr StreamTracker
	var e trackedStream
	tr.register(&e, 0)
	route := &router.Route{VirtualHost: "v"}
	cluster := &upstream.Cluster{Name: "c"}
	host := &upstream.Host{Address: "h"}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		tr.begin(&e, now)
		e.setRoute(route)
		e.setCluster(cluster)
		e.setHost(host)
		e.setBytesIn(0)
		e.setState(StreamWaiting)
		e.setBytesOut(200)
		e.setState(StreamResponding)
		e.setState(StreamIdle)
	}
}

// BenchmarkStreamTrackerRegister is a Bolt request's (or an HTTP/1
// connection's) registration: link and unlink under a shard lock.
func BenchmarkStreamTrackerRegister(b *testing.B) {
	var tr StreamTracker
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var e trackedStream
		i := uint32(0)
		for pb.Next() {
			i++
			tr.register(&e, i)
			tr.unregister(&e)
		}
	})
}
