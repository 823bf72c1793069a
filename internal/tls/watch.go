package tls

import (
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchTarget is a set of certificate files and what reads them again.
type WatchTarget struct {
	Name  string // "listener NAME" or "cluster NAME", for the log
	Files []string
	// Reload reads the files again; it keeps the old certificates on
	// error and reports whether anything changed.
	Reload func() (bool, error)
}

// Watcher reloads certificates when their files change. It watches the
// files' directories, not the files: certificate managers replace a file
// by renaming a new one over it (Kubernetes swaps a symlinked directory),
// which a watch on the old file would not see.
type Watcher struct {
	log *slog.Logger
	fs  *fsnotify.Watcher

	mu      sync.Mutex
	targets []WatchTarget
	dirs    map[string]bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// settle is how long the watcher waits after the last change before it
// reloads: a certificate and its key are rarely written in one step.
const settle = 200 * time.Millisecond

// NewWatcher starts a watcher with nothing to watch.
func NewWatcher(log *slog.Logger) (*Watcher, error) {
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	w := &Watcher{log: log, fs: fs, dirs: map[string]bool{}, done: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// Set replaces what is watched (after a config reload).
func (w *Watcher) Set(targets []WatchTarget) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.targets = targets
	want := map[string]bool{}
	for _, t := range targets {
		for _, f := range t.Files {
			if abs, err := filepath.Abs(f); err == nil {
				want[filepath.Dir(abs)] = true
			}
		}
	}
	for d := range w.dirs {
		if !want[d] {
			w.fs.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			w.log.Warn("cannot watch certificate directory; rotation needs a reload (SIGHUP)", "dir", d, "err", err)
			continue
		}
		w.dirs[d] = true
	}
}

// Close stops watching.
func (w *Watcher) Close() {
	close(w.done)
	w.fs.Close()
	w.wg.Wait()
}

func (w *Watcher) run() {
	defer w.wg.Done()
	changed := map[string]bool{} // directories with changes not yet reloaded
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-w.done:
			timer.Stop()
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			changed[filepath.Dir(ev.Name)] = true
			timer.Reset(settle)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("certificate watcher", "err", err)
		case <-timer.C:
			w.reload(changed)
			clear(changed)
		}
	}
}

// reload reloads every target with a file in a changed directory.
func (w *Watcher) reload(changed map[string]bool) {
	w.mu.Lock()
	targets := w.targets
	w.mu.Unlock()
	for _, t := range targets {
		hit := false
		for _, f := range t.Files {
			if abs, err := filepath.Abs(f); err == nil && changed[filepath.Dir(abs)] {
				hit = true
			}
		}
		if !hit {
			continue
		}
		changed, err := t.Reload()
		if err != nil {
			w.log.Error("certificate files changed but do not load; the old certificates stay", "owner", t.Name, "err", err)
			continue
		}
		if changed {
			w.log.Info("certificates reloaded after a file change", "owner", t.Name)
		}
	}
}
