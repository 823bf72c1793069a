package http2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/mosnctl/mosnctl/internal/network"
)

// echoServer is a test-only application on the engine: /echo streams the
// request body back as it arrives (consuming only what it could send on,
// so windows carry backpressure end to end) and answers with trailers; any
// other path answers its own path.
type echoServer struct {
	c       *Conn
	streams map[uint32]*echoStream
}

type echoStream struct {
	echo     bool
	pending  []byte
	reqEnded bool
	n        int
	trailer  []byte
}

func (s *echoServer) Headers(id uint32, h *Headers, end bool) {
	if h.Trailers {
		st := s.streams[id]
		st.trailer = append([]byte(nil), h.Get("x-req-trailer")...)
		st.reqEnded = true
		s.flush(id)
		return
	}
	if string(h.Path) != "/echo" {
		body := append([]byte("path="), h.Path...)
		s.c.WriteHeaders(id, []Field{F(":status", "200"), F("content-length", strconv.Itoa(len(body)))}, false)
		s.c.WriteData(id, body, true)
		return
	}
	s.streams[id] = &echoStream{echo: true, reqEnded: end}
	s.c.WriteHeaders(id, []Field{F(":status", "200"), F("content-type", "application/octet-stream")}, false)
	s.flush(id)
}

func (s *echoServer) Data(id uint32, p []byte, end bool) {
	st := s.streams[id]
	if st == nil {
		s.c.Consumed(id, len(p))
		return
	}
	st.pending = append(st.pending, p...)
	st.reqEnded = end
	s.flush(id)
}

func (s *echoServer) flush(id uint32) {
	st := s.streams[id]
	if st == nil {
		return
	}
	if len(st.pending) > 0 {
		n, err := s.c.WriteData(id, st.pending, false)
		if err != nil {
			delete(s.streams, id)
			return
		}
		st.n += n
		st.pending = st.pending[n:]
		s.c.Consumed(id, n) // passed on: the client may send more
	}
	if st.reqEnded && len(st.pending) == 0 {
		delete(s.streams, id)
		s.c.WriteTrailers(id, []Field{F("x-echo-len", strconv.Itoa(st.n)), F("x-got-trailer", string(st.trailer))})
	}
}

func (s *echoServer) Reset(id uint32, err *StreamError) { delete(s.streams, id) }
func (s *echoServer) Writable(id uint32)                { s.flush(id) }
func (s *echoServer) Control(ev *Event)                 {}

// serveEngine drives the engine on a network.Conn as any IO model runs a
// handler: flush the output, fill the read buffer, feed it all (the engine
// keeps a partial frame itself), so the buffer goes back to its pool
// between reads.
func serveEngine(_ context.Context, nc *network.Conn, cfg Config) {
	app := &echoServer{streams: map[uint32]*echoStream{}}
	c := NewServerConn(cfg, app)
	app.c = c
	for {
		if out := c.Output(); len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
			c.Advance(len(out))
		}
		if c.Err() != nil {
			return
		}
		nc.Release()
		if err := nc.Fill(); err != nil {
			c.Close(err)
			return
		}
		b := nc.Buffered()
		err := c.Feed(b)
		nc.Discard(len(b))
		if err != nil {
			nc.Write(c.Output())
			return
		}
	}
}

// startEngineServer serves the echo application on 127.0.0.1 through a
// network.Listener in the given IO model ("goroutine" or "netpoll").
func startEngineServer(t *testing.T, cfg Config, model string) (addr string, l *network.Listener) {
	t.Helper()
	nl, err := network.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts network.ListenerOptions
	var g *network.LoopGroup
	if model == "netpoll" {
		if !network.LoopSupported {
			t.Skip("the netpoll IO model needs Linux")
		}
		if g, err = network.NewLoopGroup(2, false); err != nil {
			t.Fatal(err)
		}
		opts.Loops = g
	}
	l = network.NewListener("h2", nl, network.HandlerFunc(func(ctx context.Context, nc *network.Conn) {
		serveEngine(ctx, nc, cfg)
	}), opts)
	go l.Serve(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close()
		l.Shutdown(ctx)
		if g != nil {
			g.Close()
		}
	})
	return l.Addr().String(), l
}

var ioModels = []string{"goroutine", "netpoll"}

