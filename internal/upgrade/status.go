package upgrade

import (
	"encoding/json"
	"io"
	"os"
	"sync"
)

// Event is one line of JSON the new process writes on its status pipe for
// `mosnctl upgrade` to follow.
type Event struct {
	// Event is "listeners" (sockets received), "ready" (serving on them,
	// the old process stops accepting), "migrating" (running count),
	// "done" (handover finished) or "error" (the upgrade failed: before
	// ready the old process keeps serving; after it, this one does).
	Event     string           `json:"event"`
	PID       int              `json:"pid"`
	OldPID    int              `json:"old_pid,omitempty"`
	Listeners []ListenerReport `json:"listeners,omitempty"`
	Config    string           `json:"config,omitempty"`
	Received  int              `json:"received,omitempty"`
	Result    *MigrationResult `json:"result,omitempty"`
	// Serving is true on an error event when this process serves anyway
	// (the old one went away after passing its listeners).
	Serving bool   `json:"serving,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Status writes events to the status pipe; a nil *Status discards them.
type Status struct {
	mu  sync.Mutex
	w   io.WriteCloser
	enc *json.Encoder
}

// OpenStatus wraps descriptor fd (inherited from `mosnctl upgrade`);
// fd <= 0 gives a nil Status.
func OpenStatus(fd int) *Status {
	if fd <= 0 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "upgrade-status")
	if f == nil {
		return nil
	}
	return &Status{w: f, enc: json.NewEncoder(f)}
}

// Send writes e with this process's pid; errors are ignored (`upgrade`
// may have given up and closed its end).
func (s *Status) Send(e Event) {
	if s == nil {
		return
	}
	e.PID = os.Getpid()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		s.enc.Encode(e)
	}
}

// Close closes the pipe: `upgrade` reads to its end.
func (s *Status) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}
