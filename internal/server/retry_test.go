package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// retryOrigins are two origins: "bad" answers 503 to everything, "good"
// echoes the request body; both count what they get.
func retryOrigins(t *testing.T) (bad, good string, badHits, goodBytes *atomic.Int64) {
	badHits, goodBytes = new(atomic.Int64), new(atomic.Int64)
	bad, _ = startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(503)
	}))
	good, _ = startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		goodBytes.Add(int64(len(b)))
		w.Write(b)
	}))
	return bad, good, badHits, goodBytes
}

// retry_on: true (MOSN's form) retries a 5xx answer on the other host, body
// and all: every request succeeds while one host answers 503 to all.
func TestRetryOn5xxReachesTheOtherHost(t *testing.T) {
	bad, good, badHits, _ := retryOrigins(t)
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "retry_policy": {"retry_on": true, "num_retries": 1}`, bad, good))
	client := newClient()
	for i := range 40 {
		body := fmt.Sprint("request ", i)
		resp, err := client.Post(p.url("in", "/"), "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != body {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if badHits.Load() == 0 {
		t.Errorf("the 503 host was never tried: the test proves nothing")
	}
}

// A request whose body streamed past what is held is not retried: the
// host's 5xx reaches the client after one try. A small streamed body is
// held and sent again whole.
func TestRetryNeverResendsAStreamedBody(t *testing.T) {
	bad, _, badHits, _ := retryOrigins(t)
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "retry_policy": {"retry_on": true, "num_retries": 1}`, bad))
	post := func(n int) int {
		pr, pw := io.Pipe() // the body streams (chunked) after the head
		go func() {
			pw.Write(bytes.Repeat([]byte("x"), n))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", p.url("in", "/"), pr)
		resp, err := newClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(1 << 10); code != 503 || badHits.Load() != 2 {
		t.Errorf("1 KiB streamed body: %d after %d tries, want 503 after 2", code, badHits.Load())
	}
	badHits.Store(0)
	if code := post(1 << 20); code != 503 || badHits.Load() != 1 {
		t.Errorf("1 MiB streamed body: %d after %d tries, want 503 after 1", code, badHits.Load())
	}
}

// Envoy's form: only the listed conditions are retried.
func TestRetryEnvoyForm(t *testing.T) {
	bad, good, badHits, _ := retryOrigins(t)
	for _, tc := range []struct {
		policy  string
		allGood bool
	}{
		{`{"retry_on": "5xx", "num_retries": 1}`, true},
		{`{"retry_on": "retriable-status-codes", "retriable_status_codes": [503], "num_retries": 1}`, true},
		{`{"retry_on": "connect-failure", "num_retries": 1}`, false}, // a 503 answer is not a connect failure
	} {
		badHits.Store(0)
		p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "retry_policy": `+tc.policy, bad, good))
		codes := map[int]int{}
		for range 20 {
			code, _ := get(t, newClient(), p.url("in", "/"))
			codes[code]++
		}
		if tc.allGood && codes[200] != 20 || !tc.allGood && codes[503] == 0 || badHits.Load() == 0 {
			t.Errorf("%s: answers %v, bad host hits %d", tc.policy, codes, badHits.Load())
		}
		p.Shutdown(context.Background())
	}
}

// retry_on "reset": a host that closes the connection after reading the
// request, before answering, is retried on the other host.
func TestRetryOnReset(t *testing.T) {
	resetter := serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf)
		c.Close()
	})
	_, good, _, _ := retryOrigins(t)
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "retry_policy": {"retry_on": "reset", "num_retries": 1}`, resetter, good))
	for i := range 10 {
		if code, _ := get(t, newClient(), p.url("in", "/")); code != 200 {
			t.Fatalf("request %d: %d, want 200 after a retry", i, code)
		}
	}
}

// Bolt: an error status from one host is retried on the other.
func TestBoltRetryOnErrorStatus(t *testing.T) {
	failing := startBoltServer(t, func(*bolt.Frame) (uint16, map[string]string, []byte) {
		return bolt.StatusServerException, nil, nil
	})
	good := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, boltProxyConfig("bolt", `, "retry_policy": {"retry_on": true, "num_retries": 1}`, failing, good))
	c, err := boltrpc.Dial(context.Background(), p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0",
			Content: []byte(fmt.Sprint(i)), Timeout: 5 * time.Second})
		if err != nil || resp.Status != bolt.StatusSuccess || string(resp.Content) != fmt.Sprint(i) {
			t.Fatalf("call %d: %+v %v", i, resp, err)
		}
	}
}

