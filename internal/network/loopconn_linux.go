//go:build linux

package network

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// fdConn is a non-blocking TCP socket owned by a loop; it is the net.Conn
// under a Conn served in the netpoll model.
type fdConn struct {
	l            *Loop
	fd           int32
	gen          uint32 // tells this socket from earlier ones with the same descriptor
	readable     bool
	writable     bool
	peerDone     bool        // the peer's FIN (or an error) is queued: reads never block again
	wlocked      bool        // LockWrite holds the writing side
	closed       bool        // the fd is closed (by the loop)
	closing      atomic.Bool // Close was called (the loop closes the fd)
	rwait, wwait *Task
	parked       *Conn        // its handler waits for the next message without a task (ParkIdle)
	wqueue       []*Task      // tasks waiting in LockWrite, first come first
	rdl, wdl     atomic.Int64 // deadlines, unix ns; 0: none
	rarmed       int64        // deadline of this socket's read entry in the heap; 0: none
	warmed       int64
	raddr        net.Addr // the local address is asked of the kernel when wanted
}

// add registers a connected socket with the loop; call from the loop or its tasks.
func (l *Loop) add(c *fdConn) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | edgeTriggered, Fd: c.fd}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, int(c.fd), &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	for int(c.fd) >= len(l.conns) {
		l.conns = append(l.conns, make([]*fdConn, max(64, len(l.conns)))...)
	}
	l.gen += 2 // even: a deadline entry's low bit tells a write deadline
	c.gen = l.gen
	l.conns[c.fd] = c
	l.sockets++
	return nil
}

func (l *Loop) closeConn(c *fdConn) {
	if c.closed {
		return
	}
	c.closed = true
	c.closing.Store(true)
	if int(c.fd) < len(l.conns) && l.conns[c.fd] == c {
		l.conns[c.fd] = nil
		l.sockets--
	}
	syscall.Close(int(c.fd)) // also leaves the epoll set
	l.wakeReader(c)
	l.wake(&c.wwait)
	for _, t := range c.wqueue {
		l.schedule(t)
	}
	c.wqueue = nil
}

// EdgeRead reads from a non-blocking socket watched by edge-triggered epoll.
// drained reports that the socket is empty now, so only a new edge brings
// more: the read failed with EAGAIN, or came back short. A short read does
// not drain a socket whose peer's FIN (or an error) is queued (peerDone:
// EPOLLRDHUP, EPOLLHUP or EPOLLERR was seen): that edge is spent, and the
// next read must return it. At the peer's end of stream err is io.EOF.
func EdgeRead(fd int, b []byte, peerDone bool) (n int, drained bool, err error) {
	for {
		r1, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return 0, true, nil
		case e != 0:
			return 0, false, os.NewSyscallError("read", e)
		case r1 == 0 && len(b) > 0:
			return 0, false, io.EOF
		}
		n = int(r1)
		return n, n < len(b) && !peerDone, nil
	}
}

// parkOnLoop registers the connection as parked with its loop (ParkIdle)
// unless it is not on one, or its next read would not wait.
//
// A wrapped socket (TLS) never parks: its wrapper may hold bytes read from
// the socket (a record read ahead) that no readiness event would announce.
func (c *Conn) parkOnLoop() bool {
	fc := c.ls
	if fc == nil || c.nc != net.Conn(fc) || fc.l.cur == nil || fc.closing.Load() || fc.l.expired(fc.rdl.Load()) {
		return false
	}
	if fc.readable {
		// Not known empty (a new connection, or the last read filled the
		// buffer): a peek tells; if empty, the next byte brings an edge.
		if fc.peerDone || peekFD(int(fc.fd)) != nil {
			return false
		}
		fc.readable = false
	}
	fc.parked = c
	fc.arm(false) // the read deadline resumes it
	return true
}

// leaveLoop stops counting a listener's connection as served by its loop
// (LoopGroup.pick places new connections by that count).
func (c *Conn) leaveLoop() {
	if c.ls != nil {
		c.ls.l.served.Add(-1)
	}
}

