// Package lograte limits log lines that clients can trigger at will, such as
// "bad request": one line per reason per interval, the next one carrying how
// many were suppressed in between. A flood of bad input then costs the log a
// line a second, and the proxy a few atomic operations per request.
//
// It is a side package: it imports nothing of mosnctl, so every layer may
// use it.
package lograte

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
	"time"
)

// maxReasons bounds the reasons a Limiter tracks apart. Reasons are meant to
// be a fixed set (parser error kinds); if some include varying text, those
// past the bound share one budget rather than grow memory.
const maxReasons = 64

// Limiter decides which log lines go out. It is safe for concurrent use and
// does not allocate for a line it suppresses. A nil *Limiter lets every line
// through.
type Limiter struct {
	interval int64 // nanoseconds
	start    time.Time
	seed     maphash.Seed
	slots    [maxReasons]slot // open addressing by hash of the reason
	shared   slot             // reasons that found no free slot
}

type slot struct {
	reason     atomic.Pointer[string] // set once, when the slot is taken
	next       atomic.Int64           // when the next line may go, ns since start
	suppressed atomic.Uint64
}

// New returns a Limiter that lets one line per reason through every
// interval.
func New(interval time.Duration) *Limiter {
	return &Limiter{interval: int64(interval), start: time.Now(), seed: maphash.MakeSeed()}
}

// Allow reports whether a line for reason may be logged now, and if so how
// many lines for it were suppressed since the last one that was.
func (l *Limiter) Allow(reason string) (ok bool, suppressed uint64) {
	if l == nil {
		return true, 0
	}
	s := l.slot(reason)
	now := int64(time.Since(l.start)) // monotonic
	next := s.next.Load()
	if now >= next && s.next.CompareAndSwap(next, now+l.interval) {
		// A line suppressed while this one wins counts here or in the
		// next line's total: never lost.
		return true, s.suppressed.Swap(0)
	}
	s.suppressed.Add(1)
	return false, 0
}

func (l *Limiter) slot(reason string) *slot {
	h := maphash.String(l.seed, reason)
	for i := range uint64(maxReasons) {
		s := &l.slots[(h+i)%maxReasons]
		p := s.reason.Load()
		if p == nil {
			// Cloned: the caller's string may view a reused buffer.
			r := strings.Clone(reason)
			if s.reason.CompareAndSwap(nil, &r) {
				return s
			}
			p = s.reason.Load()
		}
		if *p == reason {
			return s
		}
	}
	return &l.shared
}
