//go:build linux

package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The netpoll IO model. A Loop is a goroutine that owns an epoll set and
// runs the handlers of its connections as coroutines ("tasks", iter.Pull):
// a read or write that would block yields back to the loop, which resumes
// the task when epoll reports the socket ready. Handlers stay ordinary
// blocking code, but a request costs no goroutine park/unpark, no wake-up
// of another thread and no read that fails with EAGAIN; events that arrive
// together are served in one pass, and the loops accept their own
// connections. A loop blocks in epoll_pwait without giving up its P (a raw
// system call), so waking it costs no P hand-off; the group makes sure a P
// is left for the rest of the process (admin API, timers, listeners served
// by goroutines), so that goroutines readied meanwhile, including those on
// a loop's own run queue, are run (stolen) there.
//
// Everything a loop owns (its sockets' state, its task queue, its deadline
// heap) is touched only by the loop and its tasks, which run one at a time.
// Other goroutines reach it through post, which queues a function and wakes
// the loop through an eventfd.

// errOutsideLoop reports a loop-owned socket used by a goroutine that is not
// one of its loop's tasks: a bug in the caller.
var errOutsideLoop = errors.New("network: loop socket used outside its event loop")

// LoopSupported reports whether this platform has the netpoll IO model.
const LoopSupported = true

// LoopGroup is a set of event loops sharing the connections of the
// listeners that use it.
type LoopGroup struct {
	loops []*Loop
	next  atomic.Uint32
}

// NewLoopGroup starts n event loops. An exclusive group serves every
// listener of the process: by default it runs one loop per P the process
// was given (GOMAXPROCS), and the first one raises GOMAXPROCS by one so the
// rest of the process (admin API, signals, timers) keeps a P of its own,
// the way Envoy runs --concurrency workers beside its main thread.
// Otherwise (n <= 0: GOMAXPROCS-1, at least 1) the loops leave one P to the
// goroutines that serve the other listeners; a loop that would leave none
// releases its P while it blocks instead.
func NewLoopGroup(n int, exclusive bool) (*LoopGroup, error) {
	procs := runtime.GOMAXPROCS(0)
	switch {
	case exclusive:
		procs = loopProcs()
		if n <= 0 {
			n = procs
		}
	case n <= 0:
		n = max(1, procs-1)
	}
	g := &LoopGroup{}
	for range n {
		l, err := newLoop()
		if err != nil {
			g.Close()
			return nil, err
		}
		if exclusive || n < procs {
			l.holdP = 1
		}
		g.loops = append(g.loops, l)
		go l.run()
	}
	return g, nil
}

// loopProcs is the GOMAXPROCS the process had before exclusive loop groups
// added their extra P (once per process).
func loopProcs() int {
	extraP.once.Do(func() {
		extraP.base = runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(extraP.base + 1)
	})
	return extraP.base
}

var extraP struct {
	once sync.Once
	base int
}

// pick chooses the loop for a new connection: the one serving the fewest,
// ties broken round robin. Whichever loop accepted a connection, it goes
// where the load is lowest (a loop woken for a burst of connections would
// otherwise take them all).
func (g *LoopGroup) pick() *Loop {
	start := int(g.next.Add(1))
	best := g.loops[start%len(g.loops)]
	for i := 1; i < len(g.loops); i++ {
		l := g.loops[(start+i)%len(g.loops)]
		if l.served.Load() < best.served.Load() {
			best = l
		}
	}
	return best
}

// serve starts a task on l for a connection pick chose it for; from l
// itself it starts at once, from elsewhere through l's inbox.
func (l *Loop) serve(fc *fdConn, fn func(), here bool) {
	l.served.Add(1)
	start := func() {
		if err := l.add(fc); err != nil {
			l.closeConn(fc) // fn sees a closed connection and returns
		}
		l.spawn(func() {
			defer l.served.Add(-1)
			fn()
		})
	}
	if here {
		start()
	} else {
		l.post(start)
	}
}

// Close stops the loops; their remaining sockets are closed and their tasks
// see errors on their next read or write.
func (g *LoopGroup) Close() {
	for _, l := range g.loops {
		l.post(func() { l.stopping = true })
	}
	for _, l := range g.loops {
		<-l.stopped
	}
	g.loops = nil
}

