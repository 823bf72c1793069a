package network

// Task is a function running concurrently with its creator: a task of an
// event loop (netpoll IO model) or a goroutine.
type Task struct {
	ch chan struct{} // closed when a goroutine task returns; nil for a loop task
	loopTask
}

// Go runs fn concurrently with the caller. When c belongs to an event loop,
// fn becomes another task of that loop (the caller must be one of its
// tasks, as every user of c is); otherwise it runs on a new goroutine.
func (c *Conn) Go(fn func()) *Task {
	if t := c.goOnLoop(fn); t != nil {
		return t
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
	if t.ch == nil {
		return t.loopDone()
	}
	select {
	case <-t.ch:
		return true
	default:
		return false
	}
}

// Wait waits until the task has returned; a loop task's waiter yields to
// its loop meanwhile.
func (t *Task) Wait() {
	if t.ch == nil {
		t.loopWait()
		return
	}
	<-t.ch
}

// Run runs fn where the connection's work belongs: as a new task of its
// event loop, or at once on the calling goroutine when it has none. For
// work that comes back later from elsewhere (a timer) to the connection.
func (c *Conn) Run(fn func()) {
	if l := c.Loop(); l != nil {
		l.Go(fn)
		return
	}
	fn()
}
