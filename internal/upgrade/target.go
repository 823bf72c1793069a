package upgrade

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/mosnctl/mosnctl/internal/server"
)

// Target is the new process's side of an upgrade.
type Target struct {
	path    string
	w       *wire
	oldPID  int
	cfg     Config
	log     *slog.Logger
	sockets []inherited
}

type inherited struct {
	info    listenerInfo
	ln      net.Listener
	used    bool
	takenBy string // the new config's listener that took it
}

// Connect dials the old process's upgrade socket and receives its
// listening sockets and config.
func Connect(ctx context.Context, path string, log *slog.Logger) (*Target, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return nil, fmt.Errorf("connect to the old process: %w", err)
	}
	uc := c.(*net.UnixConn)
	t := &Target{path: path, w: newWire(uc), log: log}
	var m message
	uc.SetReadDeadline(time.Now().Add(30 * time.Second))
	fds, err := t.w.recv(&m)
	uc.SetReadDeadline(time.Time{})
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("receive listeners from the old process: %w", err)
	}
	want := len(m.Listeners)
	if m.Stdio {
		want += 2
	}
	if m.Type != "hello" || len(fds) != want {
		closeFDs(fds)
		uc.Close()
		return nil, fmt.Errorf("old process sent %q with %d descriptors for %d listeners", m.Type, len(fds), len(m.Listeners))
	}
	if m.Stdio {
		// Log into the old process's stdout and stderr, sharing their
		// file offsets: lines of the two processes do not overwrite.
		n := len(m.Listeners)
		syscall.Dup3(fds[n], 1, 0)
		syscall.Dup3(fds[n+1], 2, 0)
		closeFDs(fds[n:])
		fds = fds[:n]
	}
	t.oldPID = m.PID
	t.cfg = Config{Data: m.Config, Format: m.ConfigFormat, Source: m.ConfigSource}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "listener:"+m.Listeners[i].Name)
		ln, err := net.FileListener(f) // duplicates the descriptor
		f.Close()
		if err != nil {
			closeFDs(fds[i+1:])
			t.closeSockets()
			uc.Close()
			return nil, fmt.Errorf("listener %q: %w", m.Listeners[i].Name, err)
		}
		t.sockets = append(t.sockets, inherited{info: m.Listeners[i], ln: ln})
	}
	return t, nil
}

// OldPID is the old process's pid.
func (t *Target) OldPID() int { return t.oldPID }

// Config is the old process's config.
func (t *Target) Config() Config { return t.cfg }

// Inherit is server.Options.Inherit: it returns the old process's socket
// for a listener of the same name and network whose configured address is
// the same as the old one's (or names the address the old one is bound
// to); failing that, an unclaimed socket of another name at that address
// (a renamed listener). nil otherwise: the listener is bound fresh.
func (t *Target) Inherit(name, network, address string) net.Listener {
	match := func(s *inherited, sameName bool) bool {
		return !s.used && s.info.Network == network && (s.info.Name == name) == sameName &&
			(address == s.info.Address || address == s.info.Bound)
	}
	for _, sameName := range []bool{true, false} {
		for i := range t.sockets {
			s := &t.sockets[i]
			if !match(s, sameName) {
				continue
			}
			if !sameName && (name == server.AdminListenerName || s.info.Name == server.AdminListenerName) {
				continue
			}
			s.used, s.takenBy = true, name
			return s.ln
		}
	}
	return nil
}

// ListenerReport says what became of one inherited socket.
type ListenerReport struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Inherited is false when the new config did not use the socket (the
	// listener was removed, renamed or moved): it was closed.
	Inherited bool `json:"inherited"`
}

// Listeners reports the inherited sockets.
func (t *Target) Listeners() []ListenerReport {
	out := make([]ListenerReport, 0, len(t.sockets))
	for _, s := range t.sockets {
		out = append(out, ListenerReport{Name: s.info.Name, Address: s.info.Bound, Inherited: s.used})
	}
	return out
}

// CloseUnused closes the inherited sockets the new server did not take.
// The ones it took are now its own: a unix socket's file is removed when
// this process closes it, as when it had bound it.
func (t *Target) CloseUnused() {
	for _, s := range t.sockets {
		if !s.used {
			s.ln.Close()
		} else if ul, ok := s.ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(true)
		}
	}
}

