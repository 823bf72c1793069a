package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// patternBlock is the content big test bodies repeat: pseudo-random bytes
// whose length is no power of two, so a reordered, lost or repeated frame
// or chunk changes the body's hash.
var patternBlock = func() []byte {
	b := make([]byte, 1<<20+7)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// patternBody streams n bytes of patternBlock without holding them.
type patternBody struct{ off, n int64 }

func (p *patternBody) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rest := p.n - p.off; int64(len(b)) > rest {
		b = b[:rest]
	}
	k := copy(b, patternBlock[p.off%int64(len(patternBlock)):])
	p.off += int64(k)
	return k, nil
}

// patternSum is the SHA-256 (hex) of the first n bytes of the pattern.
func patternSum(n int64) string {
	h := sha256.New()
	io.Copy(h, &patternBody{n: n})
	return hex.EncodeToString(h.Sum(nil))
}

// bigBodyOrigin hashes the request body as it streams in (answering its
// sum and length in X-Req-Sum and X-Req-Len, and whether it came with a
// length in X-Req-CL), then streams back X-Want bytes of the pattern, with
// a content-length when X-Sized is "true".
func bigBodyOrigin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		want, _ := strconv.ParseInt(r.Header.Get("X-Want"), 10, 64)
		w.Header().Set("X-Req-Sum", hex.EncodeToString(h.Sum(nil)))
		w.Header().Set("X-Req-Len", fmt.Sprint(n))
		w.Header().Set("X-Req-CL", fmt.Sprint(r.ContentLength))
		if r.Header.Get("X-Sized") == "true" {
			w.Header().Set("Content-Length", fmt.Sprint(want))
		}
		w.WriteHeader(200)
		io.Copy(w, &patternBody{n: want})
	})
}

// Request and response bodies of 0 B, 128 B and 64 MiB, with a length and
// without (chunked on HTTP/1, DATA frames without content-length on
// HTTP/2), through each protocol pair: h1 -> h2c, h2c -> h1 and h2c -> h2c.
// Bodies stream (never held whole by the test) and are checked by hash at
// the other end. The 64 MiB cases run in the default IO model only: the
// body path does not depend on it and they are the slow part of the
// suite under the race detector.
func TestHTTP2BodiesBothDirections(t *testing.T) {
	sizes := []int64{0, 128, 64 << 20}
	if testIOModel != "" {
		sizes = sizes[:2]
	}
	sums := map[int64]string{}
	for _, n := range sizes {
		sums[n] = patternSum(n)
	}
	h1Origin, _ := startOrigin(t, bigBodyOrigin())
	h2Origin := startH2cOrigin(t, bigBodyOrigin())
	for _, pair := range []struct{ down, up, origin string }{
		{"Http1", "Http2", h2Origin},
		{"Http2", "Http1", h1Origin},
		{"Http2", "Http2", h2Origin},
	} {
		t.Run(pair.down+"-"+pair.up, func(t *testing.T) {
			p := startProxy(t, h2ProxyConfig(pair.down, pair.up, `, "timeout": "120s"`, pair.origin))
			var c *http.Client
			wantProto := "HTTP/2.0"
			if pair.down == "Http1" {
				c, wantProto = &http.Client{Transport: &http.Transport{}}, "HTTP/1.1"
			} else {
				c = h2cClient()
			}
			for _, size := range sizes {
				for _, sized := range []bool{true, false} {
					name := fmt.Sprintf("%dB sized=%v", size, sized)
					var body io.Reader = &patternBody{n: size}
					req, _ := http.NewRequest("POST", p.url("in", "/big"), body)
					req.ContentLength = -1 // unknown: chunked on HTTP/1
					if sized {
						req.ContentLength = size
						if size == 0 {
							req.Body = http.NoBody
						}
					}
					req.Header.Set("X-Want", fmt.Sprint(size))
					req.Header.Set("X-Sized", fmt.Sprint(sized))
					start := time.Now()
					resp, err := c.Do(req)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					h := sha256.New()
					n, err := io.Copy(h, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || resp.Proto != wantProto {
						t.Fatalf("%s: status %d %s, read %d bytes: %v", name, resp.StatusCode, resp.Proto, n, err)
					}
					if got := resp.Header.Get("X-Req-Sum"); got != sums[size] || resp.Header.Get("X-Req-Len") != fmt.Sprint(size) {
						t.Fatalf("%s: origin got %s bytes, sum %s, want %d and %s", name, resp.Header.Get("X-Req-Len"), got, size, sums[size])
					}
					if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sums[size] {
						t.Fatalf("%s: response %d bytes sum %s, want %d and %s", name, n, got, size, sums[size])
					}
					// A sized body keeps its length on the way (an HTTP/2
					// request body of unknown length may get one when it
					// arrived whole with the head).
					if sized && resp.Header.Get("X-Req-CL") != fmt.Sprint(size) {
						t.Fatalf("%s: origin saw content-length %s", name, resp.Header.Get("X-Req-CL"))
					}
					if sized && resp.ContentLength != size {
						t.Fatalf("%s: response content-length %d", name, resp.ContentLength)
					}
					if !sized && size > 1<<20 && resp.ContentLength != -1 {
						t.Fatalf("%s: response of unknown length arrived with content-length %d", name, resp.ContentLength)
					}
					if size > 1<<20 {
						t.Logf("%s: %v", name, time.Since(start).Round(time.Millisecond))
					}
				}
			}
		})
	}
}
