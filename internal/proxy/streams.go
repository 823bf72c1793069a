package proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/router"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// StreamState is where an active stream is in its exchange.
type StreamState uint32

// Stream states. Idle HTTP/1 connections between requests are not streams
// and are never listed.
const (
	StreamIdle       StreamState = iota
	StreamRouting                // request head read, no upstream yet
	StreamConnecting             // waiting for an upstream connection
	StreamWaiting                // request sent, waiting for the response head
	StreamResponding             // response head sent downstream, body flowing
)

var streamStateNames = [...]string{"idle", "routing", "connecting", "waiting", "responding"}

func (s StreamState) String() string {
	if int(s) < len(streamStateNames) {
		return streamStateNames[s]
	}
	return "unknown"
}

// ParseStreamState maps a state name back to its value.
func ParseStreamState(name string) (StreamState, bool) {
	for i, n := range streamStateNames {
		if n == name {
			return StreamState(i), true
		}
	}
	return 0, false
}

// trackerShards spreads registrations over locks and id counters so that
// connections on different cores rarely meet on one cache line.
const (
	trackerShardBits = 4
	trackerShards    = 1 << trackerShardBits
)

// StreamTracker knows the streams in flight so the admin API can list them.
// It is built to cost almost nothing while nobody asks: an entry is linked
// into a shard's list under that shard's lock once per HTTP/1 connection (or
// once per Bolt request, which already takes locks on its way upstream), and
// the request path only stores into the entry's atomics: the id and state
// share one word, and route, cluster, host and byte counts are stored only
// when they differ from the last request's (a keep-alive connection mostly
// repeats them), so a plain GET costs about seven stores. Listing walks the
// shards under their locks and reads the atomics; nothing is copied on the
// request path. A nil *StreamTracker tracks nothing.
type StreamTracker struct {
	next   atomic.Uint32 // shard of the next HTTP/1 connection
	shards [trackerShards]trackerShard
}

type trackerShard struct {
	mu   sync.Mutex
	head *trackedStream // doubly linked through prev/next; guarded by mu
	ids  atomic.Uint64
	_    [40]byte // keep neighbouring shards' locks off this cache line
}

// trackedStream is one registered entry: a whole HTTP/1 connection (one
// request at a time) or one Bolt request. Fields set before register are
// read-only while linked; the rest are atomics because the owning
// goroutine writes them while a snapshot may read them.
//
// Fields are not cleared between requests: a snapshot shows route, cluster
// and host only from StreamConnecting on, bytes in from StreamWaiting and
// bytes out from StreamResponding, the states in which the current request
// has set them.
type trackedStream struct {
	prev, next *trackedStream // guarded by the shard's mu
	shard      uint8
	linked     bool // guarded by the shard's mu

	listener string
	protocol string
	conn     *network.Conn
	service  []byte // Bolt's service header
	id       uint64 // the current request's id; only the owner uses it

	idState   atomic.Uint64 // id<<stateBits | state
	requestID atomic.Uint32 // Bolt's downstream request id
	start     atomic.Int64  // unix nanoseconds
	route     atomic.Pointer[router.Route]
	cluster   atomic.Pointer[upstream.Cluster]
	host      atomic.Pointer[upstream.Host]
	bytesIn   atomic.Int64
	bytesOut  atomic.Int64
}

// stateBits is the width of the state in idState.
const stateBits = 3

// register links e into shard i. Fixed fields must be set before.
func (t *StreamTracker) register(e *trackedStream, i uint32) {
	sh := &t.shards[i%trackerShards]
	e.shard = uint8(i % trackerShards)
	sh.mu.Lock()
	e.prev, e.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	e.linked = true
	sh.mu.Unlock()
}

// unregister unlinks e; once it returns no snapshot reads e, so it may be
// reused.
func (t *StreamTracker) unregister(e *trackedStream) {
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	if e.linked {
		if e.prev != nil {
			e.prev.next = e.next
		} else {
			sh.head = e.next
		}
		if e.next != nil {
			e.next.prev = e.prev
		}
		e.prev, e.next, e.linked = nil, nil, false
	}
	sh.mu.Unlock()
}

// newID numbers a stream: a counter of the entry's shard with the shard in
// the low bits, unique across the tracker.
func (t *StreamTracker) newID(e *trackedStream) uint64 {
	return t.shards[e.shard].ids.Add(1)<<trackerShardBits | uint64(e.shard)
}

// begin starts a new request on e. The start is stored before the state
// so that a snapshot that sees the request active sees its start too.
func (t *StreamTracker) begin(e *trackedStream, start time.Time) {
	e.id = t.newID(e)
	e.start.Store(start.UnixNano())
	e.setState(StreamRouting)
}