// Under load, one of three hosts killed and brought back again and again:
// with a retry policy no request fails (a connect failure or a connection
// cut before an answer goes to another host), and no goroutine is left
// behind.
func TestRetriesRideOutAHostKilledUnderLoad(t *testing.T) {
	before := runtime.NumGoroutine()
	a, b, c := startNamedOrigin(t, "a"), startNamedOrigin(t, "b"), startNamedOrigin(t, "c")
	// Retries in flight at once outnumber the default max_retries (3) here.
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", `, "retry_policy": {"retry_on": true, "num_retries": 2}`, a.addr, b.addr, c.addr),
		`"connect_timeout": "1s",`, `"connect_timeout": "1s", "circuit_breakers": {"thresholds": [{"max_retries": 100}]},`, 1)
	p := startProxy(t, cfg)
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := newClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				resp, err := client.Get(p.url("in", "/"))
				if err != nil {
					if failed.Add(1) == 1 {
						firstFailure.Store(err.Error())
					}
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && failed.Add(1) == 1 {
					firstFailure.Store(fmt.Sprint(resp.StatusCode, " ", string(b)))
				}
			}
		}()
	}
	for range 6 { // about 3 s: a killed, 250 ms, back, 250 ms
		time.Sleep(250 * time.Millisecond)
		a.Kill()
		time.Sleep(250 * time.Millisecond)
		a.Revive()
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || sent.Load() < 100 {
		t.Errorf("%d of %d requests failed while a host came and went; the first: %v", failed.Load(), sent.Load(), firstFailure.Load())
	}
	p.Shutdown(context.Background())
	a.Kill()
	b.Kill()
	c.Kill()
	waitGoroutines(t, before+4)
}

// Subsets and circuit breakers on Bolt: a route's metadata_match sends
// calls only to the labelled hosts, and max_requests bounds the calls in
// flight against a slow host (the excess gets ServerThreadpoolBusy at once).
func TestBoltSubsetsAndCircuitBreaker(t *testing.T) {
	release := make(chan struct{})
	var slowCalls atomic.Int64
	handler := func(name string) boltrpc.Handler {
		return func(f *bolt.Frame) (uint16, map[string]string, []byte) {
			if svc, _ := f.Get("service"); strings.HasPrefix(string(svc), "com.example.Slow") {
				slowCalls.Add(1)
				<-release
			}
			return bolt.StatusSuccess, nil, []byte(name)
		}
	}
	v1, v2 := startBoltServer(t, handler("v1")), startBoltServer(t, handler("v2"))
	host := func(addr, version string) string {
		return fmt.Sprintf(`{"address": %q, "metadata": {"filter_metadata": {"mosn.lb": {"version": %q}}}}`, addr, version)
	}
	cfg := strings.Replace(boltProxyConfig("bolt", `, "metadata_match": {"filter_metadata": {"mosn.lb": {"version": "v2"}}}`, v1),
		fmt.Sprintf(`{"address": %q}`, v1), host(v1, "v1")+","+host(v2, "v2"), 1)
	cfg = strings.Replace(cfg, `"timeout": "200ms"`, `"timeout": "10s"`, 1)
	cfg = strings.Replace(cfg, `"connect_timeout": "1s",`, `"connect_timeout": "1s", "lb_subset_config": {"fall_back_policy": 1, "subset_selectors": [["version"]]},
	  "circuit_breakers": {"thresholds": [{"max_requests": 2}]},`, 1)
	p := startProxy(t, cfg)
	c, err := boltrpc.Dial(context.Background(), p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func(svc string) *boltrpc.Response {
		resp, err := c.Call(context.Background(), &boltrpc.Request{Service: svc, Timeout: 10 * time.Second})
		if err != nil {
			t.Error(err)
			return &boltrpc.Response{}
		}
		return resp
	}
	for range 10 {
		if r := call("com.example.EchoService:1.0"); r.Status != bolt.StatusSuccess || string(r.Content) != "v2" {
			t.Fatalf("call with metadata_match v2: %+v", r)
		}
	}
	// The slow route has no metadata_match: any host (fall_back_policy 1);
	// two calls hold both request slots.
	done := make(chan *boltrpc.Response, 2)
	for range 2 {
		go func() { done <- call("com.example.SlowService:1.0") }()
	}
	waitFor(t, "two slow calls in flight", func() bool { return slowCalls.Load() == 2 })
	for range 3 {
		if r := call("com.example.EchoService:1.0"); r.Status != bolt.StatusServerThreadpoolBusy {
			t.Errorf("call over max_requests: status %d, want %d", r.Status, bolt.StatusServerThreadpoolBusy)
		}
	}
	close(release)
	for range 2 {
		if r := <-done; r.Status != bolt.StatusSuccess {
			t.Errorf("slow call: %+v", r)
		}
	}
}