// Loop is one event loop.
type Loop struct {
	epfd, evfd int
	served     atomic.Int64 // connections being served, for placement
	holdP      int          // 1: block in epoll without releasing the P

	// State of the loop and its tasks only.
	conns     []*fdConn         // by descriptor
	accepting map[int]*Listener // listening sockets this loop accepts from
	ready     []*Task
	spare     []*Task
	cur       *Task
	timers    deadlineHeap
	now       int64  // unix ns, refreshed after every epoll_pwait
	gen       uint32 // last socket generation handed out
	stopping  bool
	events    [128]syscall.EpollEvent

	mu      sync.Mutex
	inbox   []func()
	drained []func()
	posted  atomic.Bool
	stopped chan struct{}
}

func newLoop() (*Loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	r1, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if e != 0 {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("eventfd2", e)
	}
	evfd := int(r1)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(evfd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &Loop{epfd: epfd, evfd: evfd, stopped: make(chan struct{}), accepting: map[int]*Listener{}}, nil
}

// post runs fn on the loop, soon. Safe from any goroutine.
func (l *Loop) post(fn func()) {
	l.mu.Lock()
	l.inbox = append(l.inbox, fn)
	l.mu.Unlock()
	if !l.posted.Swap(true) {
		one := uint64(1)
		syscall.Write(l.evfd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

func (l *Loop) runInbox() {
	var buf [8]byte
	syscall.Read(l.evfd, buf[:])
	l.posted.Store(false)
	l.mu.Lock()
	fns := l.inbox
	l.inbox = l.drained[:0]
	l.mu.Unlock()
	for i, fn := range fns {
		fn()
		fns[i] = nil
	}
	l.drained = fns
}

func (l *Loop) run() {
	defer close(l.stopped)
	l.now = time.Now().UnixNano()
	lastYield := l.now
	for !l.stopping {
		if l.now-lastYield >= int64(yieldEvery) {
			// Rescheduling now and then keeps sysmon from seeing a
			// goroutine that never stops and preempting it with a signal
			// (and often moving it to another thread) every 10 ms.
			runtime.Gosched()
			lastYield = l.now
		}
		timeout := 1000 // refreshes l.now now and then
		if d, ok := l.timers.next(); ok {
			timeout = int(min(max((d-l.now+int64(time.Millisecond)-1)/int64(time.Millisecond), 0), 1000))
		}
		if len(l.ready) > 0 {
			timeout = 0
		}
		r1, e := l.wait(timeout)
		n := int(r1)
		if e != 0 {
			n = 0
		}
		l.now = time.Now().UnixNano()
		for i := range n {
			ev := &l.events[i]
			fd := int(ev.Fd)
			if fd == l.evfd {
				l.runInbox()
				continue
			}
			if fd >= len(l.conns) || l.conns[fd] == nil {
				if ln := l.accepting[fd]; ln != nil {
					l.accept(fd, ln)
				}
				continue
			}
			c := l.conns[fd]
			if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				c.peerDone = true
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				c.readable = true
				l.wake(&c.rwait)
			}
			if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				c.writable = true
				l.wake(&c.wwait)
			}
		}
		l.fireTimers()
		l.runReady()
	}
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c)
		}
	}
	l.runReady()
	syscall.Close(l.epfd)
	syscall.Close(l.evfd)
}

// wait is epoll_pwait. A loop that may keep its P (the group leaves one for
// the rest of the process) blocks in a raw system call: waking up then costs
// no P hand-off and no other thread. Otherwise it polls once and blocks in a
// system call the scheduler knows about, freeing the P meanwhile. Signals
// (the runtime's preemption among them) interrupt it with EINTR.
func (l *Loop) wait(timeout int) (uintptr, syscall.Errno) {
	ev := uintptr(unsafe.Pointer(&l.events[0]))
	r1, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), ev, uintptr(len(l.events)), uintptr(timeout*l.holdP), 0, 0)
	if r1 == 0 && e == 0 && timeout != 0 && l.holdP == 0 {
		r1, _, e = syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), ev, uintptr(len(l.events)), uintptr(timeout), 0, 0)
	}
	return r1, e
}

