// Package boltrpc owns a real SOFARPC Bolt v1 client and server over
// net.Conn, built on the codec in internal/protocol/bolt. They stand in for
// Java SOFARPC peers in end-to-end tests of the proxy and drive load in
// `mosnctl bench`. It sits beside the data path, not in it: nothing in the
// proxy imports it, and it imports only the codec.
package boltrpc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("boltrpc: server closed")

// Handler answers one request. req and every slice in it are valid only
// during the call, except that the returned content and header values may
// alias req: the response is encoded before req's buffer is released.
// For one-way requests the results are ignored.
type Handler func(req *bolt.Frame) (status uint16, headers map[string]string, content []byte)

// EchoHandler answers every request with its own content and headers and
// status success.
func EchoHandler(req *bolt.Frame) (uint16, map[string]string, []byte) {
	return bolt.StatusSuccess, headerMap(req), req.Content
}

// DefaultMaxConcurrentPerConn bounds in-flight handlers per connection when
// Server.MaxConcurrentPerConn is zero.
const DefaultMaxConcurrentPerConn = 1024

// Server serves Bolt requests: each request runs its Handler in its own
// goroutine, heartbeats are answered by the connection's reader, responses
// sent to the server are ignored, and a malformed frame closes (and logs)
// only the connection that sent it.
type Server struct {
	// Handler answers requests; nil means EchoHandler.
	Handler Handler
	// Logger receives connection errors; nil discards them.
	Logger *slog.Logger
	// MaxFrameSize bounds incoming frames; zero means bolt.DefaultMaxFrameSize.
	MaxFrameSize int
	// MaxConcurrentPerConn bounds in-flight handlers per connection; when
	// reached, the connection is not read until one finishes.
	MaxConcurrentPerConn int

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	wg        sync.WaitGroup // connection readers and handlers
	bufs      sync.Pool      // *[]byte: request copies and encoded responses
}

type serverConn struct {
	srv     *Server
	conn    net.Conn
	log     *slog.Logger
	writeMu sync.Mutex
	sem     chan struct{} // one slot per in-flight handler
	class   []byte        // bolt.ClassResponse, converted once per connection
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Serve accepts connections on ln until Close, then returns ErrServerClosed.
// It may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*serverConn]struct{})
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()

	log := s.logger()
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, ln)
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			_ = ln.Close()
			return fmt.Errorf("boltrpc: accept on %s: %w", ln.Addr(), err)
		}
		limit := s.MaxConcurrentPerConn
		if limit <= 0 {
			limit = DefaultMaxConcurrentPerConn
		}
		sc := &serverConn{
			srv:   s,
			conn:  conn,
			log:   log.With("remote", conn.RemoteAddr().String()),
			sem:   make(chan struct{}, limit),
			class: []byte(bolt.ClassResponse),
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return ErrServerClosed
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go sc.serve()
	}
}

// Close closes every listener and connection, then waits for connection
// readers and running handlers to finish. Later calls do nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for sc := range s.conns {
		_ = sc.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) getBuf(n int) *[]byte {
	if p, ok := s.bufs.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, max(n, 1024))
	return &b
}

func (s *Server) putBuf(p *[]byte) {
	// Huge buffers would pin memory for the life of the pool.
	if cap(*p) <= 64<<10 {
		s.bufs.Put(p)
	}
}

func (sc *serverConn) serve() {
	s := sc.srv
	handlers := sync.WaitGroup{}
	defer func() {
		_ = sc.conn.Close()
		handlers.Wait()
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	fr := newFrameReader(sc.conn, s.MaxFrameSize)
	var f bolt.Frame
	for {
		raw, err := fr.next(&f)
		if err != nil {
			sc.logReadError(err)
			return
		}
		switch {
		case f.Type == bolt.TypeResponse:
			// One-way peers and heartbeat answers: nothing to do.
		case f.IsHeartbeat():
			if f.IsOneway() {
				continue
			}
			buf := s.getBuf(0)
			*buf = bolt.AppendHeartbeatResponse(*buf, f.RequestID, f.Codec)
			err := sc.write(*buf)
			s.putBuf(buf)
			if err != nil {
				return
			}
		default:
			// The reader reuses its buffer, so the handler gets a copy.
			req := s.getBuf(len(raw))
			copy(*req, raw)
			sc.sem <- struct{}{}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				sc.handle(req)
				<-sc.sem
			}()
		}
	}
}

func (sc *serverConn) logReadError(err error) {
	var be *bolt.Error
	switch {
	case errors.As(err, &be):
		sc.log.Warn("boltrpc: malformed frame, closing connection", "error", err)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		// A normal end: the peer hung up or we are shutting down.
	default:
		sc.log.Info("boltrpc: connection read failed", "error", err)
	}
}

func (sc *serverConn) handle(req *[]byte) {
	s := sc.srv
	defer s.putBuf(req)
	var f bolt.Frame
	if _, err := bolt.Decode(*req, &f, len(*req)); err != nil {
		// Cannot happen: the reader decoded these same bytes.
		sc.log.Error("boltrpc: re-decoding a request copy", "error", err)
		return
	}
	status, headers, content := sc.call(&f)
	if f.IsOneway() {
		return
	}
	out := s.getBuf(0)
	defer s.putBuf(out)
	var h []byte
	for k, v := range headers {
		h = bolt.AppendHeader(h, k, v)
	}
	resp := bolt.Frame{
		Type:      bolt.TypeResponse,
		CmdCode:   bolt.CmdResponse,
		Version:   bolt.CommandVersion,
		RequestID: f.RequestID,
		Codec:     f.Codec,
		Status:    status,
		Class:     sc.class,
		Header:    h,
		Content:   content,
	}
	if err := resp.Validate(); err != nil {
		sc.log.Error("boltrpc: handler response cannot be encoded", "request_id", f.RequestID, "error", err)
		*out = bolt.AppendErrorResponse(*out, f.RequestID, f.Codec, bolt.StatusServerSerialException)
	} else {
		*out = bolt.AppendFrame(*out, &resp)
	}
	_ = sc.write(*out)
}

// call runs the handler, turning a panic into a server-exception answer so
// one bad request does not take the process down.
func (sc *serverConn) call(f *bolt.Frame) (status uint16, headers map[string]string, content []byte) {
	defer func() {
		if r := recover(); r != nil {
			sc.log.Error("boltrpc: handler panicked", "request_id", f.RequestID, "panic", r)
			status, headers, content = bolt.StatusServerException, nil, nil
		}
	}()
	h := sc.srv.Handler
	if h == nil {
		h = EchoHandler
	}
	return h(f)
}

// write sends one frame; on failure the connection is closed, which ends
// its reader.
func (sc *serverConn) write(frame []byte) error {
	sc.writeMu.Lock()
	defer sc.writeMu.Unlock()
	if _, err := sc.conn.Write(frame); err != nil {
		_ = sc.conn.Close()
		return err
	}
	return nil
}
