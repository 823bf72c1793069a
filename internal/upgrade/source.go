package upgrade

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/server"
)

// MaxHandoverBytes bounds the unprocessed bytes a connection may carry to
// the new process; one with more (a large pipelined burst) finishes in the
// old process instead.
const MaxHandoverBytes = 1 << 20

// Config is the config a process runs, as read: passed to the new process
// when it has no config of its own.
type Config struct {
	Data   []byte
	Format string // "json", "yaml" or "" (by content)
	Source string // file path or "embedded default config"
}

// Source is the old process's side: it listens on the upgrade socket and
// serves one upgrade at a time.
type Source struct {
	path string
	ln   *net.UnixListener
	srv  *server.Server
	cfg  Config
	log  *slog.Logger

	takenOver chan struct{} // closed when a new process reported ready
	peer      *wire         // that process
	peerPID   int
	readyAt   time.Time
	done      chan struct{} // Serve returned
}

// Listen opens the upgrade socket at path (mode 0600), replacing a stale
// socket file left by a process that died.
func Listen(path string, srv *server.Server, cfg Config, log *slog.Logger) (*Source, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("upgrade socket %s: exists and is not a socket", path)
		}
		if c, err := net.Dial("unixpacket", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("upgrade socket %s: another process listens on it", path)
		}
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("upgrade socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("upgrade socket: %w", err)
	}
	return &Source{path: path, ln: ln, srv: srv, cfg: cfg, log: log,
		takenOver: make(chan struct{}), done: make(chan struct{})}, nil
}

// Path is the socket's path.
func (s *Source) Path() string { return s.path }

// TakenOver is closed once a new process serves on the listeners; call
// Handover then.
func (s *Source) TakenOver() <-chan struct{} { return s.takenOver }

// Close stops listening and removes the socket file.
func (s *Source) Close() error { return s.ln.Close() }

// Serve answers upgrade requests until one succeeds, ctx ends or Close is
// called. A request that fails (the new process dies or refuses the config)
// leaves this process serving as before.
func (s *Source) Serve(ctx context.Context) {
	defer close(s.done)
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		w := newWire(c)
		pid, err := s.offer(ctx, w)
		if err != nil {
			c.Close()
			s.log.Warn("upgrade aborted, this process keeps serving", "err", err)
			continue
		}
		s.peer, s.peerPID, s.readyAt = w, pid, time.Now()
		s.ln.Close() // no second upgrade of this process; removes the file
		close(s.takenOver)
		return
	}
}

// offer passes the listeners and config and waits for the new process to
// be ready.
func (s *Source) offer(ctx context.Context, w *wire) (pid int, err error) {
	if ucred, err := peerCred(w.c); err == nil {
		pid = int(ucred.Pid)
	}
	s.log.Info("upgrade requested: passing listeners", "new_pid", pid)
	cfg := s.cfg
	if rc, ok := s.srv.RawConfig().(Config); ok {
		cfg = rc // reloaded since Listen
	}
	hello := &message{Type: "hello", PID: os.Getpid(), Config: cfg.Data, ConfigFormat: cfg.Format, ConfigSource: cfg.Source}
	var fds []int
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, ls := range s.srv.Sockets() {
		f, err := listenerFile(ls.Listener)
		if err != nil {
			return pid, fmt.Errorf("listener %q: %w", ls.Name, err)
		}
		files = append(files, f)
		fds = append(fds, int(f.Fd()))
		hello.Listeners = append(hello.Listeners, listenerInfo{Name: ls.Name, Network: ls.Network,
			Address: ls.Address, Bound: ls.Bound, Protocol: ls.Protocol})
	}
	hello.Stdio = true
	fds = append(fds, 1, 2)
	if err := w.send(hello, fds); err != nil {
		return pid, fmt.Errorf("send listeners: %w", err)
	}
	// Wait for ready; a cancelled ctx (SIGTERM) abandons the upgrade.
	stop := context.AfterFunc(ctx, func() { w.c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var m message
	fds, err = w.recv(&m)
	closeFDs(fds)
	if err != nil {
		return pid, fmt.Errorf("new process (pid %d) went away before it was ready: %w", pid, err)
	}
	switch m.Type {
	case "ready":
		return pid, nil
	case "failed":
		return pid, fmt.Errorf("new process (pid %d) failed: %s", pid, m.Error)
	default:
		return pid, fmt.Errorf("new process (pid %d) sent %q, expected ready", pid, m.Type)
	}
}

// listenerFile duplicates a listening socket's descriptor for sending.
func listenerFile(ln net.Listener) (*os.File, error) {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("%T cannot be passed", ln)
	}
	return fl.File()
}

func peerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var cerr error
	err = rc.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil {
		return nil, err
	}
	return cred, cerr
}