func (l *Loop) runReady() {
	for len(l.ready) > 0 {
		batch := l.ready
		l.ready = l.spare[:0]
		for i, t := range batch {
			batch[i] = nil
			t.queued = false
			l.resume(t)
		}
		l.spare = batch[:0]
	}
}

func (l *Loop) resume(t *Task) {
	if t.done {
		return
	}
	l.cur = t
	_, ok := t.next()
	l.cur = nil
	if !ok {
		t.done = true
		t.stop()
		for _, j := range t.joiners {
			l.schedule(j)
		}
		t.joiners = nil
	}
}

func (l *Loop) schedule(t *Task) {
	if !t.queued && !t.done {
		t.queued = true
		l.ready = append(l.ready, t)
	}
}

// wake schedules the task waiting in *slot, if any.
func (l *Loop) wake(slot **Task) {
	if t := *slot; t != nil {
		*slot = nil
		l.schedule(t)
	}
}

// park suspends the calling task until something wakes it. The task first
// records itself where the waker will find it.
func (l *Loop) park(slot **Task) error {
	t := l.cur
	if t == nil {
		return errOutsideLoop
	}
	*slot = t
	t.yield(struct{}{})
	if *slot == t {
		*slot = nil
	}
	return nil
}

// blocking runs fn on a goroutine while the calling task waits, so that a
// call which blocks (name resolution) does not stall the loop's other tasks.
func (l *Loop) blocking(fn func()) error {
	if l.cur == nil {
		return errOutsideLoop
	}
	var waiter *Task
	done := false // written by the posted function, on the loop
	go func() {
		fn()
		l.post(func() {
			done = true
			l.wake(&waiter)
		})
	}()
	for !done {
		if err := l.park(&waiter); err != nil {
			return err
		}
	}
	return nil
}

// spawn starts fn as a task of this loop; call from the loop or its tasks.
func (l *Loop) spawn(fn func()) *Task {
	t := &Task{loop: l}
	t.next, t.stop = iter.Pull(func(yield func(struct{}) bool) {
		t.yield = yield
		defer func() {
			if r := recover(); r != nil { // a panic would otherwise stop the loop
				slog.Error("event loop task panic", "panic", r)
			}
		}()
		fn()
	})
	l.schedule(t)
	return t
}

// Task is a function running concurrently with its creator: a task of an
// event loop, or a goroutine.
type Task struct {
	loop    *Loop
	next    func() (struct{}, bool)
	stop    func()
	yield   func(struct{}) bool
	queued  bool
	done    bool
	joiners []*Task
	ch      chan struct{} // goroutine tasks
}

// Go runs fn concurrently with the caller. When c belongs to an event loop,
// fn becomes another task of that loop (the caller must be one of its
// tasks, as every user of c is); otherwise it runs on a new goroutine.
func (c *Conn) Go(fn func()) *Task {
	if fc, ok := c.nc.(*fdConn); ok && fc.l.cur != nil {
		return fc.l.spawn(fn)
	}
	t := &Task{ch: make(chan struct{})}
	go func() {
		defer close(t.ch)
		fn()
	}()
	return t
}

// Done reports whether the task has returned, without waiting.
func (t *Task) Done() bool {
	if t.loop != nil {
		return t.done
	}
	select {
	case <-t.ch:
		return true
	default:
		return false
	}
}

// Wait waits until the task has returned; a loop task's waiter yields to
// the loop meanwhile.
func (t *Task) Wait() {
	if t.loop == nil {
		<-t.ch
		return
	}
	l := t.loop
	for !t.done {
		me := l.cur
		if me == nil {
			panic(errOutsideLoop)
		}
		t.joiners = append(t.joiners, me)
		me.yield(struct{}{})
	}
}

// fdConn is a non-blocking TCP socket owned by a loop; it is the net.Conn
// under a Conn served in the netpoll model.
type fdConn struct {
	l            *Loop
	fd           int
	readable     bool
	writable     bool
	peerDone     bool // the peer's FIN (or an error) is queued: reads never block again
	rwait, wwait *Task
	rdl, wdl     atomic.Int64 // deadlines, unix ns; 0: none
	closing      atomic.Bool  // Close was called (the loop closes the fd)
	closed       bool         // the fd is closed (by the loop)
	gen          uint32       // tells this socket from earlier ones with the same descriptor
	rarmed       int64        // deadline of this socket's read entry in the heap; 0: none
	warmed       int64
	laddr, raddr net.Addr
	iov          [4]syscall.Iovec
}

