//go:build linux

package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Connections in (accepted by the loops, adopted, handed over) and out
// (dialled by a task).

// detachFD takes a TCP socket out of Go's netpoller: the descriptor is
// duplicated (the copy shares the non-blocking open file) and Go's copy is
// closed, which also removes it from Go's epoll set.
func detachFD(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("network: %T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		r1, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		fd = int(r1)
		if e != 0 {
			derr = os.NewSyscallError("fcntl", e)
		}
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	nc.Close()
	return fd, nil
}

// adopt moves an accepted connection into a loop: wrap makes the Conn (on
// the caller's goroutine, so it can be tracked at once) and serve runs as a
// task of the loop.
func (g *LoopGroup) adopt(nc net.Conn, wrap func(*fdConn) *Conn, serve func(*Conn)) error {
	raddr := nc.RemoteAddr()
	fd, err := detachFD(nc)
	if err != nil {
		return err
	}
	l := g.pick()
	fc := &fdConn{l: l, fd: int32(fd), readable: true, writable: true, raddr: raddr}
	c := wrap(fc)
	l.serve(fc, func() { serve(c) }, false)
	return nil
}

// dialLoop connects to addr from a task of loop l, waiting for the
// connection as the task's other sockets do. A host name is resolved on a
// goroutine meanwhile (the resolver blocks).
func (l *Loop) dialLoop(addr string, timeout time.Duration) (*fdConn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		var ta *net.TCPAddr
		var rerr error
		if err := l.blocking(func() { ta, rerr = net.ResolveTCPAddr("tcp", addr) }); err != nil {
			return nil, err
		}
		if rerr != nil {
			return nil, rerr
		}
		ap = ta.AddrPort()
	}
	raddr := net.TCPAddrFromAddrPort(ap)
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err} }
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ip := ap.Addr().Unmap(); ip.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opErr(os.NewSyscallError("socket", err))
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
	err = syscall.Connect(fd, sa)
	inProgress := err == syscall.EINPROGRESS
	if err != nil && !inProgress {
		syscall.Close(fd)
		return nil, opErr(os.NewSyscallError("connect", err))
	}
	c := &fdConn{l: l, fd: int32(fd), raddr: raddr}
	if err := l.add(c); err != nil {
		syscall.Close(fd)
		return nil, opErr(err)
	}
	if inProgress {
		if timeout > 0 {
			c.wdl.Store(time.Now().Add(timeout).UnixNano())
			c.arm(true)
		}
		for !c.writable && !c.closed {
			if l.expired(c.wdl.Load()) {
				l.closeConn(c)
				return nil, opErr(os.ErrDeadlineExceeded)
			}
			if err := l.park(&c.wwait); err != nil {
				l.closeConn(c)
				return nil, opErr(err)
			}
		}
		c.wdl.Store(0)
		soerr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err == nil && soerr != 0 {
			err = os.NewSyscallError("connect", syscall.Errno(soerr))
		}
		if err != nil {
			l.closeConn(c)
			return nil, opErr(err)
		}
	}
	c.writable = true
	return c, nil
}

// epollExclusive is EPOLLEXCLUSIVE: a new connection wakes one of the loops
// waiting on a listening socket, not all of them.
const epollExclusive = 1 << 28

// serveLoops has the group's loops accept the listener's connections
// themselves, so accepting needs no goroutine (and no P) of its own. It
// returns when the listener is closed.
func (ln *Listener) serveLoops(ctx context.Context) (bool, error) {
	sc, ok := ln.ln.(syscall.Conn)
	if _, tcp := ln.ln.(*net.TCPListener); !ok || !tcp {
		return false, nil // unix sockets: accepted by Serve, then moved to a loop
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	fd := -1
	rc.Control(func(s uintptr) { fd = int(s) })
	ln.serveCtx = ctx
	// Close reads loopFD after closing done; a registration that runs after
	// that sees done closed and is skipped, one that ran before is undone
	// by Close (each loop runs its inbox in order).
	ln.loopFD.Store(int64(fd))
	g := ln.opts.Loops
	for _, l := range g.loops {
		errc := make(chan error, 1)
		l.post(func() {
			if ln.closedForAccept() {
				errc <- nil
				return
			}
			errc <- l.watchListener(fd, ln)
		})
		select {
		case err = <-errc:
		case <-l.stopped:
			err = errors.New("network: event loop stopped")
		}
		if err != nil {
			ln.stopLoopAccept()
			return true, err
		}
	}
	<-ln.done
	return true, nil
}

// stopLoopAccept takes the listening socket out of every loop before it is
// closed, so that no loop accepts on a descriptor number reused meanwhile.
func (ln *Listener) stopLoopAccept() {
	fd := int(ln.loopFD.Load())
	if fd < 0 || ln.opts.Loops == nil {
		return
	}
	for _, l := range ln.opts.Loops.loops {
		done := make(chan struct{})
		l.post(func() {
			if l.accepting[fd] == ln {
				l.unwatchListener(fd)
			}
			close(done)
		})
		select {
		case <-done:
		case <-l.stopped:
		}
	}
}

// accept takes up to a batch of pending connections from a listening socket
// (level-triggered: what is left wakes a loop again).
func (l *Loop) accept(fd int, ln *Listener) {
	for range 64 {
		nfd, sa, err := syscall.Accept4(fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch {
		case err == nil:
			ln.acceptOnLoop(l, nfd, sa)
			continue
		case err == syscall.EAGAIN || err == syscall.ECONNABORTED || err == syscall.EINTR:
		case err == syscall.EMFILE || err == syscall.ENFILE || err == syscall.ENOBUFS || err == syscall.ENOMEM:
			// Out of descriptors: stop accepting here for a moment instead
			// of spinning on a socket that stays readable.
			ln.log.Warn("accept failed, pausing", "err", err, "retry_in", acceptPause)
			l.unwatchListener(fd)
			time.AfterFunc(acceptPause, func() {
				l.post(func() {
					if !ln.closedForAccept() {
						l.watchListener(fd, ln)
					}
				})
			})
		default:
			ln.log.Warn("accept failed", "err", err)
		}
		return
	}
}

const acceptPause = 100 * time.Millisecond

// watchListener makes this loop one of those that accept from listening
// socket fd.
func (l *Loop) watchListener(fd int, ln *Listener) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	l.accepting[fd] = ln
	return nil
}

func (l *Loop) unwatchListener(fd int) {
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	delete(l.accepting, fd)
}

func (ln *Listener) closedForAccept() bool {
	select {
	case <-ln.done:
		return true
	default:
		return false
	}
}

// acceptOnLoop serves a connection accepted by loop from as a task of the
// least busy loop.
func (ln *Listener) acceptOnLoop(from *Loop, fd int, sa syscall.Sockaddr) {
	raddr := sockaddrToAddr(sa)
	if ln.atLimit(raddr) {
		syscall.Close(fd)
		return
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	l := ln.opts.Loops.pick()
	fc := &fdConn{l: l, fd: int32(fd), readable: true, writable: true, raddr: raddr}
	c := newConnBuffered(fc, fc, &ln.Counters, ln.opts.MaxBufferSize, nil)
	c.ln = ln
	if !ln.track(c) {
		c.Close() // the loop closes the descriptor
		return
	}
	l.serve(fc, func() { ln.serveConnWith(ln.serveCtx, c, ln.handler) }, l == from)
}
