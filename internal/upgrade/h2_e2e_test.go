package upgrade

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"
)

// h2Config has HTTP/2 listeners in both IO models, to an h2c origin and
// (converted) to an HTTP/1 origin.
func h2Config(h2Origin, h1Origin string) string {
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [
      {"router_config_name": "h2", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "h2origin", "timeout": "30s"}}]}]},
      {"router_config_name": "h1", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "h1origin", "timeout": "30s"}}]}]}
    ],
    "listeners": [
      {"name": "h2poll", "address": "127.0.0.1:0", "io_model": "netpoll", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http2", "router_config_name": "h2"}}]}]},
      {"name": "h2go", "address": "127.0.0.1:0", "io_model": "goroutine", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http2", "router_config_name": "h2"}}]}]},
      {"name": "h2h1", "address": "127.0.0.1:0", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http1", "router_config_name": "h1"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "h2origin", "type": "SIMPLE", "connect_timeout": "1s", "hosts": [{"address": %q}]},
    {"name": "h1origin", "type": "SIMPLE", "connect_timeout": "1s", "hosts": [{"address": %q}]}
  ]},
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
  "drain_timeout": "20s"
}`, h2Origin, h1Origin)
}

// h2LoadHandler is the origin of the HTTP/2 upgrade test: /slow answers
// after 1.5s, /stream sends 20 chunks 100ms apart, anything else echoes the
// request body's SHA-256 (entered counts requests for /slow).
func h2LoadHandler(entered chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case entered <- r.URL.RawQuery:
			default:
			}
			time.Sleep(1500 * time.Millisecond)
			io.WriteString(w, "slow ok")
		case "/stream":
			f := w.(http.Flusher)
			for i := range 20 {
				fmt.Fprintf(w, "chunk %02d\n", i)
				f.Flush()
				time.Sleep(100 * time.Millisecond)
			}
		default:
			h := sha256.New()
			io.Copy(h, r.Body)
			fmt.Fprintf(w, "%x", h.Sum(nil))
		}
	})
}

func startHTTPServer(t *testing.T, h http.Handler) string {
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

// h2cTransport is x/net's HTTP/2 client speaking h2c with prior knowledge;
// it counts the connections it dials.
func h2cTransport(dials *atomic.Int64) *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// h2Caller runs calls on one x/net transport (its connections are shared by
// every caller of the client) until ctx ends: kind picks a short POST with
// a body, a slow answer or a streamed answer. A call that fails is counted,
// never retried by the test: x/net retries only what the RFC says the
// server did not process (streams above GOAWAY's last stream id, or
// REFUSED_STREAM).
func (l *load) h2Caller(ctx context.Context, c *http.Client, id int, base, kind string) {
	defer l.wg.Done()
	for n := 0; ctx.Err() == nil; n++ {
		var req *http.Request
		var want string
		switch kind {
		case "post":
			body := bytes.Repeat([]byte{byte('a' + id%26)}, 1000+n%5000)
			req, _ = http.NewRequest("POST", base+"/echo", bytes.NewReader(body))
			want = fmt.Sprintf("%x", sha256.Sum256(body))
		case "stream-body":
			// A body x/net cannot rewind: such a call is sent again only
			// if its body was not written yet.
			body := bytes.Repeat([]byte{byte('a' + id%26)}, 1000+n%5000)
			req, _ = http.NewRequest("POST", base+"/echo", io.MultiReader(bytes.NewReader(body)))
			want = fmt.Sprintf("%x", sha256.Sum256(body))
		case "slow":
			req, _ = http.NewRequest("GET", fmt.Sprintf("%s/slow?%d-%d", base, id, n), nil)
			want = "slow ok"
		case "stream":
			req, _ = http.NewRequest("GET", base+"/stream", nil)
			var b strings.Builder
			for i := range 20 {
				fmt.Fprintf(&b, "chunk %02d\n", i)
			}
			want = b.String()
		}
		rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		resp, err := c.Do(req.WithContext(rctx))
		if err != nil {
			cancel()
			l.fail("h2 %s caller %d call %d: %v", kind, id, n, err)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil || resp.StatusCode != 200 || string(b) != want {
			l.fail("h2 %s caller %d call %d: status %d body %.60q err %v", kind, id, n, resp.StatusCode, b, err)
			return
		}
		l.ok.Add(1)
		time.Sleep(2 * time.Millisecond)
	}
}

// goAwayWatch is a raw HTTP/2 connection with three slow streams open when
// the upgrade comes. It checks the old process's graceful drain (RFC 9113
// §6.8): a GOAWAY NO_ERROR naming the highest stream id, and a PING; a
// stream the client sent before hearing it (7) is still served; after the
// PING's answer, a GOAWAY NO_ERROR naming stream 7; a stream after that
// (9) is ignored; streams 1, 3, 5 and 7 finish before the connection
// closes.
type goAwayWatch struct {
	c  net.Conn
	fr *http2.Framer
}

func openGoAwayWatch(t *testing.T, addr string, entered <-chan string) *goAwayWatch {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, http2.ClientPreface)
	w := &goAwayWatch{c: c, fr: http2.NewFramer(c, c)}
	w.fr.WriteSettings()
	for _, id := range []uint32{1, 3, 5} {
		w.request(t, id, fmt.Sprintf("/slow?watch-%d", id))
	}
	// The three are at the origin before the test upgrades.
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 3 {
		select {
		case q := <-entered:
			if strings.HasPrefix(q, "watch-") {
				seen[q] = true
			}
		case <-deadline:
			t.Fatalf("watch streams at the origin: %v", seen)
		}
	}
	return w
}

func (w *goAwayWatch) request(t *testing.T, id uint32, path string) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "proxy"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Errorf("watch stream %d: %v", id, err)
	}
}

// check reads the connection to its end after the upgrade started.
func (w *goAwayWatch) check(t *testing.T) {
	w.c.SetDeadline(time.Now().Add(30 * time.Second))
	var goAways []string
	ended := map[uint32]bool{}
	for {
		f, err := w.fr.ReadFrame()
		if err != nil {
			break
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			goAways = append(goAways, fmt.Sprintf("%v/%d", f.ErrCode, f.LastStreamID))
			switch len(goAways) {
			case 1:
				// Sent as if before the client heard: still taken.
				w.request(t, 7, "/slow?late")
			case 2:
				// After the final GOAWAY: ignored (RFC 9113 §6.8).
				w.request(t, 9, "/slow?ignored")
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				w.fr.WritePing(true, f.Data)
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		case *http2.HeadersFrame:
			if f.StreamID == 9 {
				t.Errorf("stream 9, opened after the final GOAWAY, was answered")
			}
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		case *http2.RSTStreamFrame:
			t.Errorf("stream %d reset (%v)", f.StreamID, f.ErrCode)
		case *http2.SettingsFrame:
			if !f.IsAck() {
				w.fr.WriteSettingsAck()
			}
		}
	}
	if want := []string{"NO_ERROR/2147483647", "NO_ERROR/7"}; fmt.Sprint(goAways) != fmt.Sprint(want) {
		t.Errorf("GOAWAY frames %v, want %v", goAways, want)
	}
	if !ended[1] || !ended[3] || !ended[5] || !ended[7] {
		t.Errorf("streams finished before the connection closed: %v, want 1, 3, 5 and 7", ended)
	}
	t.Logf("watch connection: GOAWAY frames %v, streams finished %v", goAways, ended)
}

// TestUpgradeHTTP2InFlight upgrades a serve carrying HTTP/2 load: short
// POSTs, slow answers and streamed answers, many streams on a few
// connections, on netpoll and goroutine listeners and converted to an
// HTTP/1 origin. The old process sends GOAWAY NO_ERROR naming the last
// stream it received, finishes every stream in flight, and no call fails;
// the clients' new connections reach the new process.
func TestUpgradeHTTP2InFlight(t *testing.T) {
	entered := make(chan string, 64)
	h2Origin := startHTTPServer(t, h2c.NewHandler(h2LoadHandler(entered), &http2.Server{}))
	h1Origin := startHTTPServer(t, h2LoadHandler(entered))
	dir := t.TempDir()
	old := startServe(t, dir, h2Config(h2Origin, h1Origin))
	addrs := []string{listenerAddr(t, old, "h2poll"), listenerAddr(t, old, "h2go"), listenerAddr(t, old, "h2h1")}
	watch := openGoAwayWatch(t, addrs[0], entered)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var l load
	var dials atomic.Int64
	// Per listener, two clients (each its own connection), each with
	// concurrent callers of every kind.
	for li, addr := range addrs {
		for ci := range 2 {
			tr := h2cTransport(&dials)
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			for ki, kind := range []string{"post", "post", "stream-body", "slow", "stream"} {
				l.wg.Add(1)
				go l.h2Caller(ctx, c, li*100+ci*10+ki, "http://"+addr, kind)
			}
		}
	}
	time.Sleep(time.Second)
	dialsBefore := dials.Load()
	before := l.ok.Load()

	checked := make(chan struct{})
	go func() { watch.check(t); close(checked) }()
	res := upgradeJSON(t, old.pid)
	afterUpgrade := l.ok.Load()
	time.Sleep(3 * time.Second) // load goes on, now on the new process
	stop()
	l.wg.Wait()
	<-checked

	if f := l.failed.Load(); f > 0 {
		t.Errorf("%d calls failed: %s", f, strings.Join(l.errs, "\n"))
	}
	if after := l.ok.Load() - afterUpgrade; after == 0 {
		t.Error("no call succeeded after the upgrade")
	}
	select {
	case err := <-old.exited:
		if err != nil {
			t.Errorf("old process exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("old process still running")
	}
	if res.Serving != res.NewPID || !res.OldExited || res.Cut != 0 {
		t.Errorf("result %+v", res)
	}
	// HTTP/2 connections are drained, not handed over: every client
	// dialled again, to the new process.
	if res.Migrated != 0 || dials.Load() < dialsBefore+6 {
		t.Errorf("migrated %d, dials %d before and %d after: want every h2 connection drained and redialled", res.Migrated, dialsBefore, dials.Load())
	}
	t.Logf("calls: %d before the upgrade, %d in total; finished in old %d, cut %d; dials %d",
		before, l.ok.Load(), res.Finished, res.Cut, dials.Load())
}