// add registers a connected socket with the loop; call from the loop or its tasks.
func (l *Loop) add(c *fdConn) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | edgeTriggered, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	for c.fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*fdConn, max(64, len(l.conns)))...)
	}
	l.gen++
	c.gen = l.gen
	l.conns[c.fd] = c
	return nil
}

func (l *Loop) closeConn(c *fdConn) {
	if c.closed {
		return
	}
	c.closed = true
	c.closing.Store(true)
	if c.fd < len(l.conns) && l.conns[c.fd] == c {
		l.conns[c.fd] = nil
	}
	syscall.Close(c.fd) // also leaves the epoll set
	l.wake(&c.rwait)
	l.wake(&c.wwait)
}

// expired reports whether deadline d (unix ns, 0 none) has passed.
func (l *Loop) expired(d int64) bool { return d != 0 && d <= l.now }

func (c *fdConn) Read(b []byte) (int, error) {
	for {
		if c.closing.Load() {
			return 0, net.ErrClosed
		}
		if c.l.expired(c.rdl.Load()) {
			return 0, os.ErrDeadlineExceeded
		}
		if c.readable {
			r1, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
			n := int(r1)
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				c.readable = false
			case e != 0:
				return 0, os.NewSyscallError("read", e)
			case n == 0 && len(b) > 0:
				return 0, io.EOF
			default:
				if n < len(b) && !c.peerDone {
					// Short read: the socket is empty now; new bytes raise
					// a new edge. Not so for a FIN that came with the
					// last bytes: its edge is spent, the next read sees it.
					c.readable = false
				}
				return n, nil
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
		})
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// Writev writes the pieces with gathered writes.
func (c *fdConn) Writev(pieces [][]byte) (int64, error) {
	var total int64
	for {
		iov := c.iov[:0]
		for _, p := range pieces {
			if len(p) > 0 && len(iov) < len(c.iov) {
				iov = append(iov, syscall.Iovec{Base: unsafe.SliceData(p), Len: uint64(len(p))})
			}
		}
		if len(iov) == 0 {
			return total, nil
		}
		n, err := c.writeOnce(func() (uintptr, syscall.Errno) {
			r1, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(c.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			return r1, e
		})
		clear(c.iov[:])
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

// writeOnce makes one write system call, waiting for room first if the
// socket's buffer is known to be full.
func (c *fdConn) writeOnce(call func() (uintptr, syscall.Errno)) (int, error) {
	for {
		if c.closing.Load() {
			return 0, net.ErrClosed
		}
		if c.l.expired(c.wdl.Load()) {
			return 0, os.ErrDeadlineExceeded
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
		c.l.timers.push(deadline{when: d, fd: int32(c.fd), gen: c.gen, write: write})
	}
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
		if c == nil || c.gen != e.gen {
			continue // the socket is closed (its number may be reused)
		}
		armed, slot, dl := &c.rarmed, &c.rwait, c.rdl.Load()
		if e.write {
			armed, slot, dl = &c.warmed, &c.wwait, c.wdl.Load()
		}
		if *armed != e.when {
			continue // stale: replaced by an earlier entry
		}
		*armed = 0
		if l.expired(dl) {
			l.wake(slot)
		} else if *slot != nil {
			c.arm(e.write) // the deadline moved later
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
	return os.NewSyscallError("shutdown", syscall.Shutdown(c.fd, syscall.SHUT_WR))
}

func (c *fdConn) LocalAddr() net.Addr  { return c.laddr }
func (c *fdConn) RemoteAddr() net.Addr { return c.raddr }

func (c *fdConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline may be called from any goroutine. A later deadline needs
// nothing more (the loop checks the value when it wakes); an earlier one is
// posted so that a task already waiting is woken in time.
func (c *fdConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, t)
	return nil
}

func (c *fdConn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.wdl, t)
	return nil
}

func (c *fdConn) setDeadline(slot *atomic.Int64, t time.Time) {
	var v int64
	if !t.IsZero() {
		v = t.UnixNano()
		if v <= 0 {
			v = 1
		}
	}
	old := slot.Swap(v)
	if v != 0 && (old == 0 || v < old) {
		write := slot == &c.wdl
		c.l.post(func() {
			if !c.closed {
				c.arm(write)
			}
		})
	}
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
	when  int64
	fd    int32
	gen   uint32
	write bool
}

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

func (h *deadlineHeap) pop() deadline {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = deadline{}
	s = s[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].when < s[m].when {
			m = l
		}
		if r < len(s) && s[r].when < s[m].when {
			m = r
		}
		if m == i {
			break
		}
		s[m], s[i] = s[i], s[m]
		i = m
	}
	*h = s
	return top
}

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
func (g *LoopGroup) adopt(nc net.Conn, wrap func(net.Conn) *Conn, serve func(*Conn)) error {
	laddr, raddr := nc.LocalAddr(), nc.RemoteAddr()
	fd, err := detachFD(nc)
	if err != nil {
		return err
	}
	l := g.pick()
	fc := &fdConn{l: l, fd: fd, readable: true, writable: true, laddr: laddr, raddr: raddr}
	c := wrap(fc)
	l.serve(fc, func() { serve(c) }, false)
	return nil
}

// DialLoop connects to addr from a task of loop l, waiting for the
// connection as the task's other sockets do. A host name is resolved on a
// goroutine meanwhile (the resolver blocks).
func (l *Loop) DialLoop(addr string, timeout time.Duration) (net.Conn, error) {
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
	c := &fdConn{l: l, fd: fd, raddr: raddr}
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
	if lsa, err := syscall.Getsockname(fd); err == nil {
		c.laddr = sockaddrToTCP(lsa)
	}
	return c, nil
}

func sockaddrToTCP(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: a.Addr[:], Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: a.Addr[:], Port: a.Port}
	}
	return nil
}

// Loop returns the event loop that owns the connection, or nil when it is
// served by its own goroutine.
func (c *Conn) Loop() *Loop {
	if fc, ok := c.nc.(*fdConn); ok {
		return fc.l
	}
	return nil
}

// yieldEvery is how often a loop reschedules itself; below sysmon's 10 ms.
const yieldEvery = 5 * time.Millisecond

// edgeTriggered is EPOLLET as the uint32 the event mask is (syscall's
// constant is a negative int).
const edgeTriggered = 1 << 31

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
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(fd)}
			err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
			if err == nil {
				l.accepting[fd] = ln
			}
			errc <- err
		})
		select {
		case err = <-errc:
		case <-l.stopped:
			err = errors.New("network: event loop stopped")
		}
		if err != nil {
			ln.stopLoopAccept()
			return true, os.NewSyscallError("epoll_ctl", err)
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
				syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
				delete(l.accepting, fd)
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
			syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
			delete(l.accepting, fd)
			time.AfterFunc(acceptPause, func() {
				l.post(func() {
					if ln.closedForAccept() {
						return
					}
					ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(fd)}
					if syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev) == nil {
						l.accepting[fd] = ln
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
	raddr := sockaddrToTCP(sa)
	if int(ln.Counters.ConnsActive.Load()) >= ln.opts.MaxConnections {
		ln.log.Warn("connection limit reached, closing new connection", "limit", ln.opts.MaxConnections, "remote", raddr.String())
		syscall.Close(fd)
		return
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	var laddr net.Addr
	if lsa, err := syscall.Getsockname(fd); err == nil {
		laddr = sockaddrToTCP(lsa)
	}
	l := ln.opts.Loops.pick()
	fc := &fdConn{l: l, fd: fd, readable: true, writable: true, laddr: laddr, raddr: raddr}
	c := NewConn(fc, &ln.Counters, ln.opts.MaxBufferSize)
	c.ln = ln
	if !ln.track(c) {
		c.Close() // the loop closes the descriptor
		return
	}
	ln.wg.Add(1)
	l.serve(fc, func() { ln.serveConnWith(ln.serveCtx, c, ln.handler) }, l == from)
}