// unpark undoes ParkIdle for a handler that panicked after parking.
func (c *Conn) unpark() {
	if c.resume != nil {
		c.resume, c.idlePark = nil, false
		if c.ls != nil && c.ls.parked == c {
			c.ls.parked = nil
		}
	}
}

// wakeReader wakes the task waiting to read from c, or starts the handler
// of a connection parked idle (ParkIdle) on a worker task.
func (l *Loop) wakeReader(c *fdConn) {
	l.wake(&c.rwait)
	if pc := c.parked; pc != nil {
		c.parked = nil
		l.work(pc)
	}
}

// expired reports whether deadline d (unix ns, 0 none) has passed.
func (l *Loop) expired(d int64) bool { return d != 0 && d <= l.now }

// usable tells why the socket can't be read or written (with deadline dl)
// now, if it can't.
func (c *fdConn) usable(dl *atomic.Int64) error {
	if c.closing.Load() {
		return net.ErrClosed
	}
	if c.l.expired(dl.Load()) {
		return os.ErrDeadlineExceeded
	}
	return nil
}

func (c *fdConn) Read(b []byte) (int, error) {
	for {
		if err := c.usable(&c.rdl); err != nil {
			return 0, err
		}
		if c.readable {
			n, drained, err := EdgeRead(int(c.fd), b, c.peerDone)
			if drained {
				c.readable = false
			}
			if n > 0 || err != nil || len(b) == 0 {
				return n, err
			}
		}
		c.arm(false)
		if err := c.l.park(&c.rwait); err != nil {
			return 0, err
		}
	}
}

func (c *fdConn) Write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		p := b[written:]
		n, err := c.writeOnce(func() (uintptr, syscall.Errno) {
			r1, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
			return r1, e
		}, true)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// Writev writes the pieces with gathered writes. The system call's vector
// lives on the stack: a connection keeps no space for it.
func (c *fdConn) Writev(pieces [][]byte) (int64, error) {
	var total int64
	var vec [4]syscall.Iovec
	for {
		iov := vec[:0]
		for _, p := range pieces {
			if len(p) > 0 && len(iov) < len(vec) {
				iov = append(iov, syscall.Iovec{Base: unsafe.SliceData(p), Len: uint64(len(p))})
			}
		}
		if len(iov) == 0 {
			return total, nil
		}
		n, err := c.writeOnce(func() (uintptr, syscall.Errno) {
			r1, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(c.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			return r1, e
		}, true)
		clear(vec[:])
		total += int64(n)
		if err != nil {
			return total, err
		}
		for n > 0 && len(pieces) > 0 { // consume what was written
			k := min(n, len(pieces[0]))
			pieces[0] = pieces[0][k:]
			n -= k
			if len(pieces[0]) == 0 {
				pieces = pieces[1:]
			}
		}
	}
}

// writevOnLoop is Writev for a loop's own socket, done reports whether it
// was one (a wrapped one goes through net.Buffers and the wrapper). The
// pieces are written in place: they do not escape.
func (c *Conn) writevOnLoop(pieces [][]byte) (n int64, err error, done bool) {
	if c.ls == nil || c.nc != net.Conn(c.ls) {
		return 0, nil, false
	}
	n, err = c.ls.Writev(pieces)
	return n, err, true
}

// errNoTryWrite is TryWrite's error for a wrapped loop socket whose
// wrapper cannot write without waiting.
var errNoTryWrite = errors.New("network: this loop socket cannot write without waiting")

// tryWrite is Conn.TryWrite: one write system call if the socket has room.
// A loop's socket knows whether it has; a socket of Go's netpoller is
// written through its raw descriptor, which never parks.
func (c *Conn) tryWrite(b []byte) (int, error) {
	if c.ls != nil {
		if c.nc == net.Conn(c.ls) {
			return c.ls.tryWrite(b)
		}
		// A wrapped loop socket: only the wrapper knows what a partial
		// write means, and a blocking write would make a task that must
		// not wait for one peer wait.
		if tw, ok := c.nc.(interface{ TryWrite([]byte) (int, error) }); ok {
			return tw.TryWrite(b)
		}
		return 0, errNoTryWrite
	}
	if c.wrapped() {
		// The raw socket is for peeks only: bytes must go through the
		// wrapper.
		if tw, ok := c.nc.(interface{ TryWrite([]byte) (int, error) }); ok {
			return tw.TryWrite(b)
		}
		return c.nc.Write(b)
	}
	g := c.goIO()
	if !g.raw.ok {
		if err := g.raw.init(c.nc); err != nil {
			if err == errNoRawIO {
				return c.nc.Write(b)
			}
			return 0, err
		}
	}
	return g.raw.w.try(b)
}

// rawIO is the non-blocking access TryWrite and CheckIdle have to a socket
// of Go's netpoller, made at the first use of either.
type rawIO struct {
	ok bool
	w  rawWriter
	p  rawPeeker
	q  rawQueue
}

var errNoRawIO = errors.New("network: socket has no raw access")

func (r *rawIO) init(nc net.Conn) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errNoRawIO
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	r.w, r.p, r.q = rawWriter{rc: rc}, rawPeeker{rc: rc}, rawQueue{rc: rc}
	r.w.fn, r.p.fn, r.q.fn = r.w.write, r.p.peek, r.q.ask
	r.ok = true
	return nil
}

