//go:build linux

package network

import (
	"errors"
	"iter"
	"log/slog"
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
// connections. A busy loop blocks in epoll_pwait without giving up its P
// (a raw system call; see wait), so waking it costs no P hand-off; the
// group makes sure a P is left for the rest of the process (admin API,
// timers, listeners served by goroutines), so that goroutines readied
// meanwhile, including those on a loop's own run queue, are run (stolen)
// there.
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

// Len is the number of loops.
func (g *LoopGroup) Len() int { return len(g.loops) }

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
// itself it starts at once, from elsewhere through l's inbox. The
// connection counts as served until the listener's cleanup (endServe),
// parked or not.
func (l *Loop) serve(fc *fdConn, fn func(), here bool) {
	l.served.Add(1)
	start := func() {
		if err := l.add(fc); err != nil {
			l.closeConn(fc) // fn sees a closed connection and returns
		}
		l.work(funcJob(fn))
	}
	if here {
		start()
	} else {
		l.post(start)
	}
}

// Close stops the loops; their remaining sockets are closed and their tasks
// see errors on their next read or write. The group keeps its (stopped)
// loops: listeners still starting or stopping read the list concurrently.
func (g *LoopGroup) Close() {
	for _, l := range g.loops {
		l.post(func() { l.stopping = true })
	}
	for _, l := range g.loops {
		<-l.stopped
	}
}

// Loop is one event loop.
type Loop struct {
	epfd, evfd int
	served     atomic.Int64 // connections being served, for placement
	holdP      int          // 1: block in epoll without releasing the P

	// State of the loop and its tasks only.
	conns     []*fdConn         // by descriptor
	sockets   int               // registered in conns
	accepting map[int]*Listener // listening sockets this loop accepts from
	ready     []*Task
	spare     []*Task
	workers   []*Task // idle worker tasks, waiting for a connection to serve (work)
	// workersLow is the fewest idle workers since the last trim: that
	// many were not needed for a while (trimWorkers).
	workersLow int
	lastTrim   int64
	cur        *Task
	// afterPass holds what AfterPass queued, run by a worker (afterJob)
	// once the tasks ready in this pass have run.
	afterPass, afterSpare []func()
	afterJob              job
	timers                deadlineHeap
	now                   int64  // unix ns, refreshed after every epoll_pwait
	gen                   uint32 // last socket generation handed out
	stopping              bool
	events                [128]syscall.EpollEvent

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
	l := &Loop{epfd: epfd, evfd: evfd, stopped: make(chan struct{}), accepting: map[int]*Listener{}}
	l.afterJob = funcJob(l.runAfterPass)
	return l, nil
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
		if l.now-l.lastTrim >= int64(trimEvery) {
			l.trimWorkers()
		}
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
				l.wakeReader(c)
			}
			if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				c.writable = true
				l.wake(&c.wwait)
			}
		}
		l.fireTimers()
		l.runPass()
	}
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c)
		}
	}
	l.runReady()
	for _, t := range l.workers {
		t.stop() // its yield returns false: the worker returns
	}
	l.workers = nil
	syscall.Close(l.epfd)
	syscall.Close(l.evfd)
}

// wait is epoll_pwait for up to timeout ms. A loop that may keep its P
// (the group leaves one for the rest of the process) first blocks for up
// to a millisecond in a raw system call: a busy loop's wake-ups then cost no
// P hand-off and no other thread. Past that (an idle loop), and for loops
// that must not keep their P, it blocks in a system call the scheduler
// knows about: the P is freed meanwhile and sysmon neither preempts the
// loop nor polls for it, so an idle proxy sleeps. Signals interrupt it with
// EINTR.
func (l *Loop) wait(timeout int) (n uintptr, e syscall.Errno) {
	ev := uintptr(unsafe.Pointer(&l.events[0]))
	raw := min(timeout, l.holdP) // ms
	n, _, e = syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), ev, uintptr(len(l.events)), uintptr(raw), 0, 0)
	if n == 0 && e == 0 && timeout > raw {
		n, _, e = syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), ev, uintptr(len(l.events)), uintptr(timeout-raw), 0, 0)
	}
	return n, e
}

// runPass runs the ready tasks, then what they left for after the pass
// (AfterPass), until nothing is ready.
func (l *Loop) runPass() {
	l.runReady()
	for len(l.afterPass) > 0 {
		l.work(l.afterJob)
		l.runReady()
	}
}

