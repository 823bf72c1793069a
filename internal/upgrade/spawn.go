package upgrade

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SpawnOptions say which process to upgrade and to what.
type SpawnOptions struct {
	PID    int
	Binary string // "" runs the old process's own executable again
	// Config is the new process's config file; "" keeps the old config.
	Config string
	// Socket is the old process's upgrade socket; "" finds it from the
	// old process's flags and environment.
	Socket  string
	Timeout time.Duration // default 30s
}

// Result summarises an upgrade.
type Result struct {
	OldPID    int              `json:"old_pid"`
	NewPID    int              `json:"new_pid"`
	Binary    string           `json:"binary"`
	Config    string           `json:"config"`
	Socket    string           `json:"socket"`
	Listeners []ListenerReport `json:"listeners"`
	// ReadyMs is from start to the new process serving on the listeners;
	// HandoverMs from then until the old process finished handing over
	// (measured by the old process).
	ReadyMs    float64 `json:"ready_ms"`
	HandoverMs float64 `json:"handover_ms"`
	Migrated   int     `json:"migrated"`
	Refused    int     `json:"refused"`
	Finished   int     `json:"finished_in_old"`
	Cut        int     `json:"cut"`
	OldExited  bool    `json:"old_exited"`
	// Serving is the pid that serves now.
	Serving int    `json:"serving_pid"`
	Error   string `json:"error,omitempty"`
}

// Spawn starts the new process for the old one at opts.PID, follows its
// progress (progress gets every event) and returns the summary. An error
// means the upgrade did not complete: Result.Serving says which process
// serves (the old one, unchanged, when the new one failed before ready).
func Spawn(ctx context.Context, opts SpawnOptions, progress func(Event)) (*Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	res := &Result{OldPID: opts.PID, Serving: opts.PID}
	old, err := inspect(opts.PID)
	if err != nil {
		return res, err
	}
	res.Socket = opts.Socket
	if res.Socket == "" {
		res.Socket = old.socket()
	}
	if res.Socket == "off" {
		return res, fmt.Errorf("upgrade pid %d: it runs with hot upgrade off (--upgrade-socket off)", opts.PID)
	}
	if fi, err := os.Stat(res.Socket); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return res, fmt.Errorf("upgrade pid %d: no upgrade socket at %s (is it a running `mosnctl serve`? give --socket if it listens elsewhere)", opts.PID, res.Socket)
	}
	res.Binary = opts.Binary
	if res.Binary == "" {
		res.Binary = old.exe
	}
	if res.Binary, err = exec.LookPath(res.Binary); err != nil {
		return res, fmt.Errorf("upgrade pid %d: binary: %w", opts.PID, err)
	}
	args := old.serveArgs()
	res.Config = "config of pid " + strconv.Itoa(opts.PID)
	if opts.Config != "" {
		abs, err := filepath.Abs(opts.Config)
		if err != nil {
			return res, fmt.Errorf("upgrade: --config: %w", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return res, fmt.Errorf("upgrade: --config: %w", err)
		}
		args = append(args, "--config", abs)
		res.Config = abs
	}
	args = append([]string{"serve"}, append(args, "--upgrade-from", res.Socket, "--upgrade-status-fd", "3")...)

	pr, pw, err := os.Pipe()
	if err != nil {
		return res, err
	}
	defer pr.Close()
	stdout, stderr := old.output(1), old.output(2)
	defer stdout.Close()
	defer stderr.Close()
	cmd := exec.Command(res.Binary, args...)
	cmd.Env, cmd.Dir = old.env, old.cwd
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	cmd.ExtraFiles = []*os.File{pw}
	// Its own session: the new process outlives this command and must not
	// get the terminal's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return res, fmt.Errorf("upgrade: start %s: %w", res.Binary, err)
	}
	pw.Close()
	res.NewPID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	events := make(chan Event)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var e Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
		readErr <- sc.Err()
	}()

	timer := time.NewTimer(opts.Timeout)
	defer timer.Stop()
	var ready time.Time
	var lastErr string
	kill := func(why string) error {
		syscall.Kill(-res.NewPID, syscall.SIGKILL) // its session's process group
		<-exited
		return fmt.Errorf("upgrade pid %d: %s; killed new process %d; pid %d keeps serving unchanged", opts.PID, why, res.NewPID, opts.PID)
	}
	for {
		select {
		case e := <-events:
			if progress != nil {
				progress(e)
			}
			switch e.Event {
			case "listeners":
				res.Listeners = e.Listeners
			case "ready":
				ready = time.Now()
				res.ReadyMs = ms(ready.Sub(start))
				res.Listeners = e.Listeners
				res.Serving = res.NewPID
			case "done", "error":
				if r := e.Result; r != nil {
					res.Migrated, res.Refused, res.Finished, res.Cut, res.OldExited = r.Migrated, r.Refused, r.Finished, r.Cut, r.OldExited
				}
				if r := e.Result; r != nil {
					res.HandoverMs = r.HandoverMs
				}
				if e.Event == "error" {
					lastErr = e.Error
					if e.Serving {
						res.Serving = res.NewPID
						res.Error = e.Error
						return res, fmt.Errorf("upgrade pid %d: %s", opts.PID, e.Error)
					}
				} else {
					return res, nil
				}
			}
		case <-readErr:
			// The pipe closed without done: the new process failed.
			var status error
			select {
			case status = <-exited:
			case <-time.After(5 * time.Second):
				return res, kill("new process closed its status pipe without finishing")
			}
			why := lastErr
			if why == "" {
				why = "no reason given"
			}
			if !ready.IsZero() {
				// It died after taking over: the old process, still
				// draining, serves again on the same sockets.
				res.Serving = opts.PID
				res.Error = fmt.Sprintf("new process %s (pid %d) exited (%v) during the handover", res.Binary, res.NewPID, exitText(status))
				return res, fmt.Errorf("upgrade pid %d: %s; pid %d serves again (connections already handed over were lost)", opts.PID, res.Error, opts.PID)
			}
			res.Error = fmt.Sprintf("new process %s (pid %d) exited (%v) before it was ready: %s", res.Binary, res.NewPID, exitText(status), why)
			return res, fmt.Errorf("upgrade pid %d: %s; pid %d keeps serving unchanged", opts.PID, res.Error, opts.PID)
		case <-timer.C:
			if ready.IsZero() {
				res.Error = fmt.Sprintf("new process not ready within %s", opts.Timeout)
				return res, kill(res.Error)
			}
			res.Error = fmt.Sprintf("handover not finished within %s; new process %d serves, old process %d still draining", opts.Timeout, res.NewPID, opts.PID)
			return res, errors.New("upgrade: " + res.Error)
		case <-ctx.Done():
			if ready.IsZero() {
				res.Error = "interrupted"
				return res, kill(res.Error)
			}
			res.Error = fmt.Sprintf("interrupted during handover; new process %d serves", res.NewPID)
			return res, errors.New("upgrade: " + res.Error)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// oldProcess is what /proc says about the process being upgraded.
type oldProcess struct {
	pid  int
	exe  string
	cwd  string
	args []string // argv
	env  []string
}

func inspect(pid int) (*oldProcess, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("upgrade: --pid %d: not a process id", pid)
	}
	dir := fmt.Sprintf("/proc/%d", pid)
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("upgrade: no process %d", pid)
		}
		return nil, fmt.Errorf("upgrade pid %d: %w", pid, err)
	}
	p := &oldProcess{pid: pid, args: splitNul(cmdline)}
	envb, err := os.ReadFile(dir + "/environ")
	if err != nil {
		return nil, fmt.Errorf("upgrade pid %d: read its environment: %w (run as its user or root)", pid, err)
	}
	p.env = splitNul(envb)
	if p.exe, err = os.Readlink(dir + "/exe"); err != nil {
		return nil, fmt.Errorf("upgrade pid %d: %w", pid, err)
	}
	// Replaced on disk (the usual way to roll out a binary): run the file
	// now at that path.
	p.exe = strings.TrimSuffix(p.exe, " (deleted)")
	if p.cwd, err = os.Readlink(dir + "/cwd"); err != nil {
		return nil, fmt.Errorf("upgrade pid %d: %w", pid, err)
	}
	return p, nil
}

