package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// faultFilters are a listener's stream_filters: requests with x-fault: abort
// get 503 from the proxy; those with x-fault: delay wait 300ms.
const faultFilters = `"stream_filters": [
  {"type": "fault", "config": {"abort": {"status": 503, "percentage": 100}, "headers": [{"name": "x-fault", "value": "abort"}]}},
  {"type": "fault", "config": {"delay": {"fixed_delay": "300ms", "percentage": 100}, "headers": [{"name": "x-fault", "value": "delay"}]}}],`

// A stream filter stops an HTTP/1 request with a local reply, or holds it
// and lets it go on; requests it does not select pass untouched.
func TestStreamFilterHTTP1(t *testing.T) {
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin") }))
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin), `"name": "in", "address": "127.0.0.1:0",`,
		`"name": "in", "address": "127.0.0.1:0", `+faultFilters, 1)
	p := startProxy(t, cfg)
	client := newClient()
	do := func(fault string) (int, string, time.Duration) {
		req, _ := http.NewRequest("GET", p.url("in", "/x"), nil)
		req.Header.Set("x-fault", fault)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	if code, body, _ := do("none"); code != 200 || body != "origin" {
		t.Errorf("unselected request: %d %q", code, body)
	}
	if code, body, _ := do("abort"); code != 503 || !strings.Contains(body, "fault filter abort") {
		t.Errorf("aborted request: %d %q", code, body)
	}
	if code, body, took := do("delay"); code != 200 || body != "origin" || took < 300*time.Millisecond {
		t.Errorf("delayed request: %d %q after %v, want 200 after at least 300ms", code, body, took)
	}
}

// The same filters on a Bolt listener: an aborted call gets Bolt's status
// for 503, a delayed one is answered after its delay while the calls behind
// it on the same connection go on.
func TestStreamFilterBolt(t *testing.T) {
	up := startBoltServer(t, boltrpc.EchoHandler)
	cfg := strings.Replace(boltProxyConfig("bolt", "", up), `"name": "in", "address": "127.0.0.1:0",`,
		`"name": "in", "address": "127.0.0.1:0", `+faultFilters, 1)
	p := startProxy(t, cfg)
	ctx := context.Background()
	c, err := boltrpc.Dial(ctx, p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func(fault string) (*boltrpc.Response, error) {
		return c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo",
			Headers: map[string]string{"x-fault": fault}, Content: []byte("hi"), Timeout: 5 * time.Second})
	}
	resp, err := call("abort")
	if err != nil || resp.Status != bolt.StatusServerThreadpoolBusy {
		t.Fatalf("aborted call: %+v %v, want status %d", resp, err, bolt.StatusServerThreadpoolBusy)
	}
	delayed := make(chan error, 1)
	start := time.Now()
	go func() {
		resp, err := call("delay")
		switch {
		case err != nil:
			delayed <- err
		case resp.Status != bolt.StatusSuccess || string(resp.Content) != "hi":
			delayed <- fmt.Errorf("delayed call: %+v", resp)
		case time.Since(start) < 300*time.Millisecond:
			delayed <- fmt.Errorf("delayed call answered after %v, before its 300ms delay", time.Since(start))
		default:
			delayed <- nil
		}
	}()
	// Calls behind the held one on the same connection are answered first.
	for range 5 {
		if resp, err := call("none"); err != nil || resp.Status != bolt.StatusSuccess {
			t.Fatalf("call beside a held one: %+v %v", resp, err)
		}
	}
	select {
	case err := <-delayed:
		t.Fatalf("the delayed call finished before the calls behind it: %v", err)
	default:
	}
	if err := <-delayed; err != nil {
		t.Fatal(err)
	}
}

// Stream filters on a listener that cannot run them are refused.
func TestStreamFilterNeedsProxy(t *testing.T) {
	cfg := strings.Replace(tcpProxyConfig(closedAddr(t), ""), `"name": "tcp", "address": "127.0.0.1:0",`,
		`"name": "tcp", "address": "127.0.0.1:0", `+faultFilters, 1)
	c := parseForTest(t, cfg)
	if _, err := New(c, Options{AdminAddr: "off"}); err == nil || !strings.Contains(err.Error(), "stream filters need a proxy network filter") {
		t.Fatalf("New: %v", err)
	}
}