// h2cTransport is x/net's client speaking h2c with prior knowledge.
func h2cTransport() *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// x/net's h2c client against the engine, in both IO models: 100
// concurrent streams on one connection; a 1 MiB body each way through
// 16 KiB stream windows and the minimum connection window, with trailers
// both ways.
func TestInteropXNetClient(t *testing.T) {
	for _, model := range ioModels {
		t.Run(model+"/100 streams", func(t *testing.T) {
			addr, l := startEngineServer(t, Config{}, model)
			interop100Streams(t, addr)
			if n := l.Counters.ConnsTotal.Load(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
		})
		t.Run(model+"/1 MiB small windows", func(t *testing.T) {
			addr, _ := startEngineServer(t, Config{InitialWindowSize: 16 << 10, ConnWindowSize: 65535}, model)
			interopLargeEcho(t, addr)
		})
	}
}

func interop100Streams(t *testing.T, addr string) {
	tr := h2cTransport()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	// One request first so the other 100 share its connection.
	if resp, err := client.Get("http://" + addr + "/warm"); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/s/%d", i)
			resp, err := client.Get("http://" + addr + path)
			if err != nil {
				errs <- err
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "path="+path || resp.ProtoMajor != 2 {
				errs <- fmt.Errorf("%s: %q %v proto %d", path, body, err, resp.ProtoMajor)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func interopLargeEcho(t *testing.T, addr string) {
	tr := h2cTransport()
	defer tr.CloseIdleConnections()
	body := make([]byte, 1<<20)
	rand.Read(body)
	req, _ := http.NewRequest("POST", "http://"+addr+"/echo", nil)
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Req-Trailer": nil}
	req.Body = &trailerBody{r: bytes.NewReader(body), req: req}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("echo differs: %d bytes back", len(got))
	}
	if resp.Trailer.Get("X-Echo-Len") != "1048576" || resp.Trailer.Get("X-Got-Trailer") != "sum-1" {
		t.Fatalf("trailers %v", resp.Trailer)
	}
}

// trailerBody sets the request trailer once the body is read, as net/http
// expects.
type trailerBody struct {
	r   io.Reader
	req *http.Request
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-Req-Trailer", "sum-1")
	}
	return n, err
}
func (b *trailerBody) Close() error { return nil }

// clientApp records responses for the engine's client role.
type clientApp struct {
	c        *Conn
	status   map[uint32]string
	body     map[uint32]*bytes.Buffer
	trailers map[uint32]string
	done     map[uint32]bool
	toSend   map[uint32][]byte
	resets   []StreamError
}

func newClientApp() *clientApp {
	return &clientApp{status: map[uint32]string{}, body: map[uint32]*bytes.Buffer{}, trailers: map[uint32]string{},
		done: map[uint32]bool{}, toSend: map[uint32][]byte{}}
}

func (a *clientApp) Headers(id uint32, h *Headers, end bool) {
	if h.Trailers {
		a.trailers[id] = string(h.Get("x-sum"))
	} else if h.StatusCode() >= 200 {
		a.status[id] = string(h.Status)
		a.body[id] = new(bytes.Buffer)
	}
	if end {
		a.done[id] = true
	}
}

func (a *clientApp) Data(id uint32, p []byte, end bool) {
	a.body[id].Write(p)
	a.c.Consumed(id, len(p))
	if end {
		a.done[id] = true
	}
}

func (a *clientApp) Reset(id uint32, err *StreamError) {
	a.resets = append(a.resets, *err)
	a.done[id] = true
}

func (a *clientApp) Writable(id uint32) { a.send(id) }
func (a *clientApp) Control(ev *Event)  {}

func (a *clientApp) send(id uint32) {
	p := a.toSend[id]
	n, err := a.c.WriteData(id, p, true)
	if err != nil {
		return
	}
	a.toSend[id] = p[n:]
}

func TestInteropEngineClientXNetServer(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello/", func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "not h2", 500)
			return
		}
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		n, _ := io.Copy(w, r.Body)
		w.Header().Set("X-Sum", strconv.FormatInt(n, 10))
	})
	h2s := &http2.Server{MaxUploadBufferPerStream: 16 << 10, MaxUploadBufferPerConnection: 64 << 10}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h2c.NewHandler(mux, h2s)}
	go srv.Serve(ln)
	defer srv.Close()

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	app := newClientApp()
	c := NewClientConn(Config{InitialWindowSize: 16 << 10, ConnWindowSize: 65535}, app)
	app.c = c
	req := func(method, path string) []Field {
		return []Field{F(":method", method), F(":scheme", "http"), F(":authority", ln.Addr().String()), F(":path", path)}
	}
	var ids []uint32
	for i := 0; i < 50; i++ {
		id, err := c.OpenStream(req("GET", fmt.Sprintf("/hello/%d", i)), true)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	body := make([]byte, 1<<20)
	rand.Read(body)
	echoID, err := c.OpenStream(req("POST", "/echo"), false)
	if err != nil {
		t.Fatal(err)
	}
	app.toSend[echoID] = body
	app.send(echoID)

	nc.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 32<<10)
	for len(app.done) < len(ids)+1 {
		if _, err := c.WriteTo(nc); err != nil {
			t.Fatal(err)
		}
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (done %d)", err, len(app.done))
		}
		if err := c.Feed(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if len(app.resets) != 0 {
		t.Fatalf("resets %v", app.resets)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("hello /hello/%d", i); app.status[id] != "200" || app.body[id].String() != want {
			t.Fatalf("stream %d: %s %q", id, app.status[id], app.body[id])
		}
	}
	if !bytes.Equal(app.body[echoID].Bytes(), body) || app.trailers[echoID] != "1048576" {
		t.Fatalf("echo: %d bytes, trailer %q", app.body[echoID].Len(), app.trailers[echoID])
	}
	// A graceful GOAWAY from us is accepted and the connection closes cleanly.
	c.GoAway(http2.ErrCodeNo, nil)
	c.WriteTo(nc)
}