// rawWriter writes a netpoller socket without waiting. It is made once per
// connection: its callback is a method value, so a write allocates nothing.
type rawWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	b   []byte
	n   int
	err error
}

func (w *rawWriter) try(b []byte) (int, error) {
	w.b, w.n, w.err = b, 0, nil
	err := w.rc.Write(w.fn)
	w.b = nil
	if err == nil {
		err = w.err
	}
	return w.n, err
}

func (w *rawWriter) write(fd uintptr) bool {
	for {
		r1, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(w.b))), uintptr(len(w.b)))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
		case e != 0:
			w.err = os.NewSyscallError("write", e)
		default:
			w.n = int(r1)
		}
		return true // done either way: never wait for room
	}
}

func (c *fdConn) tryWrite(b []byte) (int, error) {
	return c.writeOnce(func() (uintptr, syscall.Errno) {
		r1, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		return r1, e
	}, false)
}

// writeOnce makes one write system call. When the socket's buffer is known
// to be full it first waits for room, or with !wait writes nothing.
func (c *fdConn) writeOnce(call func() (uintptr, syscall.Errno), wait bool) (int, error) {
	for {
		if err := c.usable(&c.wdl); err != nil {
			return 0, err
		}
		if c.writable {
			r1, e := call()
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				c.writable = false
			case e != 0:
				return 0, os.NewSyscallError("write", e)
			default:
				return int(r1), nil
			}
		}
		if !wait {
			return 0, nil
		}
		c.arm(true)
		if err := c.l.park(&c.wwait); err != nil {
			return 0, err
		}
	}
}

// arm makes sure the deadline heap wakes this socket's waiters by its
// deadline. A socket keeps at most one live entry per direction: a deadline
// that moved later is re-armed when the earlier entry fires.
func (c *fdConn) arm(write bool) {
	d, armed := c.rdl.Load(), &c.rarmed
	if write {
		d, armed = c.wdl.Load(), &c.warmed
	}
	if d != 0 && (*armed == 0 || d < *armed) {
		*armed = d
		e := deadline{when: d, fd: c.fd, gen: c.gen}
		if write {
			e.gen++
		}
		c.l.pushDeadline(e)
	}
}