func (t *Target) closeSockets() {
	for _, s := range t.sockets {
		s.ln.Close()
	}
}

// Fail tells the old process this one cannot take over (it keeps serving)
// and closes everything received.
func (t *Target) Fail(err error) {
	t.w.send(&message{Type: "failed", PID: os.Getpid(), Error: err.Error()}, nil)
	t.w.c.Close()
	t.closeSockets()
}

// Ready tells the old process that this one serves: it stops accepting and
// starts handing over connections. An error means the old process is gone.
func (t *Target) Ready() error {
	if err := t.w.send(&message{Type: "ready", PID: os.Getpid()}, nil); err != nil {
		t.w.c.Close()
		t.removeStaleSocket()
		return fmt.Errorf("old process (pid %d) went away before handover; this process (pid %d) serves: %w", t.oldPID, os.Getpid(), err)
	}
	return nil
}

// MigrationResult is what the handover did.
type MigrationResult struct {
	Counts
	// Refused counts connections this process could not serve (their
	// listener is gone from the new config or changed protocol); closed.
	Refused int `json:"refused"`
	// OldExited is true when the old process has exited.
	OldExited bool `json:"old_exited"`
	// Err is set when the old process went away without finishing (killed).
	Err error `json:"-"`
}

// Migrate serves the connections the old process hands over until it says
// it is done and exits. progress is called with the running count of
// connections received (at most every 100ms).
func (t *Target) Migrate(srv *server.Server, progress func(received int)) MigrationResult {
	defer t.w.c.Close()
	var res MigrationResult
	received := 0
	last := time.Now()
	for {
		var m message
		fds, err := t.w.recv(&m)
		if err != nil {
			res.Counts.Migrated = received
			res.OldExited = waitGone(t.oldPID, 2*time.Second)
			res.Err = fmt.Errorf("old process (pid %d) went away during handover after passing %d connections (its other connections are lost); this process (pid %d) serves: %w",
				t.oldPID, received, os.Getpid(), err)
			t.removeStaleSocket()
			return res
		}
		switch m.Type {
		case "conn":
			if len(fds) != 1 {
				closeFDs(fds)
				res.Refused++
				continue
			}
			if err := t.adopt(srv, fds[0], &m); err != nil {
				res.Refused++
				t.log.Warn("upgrade: handed-over connection refused", "listener", m.Listener, "protocol", m.Protocol, "err", err)
			}
			received++
			if progress != nil && time.Since(last) >= 100*time.Millisecond {
				progress(received)
				last = time.Now()
			}
		case "done":
			closeFDs(fds)
			if m.Counts != nil {
				res.Counts = *m.Counts
			}
			res.Counts.Migrated = received
			// The old process exits right after this message.
			res.OldExited = waitGone(t.oldPID, 10*time.Second)
			return res
		default:
			closeFDs(fds)
		}
	}
}

func (t *Target) adopt(srv *server.Server, fd int, m *message) error {
	f := os.NewFile(uintptr(fd), "conn")
	nc, err := net.FileConn(f) // duplicates the descriptor
	f.Close()
	if err != nil {
		return err
	}
	listener := m.Listener
	for _, s := range t.sockets {
		if s.info.Name == m.Listener && s.used {
			listener = s.takenBy // the same socket, maybe renamed
		}
	}
	if err := srv.ServeHandedOff(listener, m.Protocol, nc, m.Buffered); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// removeStaleSocket removes the old process's upgrade socket file when the
// old process died without removing it. A connect test would not do: while
// a killed process is torn down its listening socket may still take
// connections.
func (t *Target) removeStaleSocket() {
	if !waitGone(t.oldPID, 5*time.Second) {
		return
	}
	if fi, err := os.Lstat(t.path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(t.path)
	}
}

// waitGone polls until process pid has exited (or is a zombie) or timeout
// passes, and reports whether it has.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if processGone(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func processGone(pid int) bool {
	if pid <= 0 {
		return true
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	// A zombie has exited; only its parent has not collected it yet.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}
