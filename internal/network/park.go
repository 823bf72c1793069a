package network

// An idle connection in the netpoll model holds no task: a handler waiting
// for the next message with nothing buffered parks the connection
// (ParkIdle) and returns, its coroutine ends, and the loop starts the
// handler's continuation on a worker task when the socket becomes
// readable, its read deadline passes, a drain wakes it or it is closed.
// Requests in progress keep straight-line code: only the wait at a message
// boundary changes, as nginx and fasthttp park a connection between
// requests with only its small state.

// ParkIdle lets a handler that waits for its connection's next message,
// with nothing buffered, give up its task instead of blocking in Fill. It
// reports true on an event loop when the connection was accepted by a
// listener (so the listener's cleanup follows the connection wherever it
// resumes) and nothing is ready to read: the caller must then return at
// once, and so must every function up to the listener's Handler, without
// touching c again; the read buffer goes back to its pool. When bytes
// arrive, the read deadline passes, a drain wakes the connection or it is
// closed, resume runs as the connection's handler on a task of its loop:
// it calls Fill, which returns at once or waits as usual, and carries on.
// When resume returns without having parked again, the listener closes the
// connection as after its Handler.
//
// It reports false in the goroutine model, for connections of no listener,
// and when bytes are buffered or the socket is known readable (its next
// read will not wait): the caller then calls Fill as usual.
func (c *Conn) ParkIdle(resume func()) bool {
	if c.ln == nil || !c.ParkRead(resume) {
		return false
	}
	c.idlePark = true
	return true
}

// ParkRead is the primitive under ParkIdle for any connection of an event
// loop, a dialled one too, whose reader waits for bytes with nothing
// buffered: on true the calling task returns, and resume runs as a new task
// of the loop when bytes arrive, the read deadline passes or the socket
// closes. Nothing follows resume's return: the listener's handler of a
// connection read so must have left it to its tasks (Detach). A resume must
// not panic: it has no handler to recover it.
func (c *Conn) ParkRead(resume func()) bool {
	if len(c.Buffered()) > 0 || !c.parkOnLoop() {
		return false
	}
	c.Release()
	c.resume = resume
	c.idlePark = false
	return true
}

// Detach lets a listener's handler return while its connection lives on,
// served by tasks the handler started (readers that ParkRead): the
// listener's cleanup (AfterServe functions, closing, forgetting the
// connection) waits for Finish. It reports false in the goroutine model
// and for connections of no listener: the handler then waits for its tasks
// itself, as before.
func (c *Conn) Detach() bool {
	if c.ln == nil || c.Loop() == nil {
		return false
	}
	c.detached = true
	return true
}

// Finish ends a detached connection: the listener's cleanup runs now. Call
// it once, from a task of the connection's loop, when its tasks are done.
func (c *Conn) Finish() {
	c.detached = false
	c.ln.endServe(c)
}

// AfterServe runs fn once the connection's handler is done for good: at
// once, unless the handler parked the connection (ParkIdle), then when the
// handler that resumed it last returns. A layer that wraps a handler and
// holds state for the connection's lifetime (a stream tracker entry)
// releases it so, as a defer: when the handler parks, the wrapping
// function returns long before the connection ends.
func (c *Conn) AfterServe(fn func()) {
	if c.resume == nil {
		fn()
		return
	}
	if prev := c.after; prev != nil {
		// Inner layers registered first and end first, as defers do.
		c.after = func() { prev(); fn() }
	} else {
		c.after = fn
	}
}

// runJob runs a parked connection's handler on a worker task of its loop,
// with the listener's cleanup.
func (c *Conn) runJob() {
	fn := c.resume
	c.resume = nil
	if c.idlePark {
		c.idlePark = false
		defer c.ln.endServe(c)
	}
	fn()
}
