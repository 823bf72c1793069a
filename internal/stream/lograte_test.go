package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// logLines is a slog JSON handler's output, safe for concurrent writers.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// take returns the lines logged so far and forgets them.
func (l *logLines) take(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(&l.buf)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	l.buf.Reset()
	return out
}

// burst opens n connections served by serve, sends each one bad input
// and waits until the server is done with all of them.
func burst(t *testing.T, n int, serve func(*network.Conn), input func(i int) []byte) {
	t.Helper()
	clients := make([]net.Conn, n)
	var served sync.WaitGroup
	for i := range clients {
		c, w := connPair(t)
		clients[i] = w
		served.Go(func() {
			serve(c)
			c.Close() // as the listener does
		})
	}
	for i, w := range clients {
		if _, err := w.Write(input(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range clients {
		w.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, w) // until the server closes
	}
	served.Wait()
}

// countBy counts lines by the value of key.
func countBy(lines []map[string]any, key string) map[string]int {
	n := map[string]int{}
	for _, l := range lines {
		s, _ := l[key].(string)
		n[s]++
	}
	return n
}

type refuseAll struct{ t *testing.T }

func (h refuseAll) ServeHTTP1(*HTTP1ServerStream) { h.t.Error("a bad request reached the handler") }

// 100 bad requests of two kinds log one line per kind; once the interval
// has passed, the next line says how many were suppressed.
func TestHTTP1BadRequestLogIsRateLimited(t *testing.T) {
	var out logLines
	opts := &HTTP1Options{Logger: slog.New(slog.NewJSONHandler(&out, nil)), LogLimit: lograte.New(time.Second)}
	serve := func(c *network.Conn) { ServeHTTP1(context.Background(), c, refuseAll{t}, opts) }
	bad := [][]byte{[]byte("GET\r\n\r\n"), []byte("G@T / HTTP/1.1\r\n\r\n")}
	burst(t, 100, serve, func(i int) []byte { return bad[i%2] })
	lines := out.take(t)
	if got := countBy(lines, "err"); len(lines) != 2 || got["http1: malformed request line"] != 1 || got["http1: invalid method"] != 1 {
		t.Fatalf("100 bad requests logged %d lines (%v), want one per reason", len(lines), got)
	}
	time.Sleep(time.Second)
	burst(t, 1, serve, func(int) []byte { return bad[0] })
	lines = out.take(t)
	if len(lines) != 1 || lines[0]["err"] != "http1: malformed request line" || lines[0]["suppressed"] != 49.0 {
		t.Fatalf("after the interval: %v, want one line with suppressed 49", lines)
	}
}

func TestBoltMalformedFrameLogIsRateLimited(t *testing.T) {
	var out logLines
	opts := &BoltOptions{Logger: slog.New(slog.NewJSONHandler(&out, nil)), LogLimit: lograte.New(time.Second)}
	serve := func(c *network.Conn) { ServeBolt(context.Background(), c, nil, opts) }
	// A wrong protocol code, then an answer where requests belong.
	resp := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeResponse, CmdCode: bolt.CmdResponse, Version: 1, RequestID: 1, Codec: bolt.CodecHessian2})
	bad := [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), append(resp, "GET"...)}
	burst(t, 100, serve, func(i int) []byte { return bad[i%2] })
	lines := out.take(t)
	got := countBy(lines, "msg")
	if len(lines) != 2 || got["bolt: malformed frame, closing connection"] != 1 || got["bolt: unexpected response frame from downstream, dropped"] != 1 {
		t.Fatalf("100 bad inputs logged %d lines (%v), want one per reason", len(lines), got)
	}
	time.Sleep(time.Second)
	burst(t, 1, serve, func(int) []byte { return bad[0] })
	lines = out.take(t)
	if len(lines) != 1 || lines[0]["suppressed"] != 99.0 {
		t.Fatalf("after the interval: %v, want one line with suppressed 99", lines)
	}
}
