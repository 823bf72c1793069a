package network

import "sync"

// InFlight counts the requests a connection's reader has passed on and
// others will answer, so that the reader can wait for the answers before
// the connection closes or is handed over. In the goroutine model it is a
// sync.WaitGroup; on an event loop every party is a task of the
// connection's loop, so it is a plain counter whose waiter yields to the
// loop.
type InFlight struct {
	loop   *Loop
	n      int
	waiter *Task
	wg     sync.WaitGroup
}

// NewInFlight counts requests of c.
func NewInFlight(c *Conn) *InFlight { return &InFlight{loop: c.Loop()} }

// Add counts one more request.
func (f *InFlight) Add() {
	if f.loop == nil {
		f.wg.Add(1)
		return
	}
	f.n++
}

// Done counts one request answered.
func (f *InFlight) Done() {
	if f.loop == nil {
		f.wg.Done()
		return
	}
	if f.n--; f.n == 0 {
		f.loop.wake(&f.waiter)
	}
}

// Wait waits until every request counted is answered.
func (f *InFlight) Wait() {
	if f.loop == nil {
		f.wg.Wait()
		return
	}
	for f.n > 0 {
		if err := f.loop.park(&f.waiter); err != nil {
			panic(err)
		}
	}
}

// Pending is how many requests are counted and not answered, on an event
// loop; in the goroutine model it is not kept and reads 0.
func (f *InFlight) Pending() int { return f.n }