// pushDeadline adds a deadline entry. Entries of closed sockets and moved
// deadlines stay until their time, so connections that come and go (one
// request each, a 60 s idle timeout) could pile up stale entries: when
// they far outnumber the live ones (at most two per socket), the heap is
// rebuilt with the live ones only, which is amortized O(1) a push.
func (l *Loop) pushDeadline(e deadline) {
	if n := len(l.timers); n >= 1024 && n > 4*l.sockets {
		l.compactDeadlines()
	}
	l.timers.push(e)
}

// compactDeadlines drops the heap's stale entries and restores its order.
func (l *Loop) compactDeadlines() {
	live := l.timers[:0]
	for _, e := range l.timers {
		if int(e.fd) >= len(l.conns) {
			continue
		}
		c := l.conns[e.fd]
		if c == nil || c.gen != e.gen&^1 {
			continue
		}
		armed := c.rarmed
		if e.write() {
			armed = c.warmed
		}
		if armed == e.when {
			live = append(live, e)
		}
	}
	clear(l.timers[len(live):])
	l.timers = live
	l.timers.init()
}

// fireTimers wakes the tasks whose socket deadline has passed.
func (l *Loop) fireTimers() {
	for {
		d, ok := l.timers.next()
		if !ok || d > l.now {
			return
		}
		e := l.timers.pop()
		if int(e.fd) >= len(l.conns) {
			continue
		}
		c := l.conns[e.fd]
		if c == nil || c.gen != e.gen&^1 {
			continue // the socket is closed (its number may be reused)
		}
		write := e.write()
		armed, slot, dl := &c.rarmed, &c.rwait, c.rdl.Load()
		if write {
			armed, slot, dl = &c.warmed, &c.wwait, c.wdl.Load()
		}
		if *armed != e.when {
			continue // stale: replaced by an earlier entry
		}
		*armed = 0
		reader := !write && c.parked != nil
		switch {
		case l.expired(dl) && write:
			l.wake(slot)
		case l.expired(dl):
			l.wakeReader(c)
		case *slot != nil || reader:
			c.arm(write) // the deadline moved later
		}
	}
}

// Close closes the socket; any goroutine may call it. The descriptor is
// closed by the loop, so it is never reused under a running task.
func (c *fdConn) Close() error {
	if c.closing.Swap(true) {
		return nil
	}
	c.l.post(func() { c.l.closeConn(c) })
	return nil
}

// CloseWrite half-closes the socket.
func (c *fdConn) CloseWrite() error {
	if c.closing.Load() {
		return net.ErrClosed
	}
	return os.NewSyscallError("shutdown", syscall.Shutdown(int(c.fd), syscall.SHUT_WR))
}

// LocalAddr asks the kernel: few callers want it, and a connection then
// keeps no copy.
func (c *fdConn) LocalAddr() net.Addr {
	if c.closing.Load() {
		return nil
	}
	sa, err := syscall.Getsockname(int(c.fd))
	if err != nil {
		return nil
	}
	return sockaddrToAddr(sa)
}

func (c *fdConn) RemoteAddr() net.Addr { return c.raddr }

func (c *fdConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline is called by the connection's tasks, like its reads
// (other goroutines use Interrupt). An earlier deadline is armed at once; a
// later one needs nothing more: the entry already in the heap re-arms it.
func (c *fdConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, false, t)
	return nil
}

func (c *fdConn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.wdl, true, t)
	return nil
}

func (c *fdConn) setDeadline(slot *atomic.Int64, write bool, t time.Time) {
	var v int64
	if !t.IsZero() {
		v = max(t.UnixNano(), 1)
	}
	if old := slot.Swap(v); v != 0 && (old == 0 || v < old) && !c.closed {
		c.arm(write)
	}
}

// Interrupt makes a pending or the next read fail with
// os.ErrDeadlineExceeded. Any goroutine may call it: a drain wakes idle
// connections so.
func (c *fdConn) Interrupt() {
	c.rdl.Store(1)
	c.l.post(func() {
		if !c.closed {
			c.arm(false)
		}
	})
}

