package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startHTTP starts a net/http origin on loopback speaking HTTP/1.1 and h2c.
func startHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// startTCP runs serve for every connection accepted on a loopback listener.
func startTCP(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func echo(c net.Conn) { io.Copy(c, c) }

type counter struct{ n atomic.Int64 }

func (c *counter) handler(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func TestExactCountsWithN(t *testing.T) {
	var cnt counter
	httpURL := startHTTP(t, cnt.handler(200, "hello"))
	ts := httptest.NewUnstartedServer(cnt.handler(200, "hello"))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tcpAddr := startTCP(t, echo)

	tests := []struct {
		name     string
		cfg      Config
		protocol string
		server   bool // the origin counts requests
	}{
		{"http1", Config{Targets: []string{httpURL + "/x"}, Conns: 3}, "http1", true},
		{"http1 post", Config{Targets: []string{httpURL + "/x"}, Conns: 2, Body: []byte("payload"), Headers: []string{"X-Test: 1"}}, "http1", true},
		{"h2c", Config{Targets: []string{httpURL + "/x"}, Conns: 2, Streams: 4, H2: true}, "h2c", true},
		{"h2 tls", Config{Targets: []string{ts.URL + "/x"}, Conns: 2, Streams: 3, H2: true, Insecure: true}, "h2", true},
		{"http1 tls", Config{Targets: []string{ts.URL + "/x"}, Conns: 2, Insecure: true}, "http1-tls", true},
		{"tcp echo", Config{Targets: []string{"tcp://" + tcpAddr}, Conns: 3, Body: []byte("ping")}, "tcp", false},
	}
	for _, tt := range tests {
		for _, io := range []string{IOGoroutines, IOEventLoop} {
			tt := tt
			tt.cfg.IO = io
			t.Run(tt.name+" "+io, func(t *testing.T) {
				exactCount(t, &cnt, tt.cfg, tt.protocol, tt.server)
			})
		}
	}
}

func exactCount(t *testing.T, cnt *counter, cfg Config, protocol string, server bool) {
	tt := struct {
		cfg      Config
		protocol string
		server   bool
	}{cfg, protocol, server}
	{
		{
			cnt.n.Store(0)
			tt.cfg.Requests = 1001
			tt.cfg.Timeout = 10 * time.Second
			res := run(t, tt.cfg)
			if res.Requests != 1001 || res.Responses != 1001 || res.Errors.Total != 0 {
				t.Fatalf("requests %d responses %d errors %+v, want 1001/1001/none", res.Requests, res.Responses, res.Errors)
			}
			if tt.server && cnt.n.Load() != 1001 {
				t.Errorf("origin saw %d requests, want 1001", cnt.n.Load())
			}
			if res.Protocol != tt.protocol {
				t.Errorf("protocol %q, want %q", res.Protocol, tt.protocol)
			}
			if tt.server && res.Status["200"] != 1001 {
				t.Errorf("status counts %v", res.Status)
			}
			if res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || res.Bytes == 0 {
				t.Errorf("latency %+v bytes %d", res.Latency, res.Bytes)
			}
		}
	}
}

func TestHTTP1ResponseFraming(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "chunk %d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 300<<10))
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	u := startHTTP(t, mux)
	for _, path := range []string{"/chunked", "/close", "/big", "/empty"} {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+path, func(t *testing.T) {
				res := run(t, Config{Targets: []string{u + path}, Conns: 2, Requests: 101, Method: method, Timeout: 10 * time.Second})
				if res.Responses != 101 || res.Errors.Total != 0 {
					t.Fatalf("responses %d errors %+v", res.Responses, res.Errors)
				}
			})
		}
	}
	// A 300 KiB body over h2 needs the connection window given back.
	res := run(t, Config{Targets: []string{u + "/big"}, Conns: 1, Streams: 2, H2: true, Requests: 40, Timeout: 10 * time.Second})
	if res.Responses != 40 || res.Errors.Total != 0 || res.Bytes < 40*300<<10 {
		t.Fatalf("h2 big: responses %d errors %+v bytes %d", res.Responses, res.Errors, res.Bytes)
	}
}

