package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// statusRetryOrigins are two origins, h2c or HTTP/1: "bad" reads the
// request and answers 503 with a body and an X-Bad header, "good" echoes
// the request body; both count their requests.
func statusRetryOrigins(t *testing.T, h2 bool) (bad, good string, badHits, goodHits *atomic.Int64) {
	badHits, goodHits = new(atomic.Int64), new(atomic.Int64)
	start := func(h http.Handler) string {
		if h2 {
			return startH2cOrigin(t, h)
		}
		addr, _ := startOrigin(t, h)
		return addr
	}
	bad = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Bad", "yes")
		w.WriteHeader(503)
		io.WriteString(w, "the bad host's answer\n")
	}))
	good = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goodHits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	return bad, good, badHits, goodHits
}

// postBody sends size bytes to url, with a length or streamed after the
// head (no length: chunked on HTTP/1, DATA frames after HEADERS on HTTP/2).
func postBody(t *testing.T, c *http.Client, url string, size int, streamed bool) (*http.Response, []byte) {
	t.Helper()
	body := bytes.Repeat([]byte("r"), size)
	var rd io.Reader = bytes.NewReader(body)
	if streamed {
		pr, pw := io.Pipe()
		go func() {
			time.Sleep(5 * time.Millisecond) // the head goes first
			pw.Write(body)
			pw.Close()
		}()
		rd = pr
	}
	req, _ := http.NewRequest("POST", url, rd)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %d bytes (streamed %v): %v", size, streamed, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("POST %d bytes (streamed %v): body: %v", size, streamed, err)
	}
	return resp, got
}

// A route retrying 5xx (or 503 as a retriable status code) retries an
// HTTP/2 or converted upstream's 503: the failed answer's head and body
// never reach the client, the request (body and all, sized or streamed)
// goes to the other host, and every client gets its echo. A body past what
// is held (64 KiB) is not sent again: the 503 reaches the client after one
// try. Without a retry policy the 503 is relayed.
func TestHTTP2RetryOnStatus(t *testing.T) {
	for _, pair := range []struct {
		down, up string
	}{{"Http2", "Http2"}, {"Http2", "Http1"}, {"Http1", "Http2"}} {
		for _, policy := range []string{
			`{"retry_on": "5xx", "num_retries": 1}`,
			`{"retry_on": "retriable-status-codes", "retriable_status_codes": [503], "num_retries": 1}`,
		} {
			t.Run(pair.down+"-"+pair.up+" "+policy, func(t *testing.T) {
				bad, good, badHits, goodHits := statusRetryOrigins(t, pair.up == "Http2")
				c := newClient()
				if pair.down == "Http2" {
					c = h2cClient()
				}
				p := startProxy(t, h2ProxyConfig(pair.down, pair.up, `, "retry_policy": `+policy, bad, good))
				const n = 12
				for i := range n {
					size, streamed := []int{0, 100, 10 << 10}[i%3], i%2 == 1
					resp, got := postBody(t, c, p.url("in", "/echo"), size, streamed)
					if resp.StatusCode != 200 || len(got) != size || resp.Header.Get("X-Bad") != "" {
						t.Fatalf("request %d (%d bytes, streamed %v): %d, %d bytes %.40q, headers %v", i, size, streamed, resp.StatusCode, len(got), got, resp.Header)
					}
				}
				if goodHits.Load() != n || badHits.Load() == 0 || badHits.Load() > n {
					t.Fatalf("good host %d requests (want %d), bad host %d (want 1 to %d)", goodHits.Load(), n, badHits.Load(), n)
				}

				// Only the bad host: one retry, then its 503 goes to the
				// client; a body past what is held gets one try.
				only := startProxy(t, h2ProxyConfig(pair.down, pair.up, `, "retry_policy": `+policy, bad))
				for _, tc := range []struct {
					size  int
					tries int64
				}{{1 << 10, 2}, {256 << 10, 1}} {
					badHits.Store(0)
					resp, got := postBody(t, c, only.url("in", "/echo"), tc.size, true)
					if resp.StatusCode != 503 || resp.Header.Get("X-Bad") != "yes" || string(got) != "the bad host's answer\n" || badHits.Load() != tc.tries {
						t.Errorf("%d bytes streamed to the bad host alone: %d %q X-Bad %q after %d tries, want its 503 after %d",
							tc.size, resp.StatusCode, got, resp.Header.Get("X-Bad"), badHits.Load(), tc.tries)
					}
				}
			})
		}
	}
	t.Run("no retry policy", func(t *testing.T) {
		bad, _, badHits, _ := statusRetryOrigins(t, true)
		p := startProxy(t, h2ProxyConfig("Http2", "Http2", "", bad))
		resp, got := postBody(t, h2cClient(), p.url("in", "/"), 10, false)
		if resp.StatusCode != 503 || string(got) != "the bad host's answer\n" || badHits.Load() != 1 {
			t.Fatalf("%d %q after %d tries", resp.StatusCode, got, badHits.Load())
		}
	})
}

// A gRPC error travels in grpc-status under HTTP 200: retry_on 5xx does not
// retry it (gRPC retry conditions are refused by the config), so each call
// the failing host took fails UNAVAILABLE after one try there.
func TestGRPCStatusIsNotRetriedOn5xx(t *testing.T) {
	var failingCalls atomic.Int64
	failing := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		failingCalls.Add(1)
		return status.Error(codes.Unavailable, "failing host")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go failing.Serve(ln)
	t.Cleanup(failing.Stop)
	good := startHeldOrigin(t)
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", `, "retry_policy": {"retry_on": "5xx", "num_retries": 1}`, ln.Addr().String(), good.addr))
	cc := dialGRPC(t, p.addr("in"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unavailable := 0
	for range 6 {
		err := cc.Invoke(ctx, "/test.Hold/Call", &emptypb.Empty{}, &emptypb.Empty{})
		switch status.Code(err) {
		case codes.OK:
		case codes.Unavailable:
			unavailable++
		default:
			t.Fatalf("call: %v", err)
		}
	}
	if unavailable == 0 || int64(unavailable) != failingCalls.Load() {
		t.Fatalf("%d calls failed UNAVAILABLE, the failing host got %d: want each of its calls to fail once, unretried", unavailable, failingCalls.Load())
	}
}
