package boltrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// ErrClientClosed is the error of calls pending or started after Close.
var ErrClientClosed = errors.New("boltrpc: client closed")

// Request is one SOFARPC call. Service goes into the "service" header,
// Method into "sofa_head_method_name"; the class is SofaRequest.
type Request struct {
	Service string
	Method  string
	Headers map[string]string
	Content []byte
	// Timeout bounds the call and is sent to the server in the frame; zero
	// sends the time left on the context, if any.
	Timeout time.Duration
	// Oneway sends a request the server does not answer.
	Oneway bool
	// Codec is the serializer id of Content; zero means Hessian2.
	Codec byte
}

// Response is the server's answer. A non-success Status is not an error of
// Call: the caller decides what it means.
type Response struct {
	Status    uint16
	Headers   map[string]string
	Content   []byte
	RequestID uint32
}

type callResult struct {
	resp *Response
	err  error
}

// Client is one Bolt connection carrying many concurrent calls, told apart
// by request id. One reader goroutine matches responses to callers; writes
// are serialised so each frame goes out in one write.
type Client struct {
	conn   net.Conn
	nextID atomic.Uint32

	writeMu sync.Mutex
	wbuf    []byte // encoded frame, reused under writeMu
	hbuf    []byte // header map scratch, reused under writeMu
	class   []byte // bolt.ClassRequest, converted once

	mu      sync.Mutex
	pending map[uint32]chan callResult // nil once the connection is dead
	err     error
	// chans recycles reply channels. A channel goes back only after its one
	// reply was received, so a recycled channel can never get a stale reply.
	chans sync.Pool

	readerDone chan struct{}
}

// Dial connects to a Bolt server at addr (host:port) over TCP.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("boltrpc: dial %s: %w", addr, err)
	}
	return NewClient(conn), nil
}

// NewClient takes ownership of conn and starts its reader goroutine; Close
// stops it.
func NewClient(conn net.Conn) *Client {
	c := &Client{
		conn:       conn,
		pending:    make(map[uint32]chan callResult),
		readerDone: make(chan struct{}),
		class:      []byte(bolt.ClassRequest),
	}
	go c.readLoop()
	return c
}

// Call sends req and waits for its response, the context's end, or the
// connection's death, whichever comes first. A one-way call returns
// (nil, nil) once the request is written.
func (c *Client) Call(ctx context.Context, req *Request) (*Response, error) {
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	id := c.nextID.Add(1)
	var ch chan callResult
	if !req.Oneway {
		var err error
		if ch, err = c.register(id); err != nil {
			return nil, err
		}
	}
	err := c.write(ctx, func(dst []byte) []byte { return c.appendRequest(dst, ctx, id, req) })
	if err != nil {
		c.unregister(id)
		return nil, fmt.Errorf("boltrpc: call %s.%s: %w", req.Service, req.Method, err)
	}
	if req.Oneway {
		return nil, nil
	}
	return c.wait(ctx, id, ch)
}

// Heartbeat sends a heartbeat and waits for its answer.
func (c *Client) Heartbeat(ctx context.Context) error {
	id := c.nextID.Add(1)
	ch, err := c.register(id)
	if err != nil {
		return err
	}
	err = c.write(ctx, func(dst []byte) []byte {
		return bolt.AppendHeartbeat(dst, id, bolt.CodecHessian2, timeoutMillis(ctx, 0))
	})
	if err != nil {
		c.unregister(id)
		return fmt.Errorf("boltrpc: heartbeat: %w", err)
	}
	resp, err := c.wait(ctx, id, ch)
	if err != nil {
		return err
	}
	if resp.Status != bolt.StatusSuccess {
		return fmt.Errorf("boltrpc: heartbeat answered with %s", bolt.StatusText(resp.Status))
	}
	return nil
}

// Close closes the connection; pending calls fail with ErrClientClosed.
// It waits for the reader goroutine.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	<-c.readerDone
	return nil
}

// Err reports why the connection died, or nil while it is alive.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) register(id uint32) (chan callResult, error) {
	ch, ok := c.chans.Get().(chan callResult)
	if !ok {
		ch = make(chan callResult, 1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return nil, c.err
	}
	c.pending[id] = ch
	return ch, nil
}

func (c *Client) unregister(id uint32) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *Client) wait(ctx context.Context, id uint32, ch chan callResult) (*Response, error) {
	select {
	case r := <-ch:
		c.chans.Put(ch)
		return r.resp, r.err
	case <-ctx.Done():
		c.unregister(id)
		// The response may have been delivered while we were giving up.
		select {
		case r := <-ch:
			c.chans.Put(ch)
			return r.resp, r.err
		default:
		}
		return nil, fmt.Errorf("boltrpc: request %d: %w", id, ctx.Err())
	}
}

