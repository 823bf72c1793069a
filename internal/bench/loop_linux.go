//go:build linux

package bench

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/mosnctl/mosnctl/internal/network"
)

// The event loop is the closed-loop engine for plain TCP targets on
// Linux: a few goroutines, each owning a share of the connections on its
// own edge-triggered epoll set, the way wrk works, but with fewer system
// calls per request. Go's netpoller costs a read that fails with EAGAIN
// before every park (its ready flag is reset when a read begins), plus a
// goroutine switch per response; here a connection whose last read came
// back short is known to be empty until epoll reports it again, so a
// request costs one write and one read, and epoll_wait is shared by every
// connection that became readable together.

const loopSupported = true

// errWouldBlock is what an fdConn read returns when the socket is empty;
// parsers keep their state and the loop waits for epoll.
var errWouldBlock = errors.New("bench: would block")

// fdConn is a non-blocking socket owned by an event loop. It is a net.Conn
// only so that the protocol clients can use it unchanged.
type fdConn struct {
	fd       int
	readable bool // epoll reported input since the last short read
	peerDone bool // the peer's FIN or an error is queued: reads never block again
}

func (c *fdConn) Read(b []byte) (int, error) {
	if !c.readable {
		return 0, errWouldBlock
	}
	n, drained, err := network.EdgeRead(c.fd, b, c.peerDone)
	if drained {
		c.readable = false
	}
	if n == 0 && err == nil {
		return 0, errWouldBlock
	}
	return n, err
}

func (c *fdConn) Write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		p := b[written:]
		r1, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			// The send buffer is full (large bodies): wait for room here;
			// rare enough not to need the loop's help.
			pfd := [1]pollFd{{fd: int32(c.fd), events: pollOut}}
			syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&pfd[0])), 1, 1000)
			continue
		case e != 0:
			return written, os.NewSyscallError("write", e)
		}
		written += int(r1)
	}
	return written, nil
}

type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

const pollOut = 0x4

func (c *fdConn) Close() error {
	if c.fd < 0 {
		return nil
	}
	err := syscall.Close(c.fd)
	c.fd = -1
	return err
}

func (c *fdConn) LocalAddr() net.Addr              { return nil }
func (c *fdConn) RemoteAddr() net.Addr             { return nil }
func (c *fdConn) SetDeadline(time.Time) error      { return nil }
func (c *fdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fdConn) SetWriteDeadline(time.Time) error { return nil }

// detach takes the socket out of Go's netpoller: the descriptor is
// duplicated (the copy shares the non-blocking open file) and Go's is
// closed, which also removes it from Go's epoll set.
func detach(nc net.Conn) (*fdConn, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, errors.New("not a TCP connection")
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = syscall.Dup(int(s))
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	syscall.CloseOnExec(fd)
	tc.Close()
	return &fdConn{fd: fd, readable: true}, nil
}

// eventLoop drives its workers' connections.
type eventLoop struct {
	r       *runner
	epfd    int
	file    *os.File // epfd, for Go's netpoller
	rc      syscall.RawConn
	pollFn  func(uintptr) bool
	events  []syscall.EpollEvent
	polled  int
	pollErr error
	workers []*worker
	fds     map[int]*worker
	active  int
	ready   []*worker
}

// runLoops runs the closed-loop workers on n event loops.
func (r *runner) runLoops(ctx context.Context, n int) error {
	loops := make([]*eventLoop, n)
	for i := range loops {
		l, err := newEventLoop(r)
		if err != nil {
			for _, l := range loops[:i] {
				l.file.Close()
			}
			return err
		}
		loops[i] = l
	}
	for i, w := range r.workers {
		l := loops[i%n]
		l.workers = append(l.workers, w)
	}
	done := make(chan struct{}, n)
	for _, l := range loops {
		go func() {
			defer func() { done <- struct{}{} }()
			l.run(ctx)
		}()
	}
	for range loops {
		<-done
	}
	return nil
}

// newEventLoop makes an epoll set whose descriptor is itself registered
// with Go's netpoller (an epoll descriptor is readable while events wait).
func newEventLoop(r *runner) (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &eventLoop{r: r, epfd: epfd, file: f, rc: rc, fds: map[int]*worker{}}, nil
}

func (l *eventLoop) run(ctx context.Context) {
	defer l.file.Close()
	r := l.r
	for _, w := range l.workers {
		w.sending = true
		w.active = true
		l.active++
		l.service(ctx, w)
	}
	events := make([]syscall.EpollEvent, 256)
	timeout := int64(r.cfg.Timeout)
	nextScan := int64(0)
	for l.active > 0 {
		if r.stopped.Load() {
			for _, w := range l.workers {
				w.fl = w.fl[:0]
				l.drop(w, errReset)
			}
			return
		}
		n, err := l.wait(events)
		if err != nil {
			for _, w := range l.workers {
				l.drop(w, errReset)
			}
			return
		}
		// Read everything that arrived first, then write the next requests
		// in one burst: the origin then finds several requests at once
		// instead of being woken for each (wrk gets the same effect from
		// waiting for writability).
		ready := l.ready[:0]
		for i := 0; i < n; i++ {
			w := l.fds[int(events[i].Fd)]
			if w == nil || w.conn == nil {
				continue
			}
			w.fdc.readable = true
			if events[i].Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				w.fdc.peerDone = true
			}
			l.receive(w)
			ready = append(ready, w)
		}
		for _, w := range ready {
			l.service(ctx, w)
		}
		l.ready = ready
		now := r.now()
		if now < nextScan {
			continue
		}
		nextScan = now + int64(2*time.Millisecond)
		// Timeouts, redials after a failed connect, and the end of -d.
		for _, w := range l.workers {
			if !w.active {
				continue
			}
			if r.graceAt > 0 && now >= r.graceAt {
				// Past the end of a -d run and its grace: what is still in
				// flight is not counted.
				w.fl = w.fl[:0]
				w.sending = false
				l.drop(w, errReset)
				w.active = false
				l.active--
				continue
			}
			if timeout > 0 && len(w.fl) > 0 && now-w.fl[0].start >= timeout {
				f := w.fl[0]
				w.fl = w.fl[1:]
				w.fail(f, errTimeout)
				if !w.conn.abandon(f.id) {
					l.drop(w, errTimeout)
				}
			}
			if w.conn == nil && now < w.retryAt {
				continue
			}
			l.service(ctx, w)
		}
	}
}

