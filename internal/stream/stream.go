package stream

import "time"

// Request is a request head as routing and stream filters read it, the
// same for every protocol: Header finds HTTP fields by case-insensitive
// name, the pseudo-headers ":method", ":path" and ":authority" (and
// "method") on HTTP, and Bolt header-map keys as they are. Values are views,
// valid while the request is being forwarded.
type Request interface {
	Host() []byte
	Path() []byte
	Method() []byte
	Header(name string) ([]byte, bool)
}

// HeadEditor changes a head before it is forwarded. Edits are recorded
// beside the decoded head and written out with it: nothing is re-encoded
// that did not change. Names and values must stay valid until the head is
// written (the proxy passes route-owned bytes).
type HeadEditor interface {
	Header(name string) ([]byte, bool)
	// DelHeader removes every header of that name.
	DelHeader(name []byte)
	// AddHeader adds one header after the others, keeping any of the same
	// name.
	AddHeader(name, value []byte)
}

// RequestEditor edits a request head: its headers and, where the protocol
// has them, its authority and path.
type RequestEditor interface {
	Request
	HeadEditor
	// SetHost replaces the authority (HTTP's Host); a protocol without one
	// ignores it.
	SetHost(host string)
	// ReplacePathPrefix replaces the first n bytes of the path with prefix;
	// a protocol without paths ignores it.
	ReplacePathPrefix(n int, prefix string)
}

// Response is a response head as encode-side filters see it.
type Response interface {
	HeadEditor
	// Status is the status in HTTP terms (other protocols map theirs).
	Status() int
}

// Reply is an answer the proxy makes itself, in HTTP terms, with its
// cause: each protocol maps the two to its own (a Bolt status, a gRPC
// status).
type Reply struct {
	Status int
	Body   []byte
	Cause  Cause
}

// Cause says why the proxy answers a request itself.
type Cause uint8

// Causes of a local reply.
const (
	// Local: a filter or a direct route answers; Status says it all.
	Local Cause = iota
	// NoRoute: no route, or no such cluster.
	NoRoute
	// Unavailable: no healthy host, no connection, or the host failed.
	Unavailable
	// TimedOut: the route's or the try's timeout ran out.
	TimedOut
	// Overflowed: a limit refused the request (HTTP adds
	// x-mosn-overflow: true).
	Overflowed
	// Malformed: the client's request was malformed.
	Malformed
)

// Outcome is how one try of a request ended.
type Outcome uint8

// Outcomes of a try.
const (
	// Answered: the upstream's response was relayed (Result.Status).
	Answered Outcome = iota
	// ConnectFailed: no connection to the host could be had.
	ConnectFailed
	// Overflow: the host's connection limit is reached.
	Overflow
	// NotSent: the request could not be written to a connection shared by
	// many requests; nothing reached the host.
	NotSent
	// Stale: a reused connection turned out closed by the host before it
	// answered anything.
	Stale
	// TryTimedOut: the try's own timeout (not the route's) ran out before
	// any answer began.
	TryTimedOut
	// UpstreamFailed: the host failed or the route's timeout ran out
	// (Result.Timeout); Result.Responded says whether a response had begun
	// downstream, so nothing more can be said to the client.
	UpstreamFailed
	// DownstreamFailed: the client went away or failed; nothing to answer.
	DownstreamFailed
	// BadRequest: the client's request body was malformed (Result.Status
	// is the answer's status).
	BadRequest
	// Stopped: a filter stopped the exchange while it streamed; Result.Reply
	// answers it if no response has begun.
	Stopped
	// Retriable: the host answered with a status the retry policy retries
	// (Result.Status); the answer was dropped, the request is held whole.
	Retriable
)

// Result is the report of one try.
type Result struct {
	Outcome Outcome
	Status  int  // Answered: the response status in HTTP terms; BadRequest: the answer's
	Timeout bool // UpstreamFailed by a timeout
	// HostError: an Answered response that counts as the host's error
	// although its class does not say so (a Bolt error status).
	HostError bool
	// Responded: a response head went downstream before the try failed.
	Responded bool
	// Replayable: the whole request is held and may be sent again.
	Replayable bool
	Reply      Reply // Stopped
	Err        error
}

// Try is what the forwarding loop asks of one try.
type Try struct {
	// Deadline is the route timeout's (zero: none); PerTry, when set,
	// bounds the wait for this try's response head.
	Deadline time.Time
	PerTry   time.Duration
	// Idle bounds each wait for the next byte of the exchange; 0: none.
	Idle time.Duration
	// Hold keeps the request body so that it can be sent again: more tries
	// may follow.
	Hold bool
	// Fresh asks for a new connection (after a Stale try).
	Fresh bool
}

// Until is the deadline of a try's wait for its response head: the route's,
// or sooner the per-try timeout from now; perTry reports the latter.
func (t *Try) Until() (until time.Time, perTry bool) {
	if t.PerTry > 0 {
		if u := time.Now().Add(t.PerTry); t.Deadline.IsZero() || u.Before(t.Deadline) {
			return u, true
		}
	}
	return t.Deadline, false
}

// Hooks is how a try tells the forwarding loop what happens while it runs:
// stream tracking, byte counts and the encode-side filters. The loop
// implements it; a try calls it from the goroutine or task running it, and
// RequestData from the request body's pump, which may run meanwhile.
type Hooks interface {
	// Started: a connection is had and the request goes now.
	Started()
	// Sent: the request head (and the body bytes that came with it) is out.
	Sent(bytesIn int64)
	// RequestData sees each request body chunk (end marks the last); a
	// non-zero Reply status stops the exchange.
	RequestData(p []byte, end bool) Reply
	// RetryAnswer reports whether an answer with this status is to be
	// dropped and the request sent again; asked only of a try whose
	// request is held whole.
	RetryAnswer(status int) bool
	// ResponseHead sees (and may edit) the response head before it goes
	// downstream; a non-zero Reply status answers instead.
	ResponseHead(r Response) Reply
	// Responding: the response head went downstream (bytesOut so far).
	Responding(bytesOut int64)
	// ResponseData sees each response body chunk before it goes
	// downstream (end marks the last); a non-zero Reply status stops the
	// exchange.
	ResponseData(p []byte, end bool) Reply
}