// SyscallConn exposes the descriptor (hot upgrade passes it on).
func (c *fdConn) SyscallConn() (syscall.RawConn, error) { return rawConn{c}, nil }

type rawConn struct{ c *fdConn }

func (r rawConn) Control(f func(fd uintptr)) error {
	if r.c.closing.Load() {
		return net.ErrClosed
	}
	f(uintptr(r.c.fd))
	return nil
}

func (r rawConn) Read(func(fd uintptr) bool) error  { return errors.ErrUnsupported }
func (r rawConn) Write(func(fd uintptr) bool) error { return errors.ErrUnsupported }

// deadline is a deadline-heap entry. Entries are not removed when a
// deadline moves or the socket closes: a stale one wakes nobody. They name
// the socket by descriptor and generation rather than by pointer, so a
// closed socket is not kept alive until its entries expire.
type deadline struct {
	when int64
	fd   int32
	gen  uint32 // the socket's generation (even), +1 for a write deadline
}

func (d deadline) write() bool { return d.gen&1 != 0 }

type deadlineHeap []deadline

func (h deadlineHeap) next() (int64, bool) {
	if len(h) == 0 {
		return 0, false
	}
	return h[0].when, true
}

func (h *deadlineHeap) push(d deadline) {
	*h = append(*h, d)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].when <= s[i].when {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

// init orders the heap (after entries were removed in place).
func (h deadlineHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h deadlineHeap) down(i int) {
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].when < h[m].when {
			m = l
		}
		if r < len(h) && h[r].when < h[m].when {
			m = r
		}
		if m == i {
			return
		}
		h[m], h[i] = h[i], h[m]
		i = m
	}
}

func (h *deadlineHeap) pop() deadline {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = deadline{}
	s = s[:last]
	s.down(0)
	*h = s
	return top
}

