package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mosnctl/mosnctl/internal/stream"
)

// Stream state is pooled on event loops (stream/h2pool.go): a stream that
// went back to its pool while something could still reach it would send
// one caller's bytes to another. Many concurrent streams end every way a
// stream can end (answered, timed out, reset by the origin, cancelled by
// the client, a local reply), in both directions of body flow; each answer
// must be its own request's, and no stream may be released more often
// than referenced.
func TestHTTP2PooledStreamsEndEveryWay(t *testing.T) {
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasPrefix(r.URL.Path, "/slow/"):
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
		case strings.HasPrefix(r.URL.Path, "/reset/"):
			panic(http.ErrAbortHandler) // RST_STREAM
		}
		w.Header().Set("Trailer", "X-Path")
		fmt.Fprintf(w, "%s|%s", r.URL.Path, body)
		w.Header().Set("X-Path", r.URL.Path)
	}))
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", `, "timeout": "300ms"`, origin))
	before := stream.RefUnderflows()
	c := h2cClient()
	kinds := []string{"ok", "ok", "post", "slow", "reset", "cancel", "direct"}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for round := range 3 {
		for i := range 70 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kind := kinds[i%len(kinds)]
				path := fmt.Sprintf("/%s/%d-%d", kind, round, i)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				method, body := "GET", io.Reader(nil)
				want := path + "|"
				switch kind {
				case "post":
					payload := strings.Repeat(path, 2000) // ~20 KB: several DATA frames
					method, body, want = "POST", strings.NewReader(payload), path+"|"+payload
				case "cancel":
					path = fmt.Sprintf("/slow/cancel-%d-%d", round, i)
					time.AfterFunc(time.Duration(20+i)*time.Millisecond, cancel)
				case "direct":
					path, want = "/direct", "direct\n"
				}
				req, _ := http.NewRequestWithContext(ctx, method, p.url("in", path), body)
				resp, err := c.Do(req)
				if kind == "cancel" {
					if err == nil {
						io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					return
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %v", path, err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch kind {
				case "slow":
					if resp.StatusCode != 504 {
						errs <- fmt.Errorf("%s: status %d, want 504", path, resp.StatusCode)
					}
				case "reset":
					if resp.StatusCode != 502 && resp.StatusCode != 503 {
						errs <- fmt.Errorf("%s: status %d, want 502 or 503", path, resp.StatusCode)
					}
				default:
					if resp.StatusCode != 200 || string(got) != want {
						errs <- fmt.Errorf("%s: status %d, body %.60q, want %.60q", path, resp.StatusCode, got, want)
					} else if kind != "direct" && resp.Trailer.Get("X-Path") != path {
						errs <- fmt.Errorf("%s: trailer X-Path %q", path, resp.Trailer.Get("X-Path"))
					}
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := stream.RefUnderflows() - before; n != 0 {
		t.Fatalf("%d streams released more often than referenced", n)
	}
}

// A client that opens the largest flow-control windows and then reads
// nothing must not make the proxy hold its whole response: past what a
// connection may queue for its peer (1 MiB) the DATA waits in the stream's
// pipe, within the window the proxy gives the origin, so the origin stops
// too. Other clients on the same upstream connection go on.
func TestHTTP2LargeWindowNonReaderBounded(t *testing.T) {
	var written atomic.Int64
	chunk := make([]byte, 64<<10)
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/big" {
			io.WriteString(w, "small")
			return
		}
		for range 1024 { // 64 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
			written.Add(int64(len(chunk)))
		}
	}))
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", `, "timeout": "0s"`, origin))
	c := dialStuck(t, p.addr("in"))
	fr := http2.NewFramer(c, c)
	io.WriteString(c, http2.ClientPreface)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	fr.WriteWindowUpdate(0, 1<<31-1-65535)
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "big"}, {":path", "/big"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hbuf.Bytes(), EndStream: true, EndHeaders: true})
	// Whatever the origin writes now is held by the proxy or the sockets.
	waitFor(t, "the origin writing", func() bool { return written.Load() > 0 })
	time.Sleep(time.Second)
	if n := written.Load(); n > 16<<20 {
		t.Fatalf("the origin wrote %d MiB for a client that reads nothing: the proxy holds it", n>>20)
	} else {
		t.Logf("the origin wrote %d KiB of 64 MiB for a client that reads nothing", n>>10)
	}
	// The upstream connection still serves others.
	status, body := get(t, h2cClient(), p.url("in", "/small"))
	if status != 200 || body != "small" {
		t.Fatalf("another client: %d %q", status, body)
	}
}