func TestWeightsSplitRequests(t *testing.T) {
	var a, b atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { a.Add(1) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { b.Add(1) })
	u := startHTTP(t, mux)
	res := run(t, Config{Targets: []string{u + "/a", u + "/b"}, Weights: []int{3, 1}, Conns: 2, Requests: 4000})
	if res.Responses != 4000 {
		t.Fatalf("responses %d", res.Responses)
	}
	share := float64(a.Load()) / 4000
	if share < 0.70 || share > 0.80 {
		t.Errorf("/a got %.3f of the requests, want about 0.75 (a=%d b=%d)", share, a.Load(), b.Load())
	}
}

func TestOpenLoopHoldsRate(t *testing.T) {
	var cnt counter
	u := startHTTP(t, cnt.handler(200, "ok"))
	// 2000/s for 0.5 s over 4 connections: the schedule has exactly 1000
	// intended sends. The count does not depend on how fast this machine
	// is: sends that come late are still made (and their latency counted
	// from when they were due).
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			res := run(t, Config{Targets: []string{u}, Conns: 4, Streams: 2, H2: h2, Rate: 2000, Duration: 500 * time.Millisecond})
			if res.Requests < 980 || res.Requests > 1020 {
				t.Fatalf("open loop made %d requests, want 1000 ± 2%%", res.Requests)
			}
			if res.RateTarget != 2000 {
				t.Errorf("rate_target %v", res.RateTarget)
			}
		})
	}
}

func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	// One connection, a 20 ms origin and a send due every 5 ms: the
	// requests queue up, and their latency must include the time spent
	// waiting for the connection (no coordinated omission); a closed-loop
	// measurement would say 20 ms.
	u := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}))
	res := run(t, Config{Targets: []string{u}, Conns: 1, Rate: 200, Duration: 200 * time.Millisecond})
	if res.Requests != 40 {
		t.Fatalf("requests %d, want 40", res.Requests)
	}
	if res.Latency.Max < 300 {
		t.Errorf("max latency %.1fms: the queueing delay was not counted", res.Latency.Max)
	}
}

func TestErrorClassification(t *testing.T) {
	var cnt counter
	fiveXX := startHTTP(t, cnt.handler(503, "busy"))
	fourXX := startHTTP(t, cnt.handler(404, "nope"))
	reset := startTCP(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		c.(*net.TCPConn).SetLinger(0) // close with RST
	})
	silent := startTCP(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	garbage := startTCP(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			io.WriteString(c, "SPDY/9 what\r\n\r\n")
		}
	})
	tests := []struct {
		name string
		cfg  Config
		want func(e Errors) uint64
		h2   bool
	}{
		{"5xx", Config{Targets: []string{fiveXX}}, func(e Errors) uint64 { return e.Status5xx }, false},
		{"5xx h2", Config{Targets: []string{fiveXX}, H2: true}, func(e Errors) uint64 { return e.Status5xx }, true},
		{"4xx", Config{Targets: []string{fourXX}}, func(e Errors) uint64 { return e.Status4xx }, false},
		{"reset", Config{Targets: []string{"http://" + reset}}, func(e Errors) uint64 { return e.Reset }, false},
		{"timeout", Config{Targets: []string{"http://" + silent}, Timeout: 100 * time.Millisecond}, func(e Errors) uint64 { return e.Timeout }, false},
		{"timeout tcp", Config{Targets: []string{"tcp://" + silent}, Timeout: 100 * time.Millisecond}, func(e Errors) uint64 { return e.Timeout }, false},
		{"protocol", Config{Targets: []string{"http://" + garbage}}, func(e Errors) uint64 { return e.Protocol }, false},
		{"connect", Config{Targets: []string{"refused"}}, func(e Errors) uint64 { return e.Connect }, false},
	}
	for _, tt := range tests {
		for _, io := range []string{IOGoroutines, IOEventLoop} {
			t.Run(tt.name+" "+io, func(t *testing.T) {
				cfg := tt.cfg
				cfg.Conns, cfg.Requests, cfg.IO = 1, 5, io
				if cfg.Timeout == 0 {
					cfg.Timeout = 10 * time.Second
				}
				probe := true
				if cfg.Targets[0] == "refused" {
					// A closed port, and no probe to stop the run first.
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					cfg.Targets, probe = []string{"http://" + ln.Addr().String()}, false
					ln.Close()
				}
				res, err := runConfig(t.Context(), cfg, probe)
				if err != nil {
					t.Fatal(err)
				}
				if got := tt.want(res.Errors); got != 5 || res.Errors.Total != 5 || res.Requests != 5 {
					t.Fatalf("errors %+v requests %d: want 5 of this kind and no other", res.Errors, res.Requests)
				}
			})
		}
	}
}