// A Bolt call whose try outlives the per-try timeout (retry_timeout) goes to
// the next host; the response of the first, if it ever comes, is dropped.
func TestBoltPerTryTimeoutRetriesOnTheNextHost(t *testing.T) {
	silent := serveTCP(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
	echo := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, boltProxyConfig("bolt", `, "timeout": "20s", "retry_policy": {"retry_on": true, "num_retries": 1, "retry_timeout": "300ms"}`, silent, echo))
	ctx := context.Background()
	c, err := boltrpc.Dial(ctx, p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 4 {
		resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo",
			Content: []byte(fmt.Sprint("call ", i)), Timeout: 5 * time.Second})
		if err != nil || resp.Status != bolt.StatusSuccess || string(resp.Content) != fmt.Sprint("call ", i) {
			t.Fatalf("call %d: %+v %v", i, resp, err)
		}
	}
}

// flowControlFilter at 5 QPS lets 5 requests of its resource through at
// once and answers the excess with its action; other resources pass. On
// Bolt the resource is a header (mosnctl's HEADER key type).
func TestFlowControlFiveQPS(t *testing.T) {
	const rule = `"rules": [{"resource": %q, "grade": 1, "threshold": 5, "strategy": 0}]`
	flow := func(key, resource string) string {
		return `"stream_filters": [{"type": "flowControlFilter", "config": {"global_switch": true, ` + key +
			`"action": {"status": 429, "body": "slow down"}, ` + fmt.Sprintf(rule, resource) + `}}],`
	}
	t.Run("http1", func(t *testing.T) {
		origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin), `"name": "in", "address": "127.0.0.1:0",`,
			`"name": "in", "address": "127.0.0.1:0", `+flow(`"limit_key_type": "PATH", `, "/limited"), 1)
		p := startProxy(t, cfg)
		client := newClient()
		passed, blocked := 0, 0
		for range 20 {
			switch code, body := get(t, client, p.url("in", "/limited")); {
			case code == 200:
				passed++
			case code == 429 && body == "slow down":
				blocked++
			default:
				t.Fatalf("/limited: %d %q", code, body)
			}
		}
		// 5 at once; 20 quick requests leave time for one more at most on a
		// slow machine.
		if passed < 5 || passed > 7 || passed+blocked != 20 {
			t.Errorf("/limited: %d passed, %d blocked; want 5 passed", passed, blocked)
		}
		for range 10 {
			if code, _ := get(t, client, p.url("in", "/free")); code != 200 {
				t.Fatalf("/free (no rule): %d", code)
			}
		}
	})
	t.Run("bolt", func(t *testing.T) {
		up := startBoltServer(t, boltrpc.EchoHandler)
		cfg := strings.Replace(boltProxyConfig("bolt", "", up), `"name": "in", "address": "127.0.0.1:0",`,
			`"name": "in", "address": "127.0.0.1:0", `+flow(`"limit_key_type": "HEADER", "limit_key_header": "service", `,
				"com.example.EchoService:1.0"), 1)
		p := startProxy(t, cfg)
		c, err := boltrpc.Dial(context.Background(), p.addr("in"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		passed := 0
		for range 20 {
			resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0", Content: []byte("x"), Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status == bolt.StatusSuccess {
				passed++
			} else if resp.Status != bolt.StatusServerThreadpoolBusy {
				t.Fatalf("blocked call: status %d, want %d (429)", resp.Status, bolt.StatusServerThreadpoolBusy)
			}
		}
		if passed < 5 || passed > 7 {
			t.Errorf("%d of 20 calls passed, want 5", passed)
		}
	})
}

// A fault filter aborting 50% of the requests aborts about half of 200.
func TestFaultAbortShare(t *testing.T) {
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin), `"name": "in", "address": "127.0.0.1:0",`,
		`"name": "in", "address": "127.0.0.1:0", "stream_filters": [{"type": "fault", "config": {"abort": {"status": 418, "percentage": 50}}}],`, 1)
	p := startProxy(t, cfg)
	client := newClient()
	aborted := 0
	for range 200 {
		code, _ := get(t, client, p.url("in", "/"))
		if code == 418 {
			aborted++
		} else if code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if aborted < 70 || aborted > 130 { // 50% ± 15%
		t.Errorf("%d of 200 aborted, want about 100", aborted)
	}
}