// wait returns the ready events, waiting at most a few milliseconds so
// that timeouts and the end of the run are seen. It polls without blocking
// first (under load something is ready); otherwise the goroutine parks in
// Go's netpoller, where the loop's epoll descriptor is registered, instead
// of blocking its thread in epoll_wait: a blocked thread loses its P and
// costs scheduler hand-offs when it returns, which with several loops
// added a quarter to the CPU spent per request.
func (l *eventLoop) wait(events []syscall.EpollEvent) (int, error) {
	n, err := epollPoll(l.epfd, events)
	if n != 0 || err != nil {
		return n, err
	}
	_ = l.file.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	if l.pollFn == nil {
		l.pollFn = l.pollReady // one closure per loop, not per wait
	}
	l.events = events
	err = l.rc.Read(l.pollFn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err == nil {
		err = l.pollErr
	}
	return l.polled, err
}

// pollReady is wait's callback for the netpoller: done once events are
// there (or epoll failed), otherwise park until the descriptor is ready.
func (l *eventLoop) pollReady(uintptr) bool {
	l.polled, l.pollErr = epollPoll(l.epfd, l.events)
	return l.polled != 0 || l.pollErr != nil
}

// drop closes w's connection, failing what is in flight with kind.
func (l *eventLoop) drop(w *worker, kind errKind) {
	if w.fdc != nil {
		delete(l.fds, w.fdc.fd)
	}
	w.fdc = nil
	w.dropConn(kind)
}

// receive completes the responses w's connection has buffered or can
// read without blocking.
func (l *eventLoop) receive(w *worker) {
	timeout := int64(l.r.cfg.Timeout)
	for w.conn != nil && len(w.fl) > 0 {
		err := w.conn.recv(&w.res)
		if err == errWouldBlock {
			return
		}
		if err != nil {
			l.drop(w, classify(err))
			return
		}
		w.complete(l.r.now(), timeout)
	}
}

// service moves w's connection on as far as it can without blocking.
func (l *eventLoop) service(ctx context.Context, w *worker) {
	r := l.r
	timeout := int64(r.cfg.Timeout)
	for w.active {
		now := r.now()
		if w.conn == nil {
			if !w.sending {
				w.active = false
				l.active--
				return
			}
			if !l.connect(ctx, w, now) {
				return
			}
		}
		c := w.conn
		sent := false
		for w.sending && len(w.fl) < c.maxStreams() && c.usable() && (len(w.fl) == 0 || !c.pending()) {
			ok, rec := w.ticket(now)
			if !ok {
				w.sending = false
				break
			}
			id, err := c.send(w.pick())
			if err != nil {
				w.fl = append(w.fl, inflight{start: now, record: rec})
				l.drop(w, classify(err))
				break
			}
			w.fl = append(w.fl, inflight{id: id, start: now, record: rec})
			sent = true
		}
		if w.conn == nil {
			continue
		}
		if sent {
			if err := c.flush(); err != nil {
				l.drop(w, classify(err))
				continue
			}
		}
		if len(w.fl) == 0 {
			if !c.usable() {
				l.drop(w, errReset)
				continue
			}
			if !w.sending {
				l.drop(w, errReset)
				continue
			}
			continue
		}
		err := c.recv(&w.res)
		if err == errWouldBlock {
			return
		}
		if err != nil {
			l.drop(w, classify(err))
			continue
		}
		w.complete(r.now(), timeout)
	}
}

// connect dials a connection for w and moves it onto the loop's epoll set;
// a failure is counted as a request and retried a little later.
func (l *eventLoop) connect(ctx context.Context, w *worker, now int64) bool {
	c, err := l.r.proto.dial(ctx)
	var fc *fdConn
	if err == nil {
		nc := c.conn()
		fc, err = detach(*nc)
		if err != nil {
			c.close()
		} else {
			*nc = fc
		}
	}
	if err == nil {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: int32(fc.fd)}
		if err = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fc.fd, &ev); err != nil {
			c.close()
		}
	}
	if err != nil {
		ok, rec := w.ticket(now)
		if !ok {
			w.sending = false
			return false
		}
		w.fail(inflight{record: rec}, errConnect)
		w.retryAt = now + int64(10*time.Millisecond)
		return false
	}
	w.setConn(c)
	w.fdc = fc
	l.fds[fc.fd] = w
	return true
}

// epollPoll is epoll_wait with a zero timeout, which never blocks, so it
// may be a raw system call.
func epollPoll(epfd int, events []syscall.EpollEvent) (int, error) {
	r1, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		if e == syscall.EINTR {
			return 0, nil
		}
		return 0, e
	}
	return int(r1), nil
}