// write encodes one frame with build and writes it with a single Write.
// The context's deadline bounds the write; a cancellation without a deadline
// is noticed only before the write starts. A write cut short leaves a partial
// frame on the wire, after which the stream cannot be parsed, so it kills the
// connection.
func (c *Client) write(ctx context.Context, build func(dst []byte) []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.wbuf = build(c.wbuf[:0])
	deadline, _ := ctx.Deadline()
	_ = c.conn.SetWriteDeadline(deadline)
	n, err := c.conn.Write(c.wbuf)
	if err == nil {
		return nil
	}
	var ne net.Error
	if n == 0 && errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	err = fmt.Errorf("boltrpc: write: %w", err)
	c.fail(err)
	return err
}

func (c *Client) appendRequest(dst []byte, ctx context.Context, id uint32, req *Request) []byte {
	h := c.hbuf[:0]
	h = bolt.AppendHeader(h, bolt.HeaderService, req.Service)
	h = bolt.AppendHeader(h, bolt.HeaderMethod, req.Method)
	for k, v := range req.Headers {
		if k == bolt.HeaderService || k == bolt.HeaderMethod {
			continue
		}
		h = bolt.AppendHeader(h, k, v)
	}
	c.hbuf = h
	f := bolt.Frame{
		Type:      bolt.TypeRequest,
		CmdCode:   bolt.CmdRequest,
		Version:   bolt.CommandVersion,
		RequestID: id,
		Codec:     req.Codec,
		Timeout:   timeoutMillis(ctx, req.Timeout),
		Class:     c.class,
		Header:    h,
		Content:   req.Content,
	}
	if req.Oneway {
		f.Type = bolt.TypeOneway
	}
	if f.Codec == 0 {
		f.Codec = bolt.CodecHessian2
	}
	return bolt.AppendFrame(dst, &f)
}

// timeoutMillis is the timeout to put in a request: the explicit one, else
// what is left of the context's deadline, else zero (none).
func timeoutMillis(ctx context.Context, timeout time.Duration) uint32 {
	if timeout <= 0 {
		deadline, ok := ctx.Deadline()
		if !ok {
			return 0
		}
		timeout = time.Until(deadline)
	}
	ms := timeout.Milliseconds()
	switch {
	case ms < 1:
		return 1
	case ms > 0xffffffff:
		return 0xffffffff
	}
	return uint32(ms)
}

// fail marks the connection dead with err (the first reason wins), closes
// it, and fails every pending call.
func (c *Client) fail(err error) {
	c.mu.Lock()
	pending := c.pending
	if pending != nil {
		c.pending = nil
		c.err = err
	} else {
		err = c.err
	}
	c.mu.Unlock()
	if pending == nil {
		return
	}
	_ = c.conn.Close()
	for _, ch := range pending {
		ch <- callResult{err: err}
	}
}

func (c *Client) readLoop() {
	defer close(c.readerDone)
	fr := newFrameReader(c.conn, 0)
	var f bolt.Frame
	for {
		if _, err := fr.next(&f); err != nil {
			c.fail(readError(err))
			return
		}
		switch {
		case f.Type == bolt.TypeResponse:
			c.deliver(&f)
		case f.Type == bolt.TypeRequest && f.IsHeartbeat():
			// Servers may probe idle clients; answering keeps us alive.
			id, codec := f.RequestID, f.Codec
			_ = c.write(context.Background(), func(dst []byte) []byte {
				return bolt.AppendHeartbeatResponse(dst, id, codec)
			})
		}
		// Other requests are not for a client; they are dropped.
	}
}

func readError(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("boltrpc: connection closed by server")
	case errors.Is(err, net.ErrClosed):
		// Closed by fail: the reason is already recorded.
		return ErrClientClosed
	}
	return fmt.Errorf("boltrpc: read: %w", err)
}

// deliver hands a response to its caller, copying what the caller keeps out
// of the read buffer. Responses nobody waits for (calls that timed out) are
// dropped.
func (c *Client) deliver(f *bolt.Frame) {
	c.mu.Lock()
	ch := c.pending[f.RequestID]
	delete(c.pending, f.RequestID)
	c.mu.Unlock()
	if ch == nil {
		return
	}
	resp := &Response{
		Status:    f.Status,
		Headers:   headerMap(f),
		RequestID: f.RequestID,
	}
	if len(f.Content) > 0 {
		resp.Content = append([]byte(nil), f.Content...)
	}
	ch <- callResult{resp: resp}
}

// headerMap copies a frame's header map into a Go map; nil when empty.
func headerMap(f *bolt.Frame) map[string]string {
	var m map[string]string
	f.Range(func(k, v []byte) bool {
		if m == nil {
			m = make(map[string]string)
		}
		m[string(k)] = string(v)
		return true
	})
	return m
}
