package network

// Signal wakes one waiter: a task that waits for news from another task
// of its connection's loop (or, in the goroutine model, any goroutine). A
// Notify with nobody waiting is kept for the next Wait. On an event loop
// Notify must come from a task of the loop, as every use of its
// connections does.
type Signal struct {
	loop   *Loop
	set    bool
	waiter *Task
	ch     chan struct{}
}

// NewSignal makes a Signal for tasks of c's loop, or goroutines.
func NewSignal(c *Conn) *Signal {
	if l := c.Loop(); l != nil {
		return &Signal{loop: l}
	}
	return &Signal{ch: make(chan struct{}, 1)}
}

// Notify wakes the waiter, or the next one to wait.
func (s *Signal) Notify() {
	if s.loop == nil {
		select {
		case s.ch <- struct{}{}:
		default:
		}
		return
	}
	s.set = true
	s.loop.wake(&s.waiter)
}

// Wait waits for a Notify (one that came before counts) and consumes it.
func (s *Signal) Wait() {
	if s.loop == nil {
		<-s.ch
		return
	}
	for !s.set {
		if err := s.loop.park(&s.waiter); err != nil {
			panic(err)
		}
	}
	s.set = false
}

// Latch lets any number of tasks of a loop (or goroutines) wait for one
// event, such as a connection being dialled that they all want to use.
// Open must come from a task of the loop, as Wait does.
type Latch struct {
	loop  *Loop
	open  bool
	slots []**Task // where each waiting task parked
	ch    chan struct{}
}

// NewLatch makes a Latch for tasks of l, or for goroutines when l is nil.
func NewLatch(l *Loop) *Latch {
	if l != nil {
		return &Latch{loop: l}
	}
	return &Latch{ch: make(chan struct{})}
}

// Open wakes every waiter; later Waits return at once. Call it once.
func (x *Latch) Open() {
	if x.loop == nil {
		close(x.ch)
		return
	}
	x.open = true
	for _, slot := range x.slots {
		x.loop.wake(slot)
	}
	x.slots = nil
}

// Wait waits until the latch is open.
func (x *Latch) Wait() {
	if x.loop == nil {
		<-x.ch
		return
	}
	for !x.open {
		slot := new(*Task)
		x.slots = append(x.slots, slot)
		if err := x.loop.park(slot); err != nil {
			panic(err)
		}
	}
}
