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
