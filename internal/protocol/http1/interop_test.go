package http1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestInteropNetHTTPClient serves net/http's client from a raw socket with this codec: requests (one of them with a
// chunked body of unknown length) are parsed incrementally from whatever each read returns, and the responses,
// written with AppendResponseHead/AppendChunk and AppendLocalResponse, must satisfy net/http's client.
func TestInteropNetHTTPClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() { served <- serveConn(ln) }()

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	base := "http://" + ln.Addr().String()

	// A body of unknown length makes net/http send it chunked.
	body := strings.Repeat("0123456789", 3000)
	resp, err := client.Post(base+"/echo?x=1", "text/plain", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != body || resp.StatusCode != 200 || resp.Header.Get("X-Path") != "/echo" {
		t.Fatalf("echo: status %d, err %v, %d bytes back (want %d), X-Path %q", resp.StatusCode, err, len(got), len(body), resp.Header.Get("X-Path"))
	}

	resp, err = client.Get(base + "/missing")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(got) != "no route\n" {
		t.Fatalf("missing: status %d body %q", resp.StatusCode, got)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// serveConn handles one connection: an echo of a chunked body, then a 404 that closes the connection.
func serveConn(ln net.Listener) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	// A safety net against a hung test, not a speed assertion.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var (
		buf  = make([]byte, 0, 64<<10)
		req  Request
		cr   ChunkedReader
		out  []byte
		tmp  = make([]byte, 1024) // small reads so heads and chunks arrive in pieces
		read = func() error {
			n, err := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			return err
		}
	)
	for {
		n, err := ParseRequest(buf, &req, Limits{})
		if errors.Is(err, ErrNeedMore) {
			if err := read(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if string(req.Path()) != "/echo" {
			_, err := c.Write(AppendLocalResponse(out[:0], 404, []byte("no route\n"), false))
			return err
		}
		if req.Framing() != FramingChunked {
			return errors.New("echo request is not chunked")
		}
		out = AppendResponseHead(out[:0], &Response{Status: 200}, []Header{
			{Name: []byte("Transfer-Encoding"), Value: []byte("chunked")},
			{Name: []byte("X-Path"), Value: req.Path()},
		})
		if _, err := c.Write(out); err != nil {
			return err
		}
		buf = buf[n:]
		cr.Reset()
		for !cr.Done() {
			consumed, data, _, err := cr.Next(buf)
			if err != nil {
				return err
			}
			if _, err := c.Write(AppendChunk(out[:0], data)); err != nil {
				return err
			}
			buf = buf[consumed:]
			if len(buf) == 0 && !cr.Done() {
				if err := read(); err != nil {
					return err
				}
			}
		}
		if _, err := c.Write(AppendLastChunk(out[:0])); err != nil {
			return err
		}
	}
}

// TestInteropNetHTTPServer sends what AppendRequestHead writes to a net/http server and reads its response with
// ParseResponse.
func TestInteropNetHTTPServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-Custom")+"|"+r.Header.Get("X-Hop")+"|"+r.Host+"|"+string(b))
		w.Header().Set("Content-Length", "2")
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	var req Request
	in := "POST /p HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\nConnection: X-Hop\r\nX-Hop: secret\r\n" +
		"X-Custom: v\r\nContent-Length: 4\r\n\r\nbody"
	n, err := ParseRequest([]byte(in), &req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a safety net against a hung test
	if _, err := c.Write(append(AppendRequestHead(nil, &req, nil), in[n:]...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var (
		resp Response
		buf  []byte
	)
	for {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, b)
		if _, err = ParseResponse(buf, &resp, Limits{}); !errors.Is(err, ErrNeedMore) {
			break
		}
	}
	seen, _ := resp.Header("x-seen")
	if resp.Status != 200 || resp.Framing([]byte("POST")) != FramingLength || resp.ContentLength != 2 ||
		string(seen) != "v||"+srv.Listener.Addr().String()+"|body" {
		t.Fatalf("status %d framing %v CL %d X-Seen %q", resp.Status, resp.Framing([]byte("POST")), resp.ContentLength, seen)
	}
}