// trackRequest registers e as one Bolt request in flight and returns it.
func (t *StreamTracker) trackRequest(e *trackedStream, listener string, c *network.Conn, id uint32, service []byte, bytesIn int, start time.Time) *trackedStream {
	e.listener, e.protocol, e.conn, e.service = listener, "bolt", c, service
	e.requestID.Store(id)
	e.bytesIn.Store(int64(bytesIn))
	t.register(e, id)
	t.begin(e, start)
	return e
}

// The setters below are no-ops on a nil entry (tracking off), so the request
// path calls them unconditionally. Loads are plain moves on the common
// platforms while stores are fenced: compare first, store on change.

func (e *trackedStream) setState(s StreamState) {
	if e != nil {
		e.idState.Store(e.id<<stateBits | uint64(s))
	}
}

func (e *trackedStream) setRoute(r *router.Route) {
	if e != nil && e.route.Load() != r {
		e.route.Store(r)
	}
}

func (e *trackedStream) setCluster(c *upstream.Cluster) {
	if e != nil && e.cluster.Load() != c {
		e.cluster.Store(c)
	}
}

// setHost records the picked host and enters StreamConnecting, from which
// route, cluster and host are shown.
func (e *trackedStream) setHost(h *upstream.Host) {
	if e != nil {
		if e.host.Load() != h {
			e.host.Store(h)
		}
		e.setState(StreamConnecting)
	}
}

func (e *trackedStream) setBytesIn(n int64) {
	if e != nil && e.bytesIn.Load() != n {
		e.bytesIn.Store(n)
	}
}

func (e *trackedStream) addBytesIn(n int64) {
	if e != nil {
		e.bytesIn.Add(n)
	}
}

func (e *trackedStream) addBytesOut(n int64) {
	if e != nil {
		e.bytesOut.Add(n)
	}
}

func (e *trackedStream) setBytesOut(n int64) {
	if e != nil && e.bytesOut.Load() != n {
		e.bytesOut.Store(n)
	}
}

// StreamSnapshot is one active stream as a snapshot saw it.
type StreamSnapshot struct {
	ID         uint64
	Protocol   string
	Listener   string
	Downstream net.Addr
	RequestID  uint32 // Bolt only
	Service    string // Bolt only
	Route      *router.Route
	Cluster    string
	Host       string
	State      StreamState
	Start      time.Time
	BytesIn    int64
	BytesOut   int64
	// TLS is the downstream connection's TLS state (version, cipher,
	// verified client identity); nil: plaintext.
	TLS *mosntls.State
}

// Snapshot appends the active streams for which keep returns true (keep may
// be nil) to dst. Order is unspecified.
func (t *StreamTracker) Snapshot(dst []StreamSnapshot, keep func(*StreamSnapshot) bool) []StreamSnapshot {
	if t == nil {
		return dst
	}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; e = e.next {
			is := e.idState.Load()
			st := StreamState(is & (1<<stateBits - 1))
			if st == StreamIdle {
				continue
			}
			s := StreamSnapshot{ID: is >> stateBits, Protocol: e.protocol, Listener: e.listener,
				RequestID: e.requestID.Load(), Service: string(e.service), State: st, Start: time.Unix(0, e.start.Load())}
			if e.conn != nil {
				// Read off the connection, not stored per request: the
				// state is made once, before the entry was linked.
				s.Downstream, s.TLS = e.conn.RemoteAddr(), mosntls.StateOf(e.conn)
			}
			// Only what the current request has set (see trackedStream).
			if st >= StreamConnecting {
				s.Route = e.route.Load()
				if c := e.cluster.Load(); c != nil {
					s.Cluster = c.Name
				}
				if h := e.host.Load(); h != nil {
					s.Host = h.Address
				}
			}
			if st >= StreamWaiting {
				s.BytesIn = e.bytesIn.Load()
			}
			if st >= StreamResponding {
				s.BytesOut = e.bytesOut.Load()
			}
			if keep == nil || keep(&s) {
				dst = append(dst, s)
			}
		}
		sh.mu.Unlock()
	}
	return dst
}

// Len counts the registered entries, idle HTTP/1 connections included.
func (t *StreamTracker) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; e = e.next {
			n++
		}
		sh.mu.Unlock()
	}
	return n
}

// RouteName names a route for people: its virtual host and the path prefix
// (or exact path) it matched, "*" when it matches on something else.
func RouteName(r *router.Route) string {
	if r == nil {
		return ""
	}
	m := "*"
	if len(r.MatchedPrefix) > 0 {
		m = string(r.MatchedPrefix)
	}
	return r.VirtualHost + " " + m
}