// sockaddrToAddr converts a socket address to a net.Addr that holds no
// reference to sa.
func sockaddrToAddr(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

// lockWriteOnLoop is LockWrite for a loop's socket. Only one task runs at a
// time, so the lock is a flag; a task finding it set queues and yields.
func (c *Conn) lockWriteOnLoop() bool {
	fc := c.ls
	if fc == nil {
		return false
	}
	for fc.wlocked {
		t := fc.l.cur
		if t == nil {
			panic(errOutsideLoop)
		}
		fc.wqueue = append(fc.wqueue, t)
		t.yield(struct{}{})
	}
	fc.wlocked = true
	return true
}

// unlockWriteOnLoop releases the lock and wakes the task that waited
// longest for it.
func (c *Conn) unlockWriteOnLoop() bool {
	fc := c.ls
	if fc == nil {
		return false
	}
	fc.wlocked = false
	if len(fc.wqueue) > 0 {
		t := fc.wqueue[0]
		fc.wqueue[0] = nil
		fc.wqueue = fc.wqueue[1:]
		fc.l.schedule(t)
	}
	return true
}

// clock is the time for deadlines: a loop's, read once per turn of the loop
// (no clock read per write), else the time now.
func (c *Conn) clock() time.Time {
	if c.ls != nil {
		return time.Unix(0, c.ls.l.now)
	}
	return time.Now()
}

// Loop returns the event loop that owns the connection, or nil when it is
// served by its own goroutine.
func (c *Conn) Loop() *Loop {
	if c.ls != nil {
		return c.ls.l
	}
	return nil
}

// edgeTriggered is EPOLLET as the uint32 the event mask is (syscall's
// constant is a negative int).
const edgeTriggered = 1 << 31

// peekIdle is CheckIdle's look at the socket.
func (c *Conn) peekIdle() error {
	if fc := c.ls; fc != nil {
		if fc.closing.Load() {
			return net.ErrClosed
		}
		// The loop's readiness state answers without a system call: no
		// edge since a read drained the socket means nothing arrived by the
		// loop's last epoll wait. (Bytes that come during the loop's current
		// round are seen at the next reuse, as by nginx's keep-alive cache,
		// which closes a cached connection on its read event.)
		if !fc.readable && !fc.peerDone {
			return nil
		}
		err := peekFD(int(fc.fd))
		if err == nil {
			fc.readable = false // the peek found it empty: the next byte brings an edge
		}
		return err
	}
	g := c.goIO()
	if !g.raw.ok {
		nc := c.nc
		if u, ok := nc.(netConner); ok {
			nc = u.NetConn() // a wrapper's socket (TLS), peeked under it
		}
		if err := g.raw.init(nc); err != nil {
			if err == errNoRawIO {
				return nil
			}
			return err
		}
	}
	return g.raw.p.check()
}

// SendRoom tells how many more bytes the socket under c (under its
// wrapper too) takes now without waiting, as the kernel counts: half its
// send buffer (the other half is the kernel's own overhead) less what is
// queued there, unsent or unacknowledged. ok is false when the socket
// can't be asked. A wrapper that can't write in part (TLS) asks before it
// starts a record, so that a writer that must not wait for one peer
// doesn't.
func (c *Conn) SendRoom() (int, bool) {
	if fc := c.ls; fc != nil {
		if fc.closing.Load() {
			return 0, false
		}
		return sendRoomFD(int(fc.fd))
	}
	g := c.goIO()
	if !g.raw.ok {
		nc := c.nc
		if u, ok := nc.(netConner); ok {
			nc = u.NetConn()
		}
		if err := g.raw.init(nc); err != nil {
			return 0, false
		}
	}
	return g.raw.q.room()
}

// rawQueue asks a netpoller socket for its send room; its callback is a
// method value made once per connection.
type rawQueue struct {
	rc   syscall.RawConn
	fn   func(fd uintptr)
	n    int
	okay bool
}

func (q *rawQueue) room() (int, bool) {
	q.okay = false
	if err := q.rc.Control(q.fn); err != nil {
		return 0, false
	}
	return q.n, q.okay
}

func (q *rawQueue) ask(fd uintptr) { q.n, q.okay = sendRoomFD(int(fd)) }

func sendRoomFD(fd int) (int, bool) {
	size, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	if err != nil {
		return 0, false
	}
	var queued int32
	if _, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&queued))); e != 0 {
		return 0, false
	}
	return max(size/2-int(queued), 0), true
}

// rawPeeker peeks at a netpoller socket without waiting. Its callback is a
// method value made once per connection, so a check allocates nothing.
type rawPeeker struct {
	rc  syscall.RawConn
	fn  func(fd uintptr)
	err error
}

// check peeks through Control, not Read: it only pins the descriptor
// against a concurrent Close, skipping the poller's read preparation.
func (p *rawPeeker) check() error {
	p.err = nil
	if err := p.rc.Control(p.fn); err != nil {
		return err
	}
	return p.err
}

func (p *rawPeeker) peek(fd uintptr) { p.err = peekFD(int(fd)) }

// peekFD looks for one byte without taking it or waiting: nil when the
// socket is empty, io.EOF at the peer's end of stream, ErrUnsolicited when
// bytes are queued.
func peekFD(fd int) error {
	var b [1]byte
	for {
		r1, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return nil
		case e != 0:
			return os.NewSyscallError("recv", e)
		case r1 == 0:
			return io.EOF
		}
		return ErrUnsolicited
	}
}

// Sleep pauses the calling handler for d. On an event loop the task parks
// and the loop serves the others meanwhile; otherwise the goroutine sleeps.
func (c *Conn) Sleep(d time.Duration) {
	fc := c.ls
	if fc == nil || fc.l.cur == nil {
		time.Sleep(d)
		return
	}
	l := fc.l
	var waiter *Task
	woken := false // set and read on the loop only
	time.AfterFunc(d, func() {
		l.post(func() {
			woken = true
			l.wake(&waiter)
		})
	})
	for !woken {
		if l.park(&waiter) != nil {
			return
		}
	}
}