func splitNul(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

func (p *oldProcess) getenv(key string) string {
	for _, kv := range p.env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// serveArgs are the old process's serve flags to give the new one, less
// the config (the new one gets the old config over the socket, or the
// --config given to upgrade) and the upgrade plumbing.
func (p *oldProcess) serveArgs() []string {
	args := p.args
	switch {
	case len(args) > 1 && args[1] == "serve":
		args = args[2:]
	case len(args) > 0 && filepath.Base(args[0]) == "serve":
		args = args[1:]
	default:
		// Not recognisable: pass nothing (serve's defaults and env).
		return nil
	}
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
			continue
		}
		if strings.HasPrefix(a, "-c") && !strings.HasPrefix(a, "--") {
			// -c FILE, -c=FILE or -cFILE
			if a == "-c" && i+1 < len(args) {
				i++
			}
			continue
		}
		switch name {
		case "c", "config", "upgrade-from", "upgrade-status-fd", "check":
			if !hasValue && name != "check" && i+1 < len(args) {
				i++
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// socket finds the old process's upgrade socket: its --upgrade-socket
// flag, its MOSNCTL_UPGRADE_SOCKET, or the default for its pid and env.
func (p *oldProcess) socket() string {
	args := p.serveArgs()
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--upgrade-socket="); ok {
			return v
		}
		if a == "--upgrade-socket" && i+1 < len(args) {
			return args[i+1]
		}
	}
	if v := p.getenv("MOSNCTL_UPGRADE_SOCKET"); v != "" {
		return v
	}
	return DefaultSocketPath(p.pid, p.getenv)
}

// output opens the old process's stdout (1) or stderr (2) so the new one
// logs where it did; nil (the null device) when that cannot be opened, as
// for a socket.
func (p *oldProcess) output(fd int) *os.File {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/%d", p.pid, fd), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil
	}
	return f
}