func TestBadInputIsUsageError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, cfg := range []Config{
		{Targets: []string{"http://" + closed + "/"}, Conns: 1, Requests: 1},
		{Targets: []string{"ftp://x/"}, Conns: 1},
		{Targets: []string{"http://%zz"}, Conns: 1},
		{Targets: []string{"tcp://127.0.0.1"}, Conns: 1},
		{Targets: []string{"http://127.0.0.1:1/", "http://127.0.0.1:2/"}, Conns: 1},
		{Targets: []string{"http://127.0.0.1:1/"}, Conns: 0},
		{Targets: []string{"http://127.0.0.1:1/"}, Conns: 1, Headers: []string{"no colon"}},
		{Targets: []string{"http://127.0.0.1:1/"}, Conns: 1, Weights: []int{1, 2}},
		{},
	} {
		_, err := Run(context.Background(), cfg)
		if err == nil || !IsUsage(err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err %v, want a one-line usage error", cfg.Targets, err)
		}
	}
}

func TestCancelStopsRun(t *testing.T) {
	u := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	res, err := Run(ctx, Config{Targets: []string{u}, Conns: 2, Duration: time.Minute})
	if err != nil || !res.Interrupted {
		t.Fatalf("err %v interrupted %v", err, res != nil && res.Interrupted)
	}
}

func TestWarmupIsNotRecorded(t *testing.T) {
	var cnt counter
	u := startHTTP(t, cnt.handler(200, "ok"))
	for _, io := range []string{IOGoroutines, IOEventLoop} {
		cnt.n.Store(0)
		res := run(t, Config{Targets: []string{u}, Conns: 2, Requests: 100, Warmup: 300 * time.Millisecond, IO: io})
		if res.Requests != 100 || res.Latency.P50 <= 0 {
			t.Fatalf("%s: requests %d", io, res.Requests)
		}
		// The origin also answered the warmup requests.
		if cnt.n.Load() <= 100 {
			t.Errorf("%s: origin saw %d requests; the warmup sent none", io, cnt.n.Load())
		}
	}
}

func TestDurationEndsOnSilentServer(t *testing.T) {
	// No timeout, a server that never answers: a -d run still ends, after
	// the end plus the grace period, and counts nothing it did not see.
	silent := startTCP(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	for _, io := range []string{IOGoroutines, IOEventLoop} {
		cfg := Config{Targets: []string{"http://" + silent}, Conns: 2, Duration: 50 * time.Millisecond, IO: io, grace: 100 * time.Millisecond}
		res, err := Run(t.Context(), cfg)
		if err != nil || res.Responses != 0 || res.Errors.Total != 0 {
			t.Fatalf("%s: err %v responses %d errors %+v", io, err, res.Responses, res.Errors)
		}
	}
}