// Resume rebuilds serving in the old process from duplicates of its
// listening sockets (inherit is server.Options.Inherit) when the new process
// dies during the handover.
type Resume func(inherit func(name, network, address string) net.Listener) error

// Handover runs after TakenOver: it stops accepting, hands idle and
// finished HTTP/1 and Bolt connections to the new process, lets the others
// finish until ctx ends (then cuts them), and tells the new process the
// counts. The caller exits afterwards, unless the new process died before
// the handover was over: then resume was called to serve again on the same
// sockets (resumed reports whether it succeeded) and the caller goes on.
func (s *Source) Handover(ctx context.Context, resume Resume) (n Counts, resumed bool) {
	<-s.done
	var migrated atomic.Int64
	var failed sync.Once
	w := s.peer
	// Duplicates of the listening sockets, kept until the handover is over
	// so that this process can serve again if the new one dies.
	saved := map[string]*os.File{}
	var infos []server.ListenerSocket
	for _, ls := range s.srv.Sockets() {
		if f, err := listenerFile(ls.Listener); err == nil {
			saved[ls.Name] = f
			infos = append(infos, ls)
		}
	}
	defer func() {
		for _, f := range saved {
			f.Close()
		}
	}()
	var finished atomic.Bool
	resumeDone := make(chan bool, 1)
	go func() {
		// The new process sends nothing after ready: a read returns only
		// when it closes the connection, i.e. exits.
		var m message
		for {
			fds, err := w.recv(&m)
			closeFDs(fds)
			if err != nil {
				break
			}
		}
		if finished.Load() || resume == nil {
			resumeDone <- false
			return
		}
		s.log.Error("upgrade: new process died during the handover; serving again here", "new_pid", s.peerPID)
		err := resume(func(name, network, address string) net.Listener {
			for _, ls := range infos {
				if ls.Name == name && ls.Network == network && (ls.Address == address || ls.Bound == address) {
					if ln, err := net.FileListener(saved[name]); err == nil {
						return ln
					}
				}
			}
			return nil
		})
		if err != nil {
			s.log.Error("upgrade: could not serve again", "err", err)
		}
		resumeDone <- err == nil
	}()

	s.srv.SetHandoff(func(c *network.Conn, listener, protocol string) bool {
		buffered := c.Buffered()
		if len(buffered) > MaxHandoverBytes {
			return false
		}
		sc, ok := c.NetConn().(syscall.Conn)
		if !ok {
			return false
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		m := &message{Type: "conn", Listener: listener, Protocol: protocol, Buffered: buffered}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = w.send(m, []int{int(fd)}) }); err != nil {
			serr = err
		}
		if serr != nil {
			failed.Do(func() { s.log.Error("upgrade: passing a connection failed; draining the rest here", "err", serr) })
			return false
		}
		migrated.Add(1)
		return true
	})
	for _, ls := range infos {
		if ul, ok := ls.Listener.(*net.UnixListener); ok {
			// Its path now belongs to the new process: closing our
			// descriptor must not remove it.
			ul.SetUnlinkOnClose(false)
		}
	}
	active := s.srv.ActiveConnections()
	s.log.Info("upgrade: new process ready; stopped accepting, handing over connections", "new_pid", s.peerPID, "connections", active)
	cut := s.srv.Shutdown(ctx)
	n = Counts{Migrated: int(migrated.Load()), Cut: cut}
	n.Finished = max(int(active)-n.Migrated-n.Cut, 0)
	n.HandoverMs = ms(time.Since(s.readyAt))
	finished.Store(true)
	if err := w.send(&message{Type: "done", PID: os.Getpid(), Counts: &n}, nil); err != nil {
		s.log.Warn("upgrade: telling the new process we are done failed", "err", err)
	}
	w.c.Close()
	if resumed = <-resumeDone; resumed {
		s.log.Warn("upgrade: handover abandoned; this process serves again", "migrated_and_lost", n.Migrated, "finished", n.Finished, "cut", n.Cut)
		return n, true
	}
	s.log.Info("upgrade: handover finished", "migrated", n.Migrated, "finished_in_old", n.Finished, "cut", n.Cut,
		"took", time.Since(s.readyAt).Round(time.Millisecond))
	return n, false
}
