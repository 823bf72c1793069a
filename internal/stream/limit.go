package stream

import (
	"errors"
	"sync/atomic"
)

// ErrOverflow means a host's connection limit is reached: the request is
// refused rather than queued (the circuit breakers' pending queue will
// extend this).
var ErrOverflow = errors.New("stream: the host's connection limit is reached")

// ConnLimit caps the connections open to one host, over all its pools
// (every event loop's, every protocol's): they share Open; and, through
// Cluster, those of the host's cluster.
type ConnLimit struct {
	Open    *atomic.Int64 // nil: not counted
	Max     int64         // 0: no limit
	Cluster ConnBreaker   // nil: none
}

// ConnBreaker is a cluster's circuit breaker for connections.
type ConnBreaker interface {
	AcquireConnection() bool
	ReleaseConnection()
}

// Acquire counts a connection about to be opened; false means a limit is
// reached and nothing was counted.
func (l ConnLimit) Acquire() bool {
	if l.Open != nil {
		if n := l.Open.Add(1); l.Max > 0 && n > l.Max {
			l.Open.Add(-1)
			return false
		}
	}
	if l.Cluster != nil && !l.Cluster.AcquireConnection() {
		if l.Open != nil {
			l.Open.Add(-1)
		}
		return false
	}
	return true
}

// Release counts a connection closed.
func (l ConnLimit) Release() {
	if l.Open != nil {
		l.Open.Add(-1)
	}
	if l.Cluster != nil {
		l.Cluster.ReleaseConnection()
	}
}