// runAfterPass runs the functions queued by AfterPass, on a worker task. A
// function may wait (for a write lock), and more may be queued meanwhile:
// those run in a later job, and the slices of the two never alias.
func (l *Loop) runAfterPass() {
	fns := l.afterPass
	l.afterPass, l.afterSpare = l.afterSpare[:0], nil
	for i, fn := range fns {
		fn()
		fns[i] = nil
	}
	if l.afterSpare == nil {
		l.afterSpare = fns[:0]
	}
}

// AfterPass runs fn on a task of c's loop once every task ready now has
// run. A multiplexing writer queues its connection's flush so: the frames
// that many streams produce in one pass of the loop (one reader's batch of
// requests, the responses another connection brought) go out in one write
// system call instead of one each. It reports false off a loop or outside
// its tasks: the caller then does the work itself.
func (c *Conn) AfterPass(fn func()) bool {
	if c.ls == nil || c.ls.l.cur == nil {
		return false
	}
	l := c.ls.l
	l.afterPass = append(l.afterPass, fn)
	return true
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

// Go starts fn as a new task of l. Any goroutine may call it: work for l's
// connections that starts elsewhere (a timer) runs on l this way.
func (l *Loop) Go(fn func()) {
	l.post(func() { l.spawn(fn) })
}

// spawn starts fn as a task of this loop; call from the loop or its tasks.
func (l *Loop) spawn(fn func()) *Task {
	t := &Task{loopTask: loopTask{loop: l}}
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

// loopTask is the state of a Task that runs on an event loop.
type loopTask struct {
	loop    *Loop
	next    func() (struct{}, bool)
	stop    func()
	yield   func(struct{}) bool
	queued  bool
	done    bool
	joiners []*Task
	job     job // a worker's next or current job (work)
}

// job is what a worker task runs: a connection's handler, first started
// (funcJob) or resumed after ParkIdle (*Conn).
type job interface{ runJob() }

type funcJob func()

func (f funcJob) runJob() { f() }

// maxIdleWorkers bounds the worker tasks a loop keeps for later jobs. A
// worker keeps its grown stack while it waits, so it is worth keeping as
// many as the loop has requests in progress at a time (a new one costs a
// coroutine, a few allocations), and no more: idle connections hold none.
const maxIdleWorkers = 64

// work runs j on one of the loop's idle worker tasks, or on a new one. Call
// from the loop or its tasks.
func (l *Loop) work(j job) {
	if n := len(l.workers); n > 0 {
		t := l.workers[n-1]
		l.workers[n-1] = nil
		l.workers = l.workers[:n-1]
		l.workersLow = min(l.workersLow, n-1)
		t.job = j
		l.schedule(t)
		return
	}
	var t *Task
	t = l.spawn(func() { l.worker(t) }) // runs after spawn returns: t is set
	t.job = j
}

// trimEvery is how often a loop ends the idle workers it did not need
// since the last time: a loop whose load fell keeps no stacks for it.
const trimEvery = time.Second

// trimWorkers ends the workers that stayed idle since the last trim (the
// longest idle: the pool is a stack).
func (l *Loop) trimWorkers() {
	l.lastTrim = l.now
	n := min(l.workersLow, len(l.workers))
	if n > 0 {
		old := len(l.workers)
		for _, t := range l.workers[:n] {
			t.done = true
			t.stop() // its yield returns false: the worker returns
		}
		l.workers = append(l.workers[:0], l.workers[n:]...)
		clear(l.workers[len(l.workers):old])
	}
	l.workersLow = len(l.workers)
}

// worker runs jobs, waiting in the loop's pool of idle workers between
// them, until the pool is full or the loop stops.
func (l *Loop) worker(t *Task) {
	for {
		j := t.job
		t.job = nil
		j.runJob()
		if len(l.workers) >= maxIdleWorkers || l.stopping {
			return
		}
		l.workers = append(l.workers, t)
		for t.job == nil { // a stray wake-up is no job
			if !t.yield(struct{}{}) {
				return // the loop stopped
			}
		}
	}
}

// goOnLoop starts fn as another task of c's loop when c belongs to one.
func (c *Conn) goOnLoop(fn func()) *Task {
	if c.ls != nil && c.ls.l.cur != nil {
		return c.ls.l.spawn(fn)
	}
	return nil
}

func (t *Task) loopDone() bool { return t.done }

// loopWait yields the calling task to the loop until t has returned.
func (t *Task) loopWait() {
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

// yieldEvery is how often a busy loop reschedules itself: below sysmon's 10 ms,
// and no more often, as each reschedule wakes a spinning thread.
const yieldEvery = 8 * time.Millisecond
