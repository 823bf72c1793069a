package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

// protocol dials connections for one URL scheme. A new protocol (Dubbo,
// gRPC) is one newXxx function registered in protocols plus a clientConn.
type protocol interface {
	dial(ctx context.Context) (clientConn, error)
}

// clientConn is one connection as the worker loop drives it: send queues
// requests, flush writes them, recv blocks until one response completes.
// One goroutine owns a clientConn, so nothing in it is locked.
type clientConn interface {
	// send queues request number req (an index into the run's requests)
	// and returns the id its response will carry.
	send(req int) (id uint32, err error)
	flush() error
	// recv reads until one response completes. A read deadline set with
	// setReadDeadline interrupts it with os.ErrDeadlineExceeded and leaves
	// partial input buffered, so a later recv continues where it stopped.
	recv(res *response) error
	setReadDeadline(t time.Time) error
	// maxStreams is how many requests may be in flight at once.
	maxStreams() int
	// usable is false once the peer said it closes the connection: the
	// worker sends no more and redials after the in-flight ones complete.
	usable() bool
	// abandon forgets an in-flight request (after its timeout) and reports
	// whether the connection can still be used.
	abandon(id uint32) bool
	close()
	// pending reports whether a complete response (or frame) is already
	// buffered, so the worker handles it before writing new requests.
	pending() bool
	// conn is the socket, which the event loop swaps for its own
	// non-blocking descriptor.
	conn() *net.Conn
}

// response is what recv fills in for one completed request.
type response struct {
	id     uint32
	status int     // protocol status (HTTP status code, Bolt respStatus); 0 where none
	fail   errKind // errNone, or the kind of failure the status means
	bytes  int64   // bytes received for this response
}

// newProtocolFunc builds a protocol from the run's config.
type newProtocolFunc func(cfg *Config, t []target, reqs []Request) (protocol, error)

// protocols maps URL schemes to protocol constructors; read-only.
var protocols = map[string]newProtocolFunc{
	"http":  newHTTPProtocol,
	"https": newHTTPProtocol,
	"tcp":   newTCPProtocol,
	"bolt":  newBoltProtocol,
}

func schemeList() string {
	var s []string
	for k := range protocols {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// errKind classifies a failed request.
type errKind uint8

const (
	errNone errKind = iota
	errConnect
	errTimeout
	errReset
	errProtocol
	errStatus4xx
	errStatus5xx
	errStatusOther // a non-HTTP protocol's error status (Bolt respStatus != 0)
	numErrKinds
)

var errKindNames = [numErrKinds]string{"", "connect", "timeout", "reset", "protocol", "status_4xx", "status_5xx", "status_other"}

// protoError marks a response the client could not parse.
type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

// classify maps a transport error to the kind it is counted as.
func classify(err error) errKind {
	var pe *protoError
	switch {
	case errors.As(err, &pe):
		return errProtocol
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNABORTED):
		return errReset
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errTimeout
	}
	var tlsErr tls.RecordHeaderError
	if errors.As(err, &tlsErr) {
		return errProtocol
	}
	return errReset
}

// dialer opens the TCP (and TLS) connection shared by all protocols.
type dialer struct {
	addr    string
	tls     *tls.Config // nil: plain TCP
	timeout time.Duration
}

func (d *dialer) dial(ctx context.Context) (net.Conn, error) {
	timeout := d.timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	nd := net.Dialer{Timeout: timeout}
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	if d.tls == nil {
		return nc, nil
	}
	tc := tls.Client(nc, d.tls)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// readBuf is a connection's read buffer: data waits in b[r:w]. Parsers
// work on the buffered bytes and keep their own state, so a read that
// stops at a deadline loses nothing.
//
// (Reading through syscall.RawConn to wait for readiness before reading,
// saving the EAGAIN read, does not work: the poller's ready bit is reset
// when a read begins, so data that arrived just before is missed.)
type readBuf struct {
	b    []byte
	r, w int
}

func newReadBuf(size int) readBuf { return readBuf{b: make([]byte, size)} }

func (rb *readBuf) buffered() []byte { return rb.b[rb.r:rb.w] }

// fill reads more input, compacting first when the buffer is full or empty.
func (rb *readBuf) fill(nc net.Conn) (int, error) {
	if rb.r == rb.w {
		rb.r, rb.w = 0, 0
	} else if rb.w == len(rb.b) {
		if rb.r == 0 {
			return 0, &protoError{"response header or frame larger than the read buffer"}
		}
		rb.w = copy(rb.b, rb.b[rb.r:rb.w])
		rb.r = 0
	}
	n, err := nc.Read(rb.b[rb.w:])
	rb.w += n
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}

// appendWriter collects frames (from http2.Framer or by hand) until flush.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

func writeAll(nc net.Conn, a *appendWriter) error {
	if len(a.b) == 0 {
		return nil
	}
	_, err := nc.Write(a.b)
	a.b = a.b[:0]
	return err
}
