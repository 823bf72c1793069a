package tlsbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Child says how to start a binary in tlsbench's child mode: Path, then
// Args (e.g. "tlsbench", "child"), then the child's own flags.
type Child struct {
	Path string
	Args []string
	Env  []string
}

// pinned builds the command that runs path with args on cpus: through
// taskset when it is installed (the affinity is in place before the program's
// first instruction, so Go's GOMAXPROCS sees it), else pinned right after
// start with sched_setaffinity.
func pinned(ctx context.Context, cpus []int, path string, args ...string) (*exec.Cmd, bool) {
	if len(cpus) == 0 {
		return exec.CommandContext(ctx, path, args...), false
	}
	if ts, err := exec.LookPath("taskset"); err == nil {
		return exec.CommandContext(ctx, ts, append([]string{"-c", cpuList(cpus), path}, args...)...), false
	}
	return exec.CommandContext(ctx, path, args...), true
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// tailBuffer keeps the last bytes a process wrote, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2048 {
		t.buf = t.buf[len(t.buf)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// server is one running server under test.
type server struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	ready  readyMsg
	stdin  io.Closer // closing it tells a Go child to exit
	stderr *tailBuffer
	exited chan struct{}
	err    error // Wait's result, valid once exited is closed
}

type serverSpec struct {
	suite    Suite
	curve    Curve
	cert     certFiles
	bulk     string // bulkSink or bulkSource
	size     int
	cpus     []int
	timeout  time.Duration
	probeCfg *tls.Config
	wwwDir   string // holds "zero" -> /dev/zero for openssl -WWW
}

// startProcess starts cmd with stdin from a pipe we hold (sink) or from
// /dev/zero (source: what openssl and bssl send to the client), stdout to
// out, and records its exit.
func startProcess(name string, cmd *exec.Cmd, setAff bool, cpus []int, spec serverSpec, out io.Writer) (*server, error) {
	s := &server{name: name, cmd: cmd, stderr: &tailBuffer{}, exited: make(chan struct{})}
	var childStdin *os.File
	if spec.bulk == bulkSource {
		f, err := os.Open("/dev/zero")
		if err != nil {
			return nil, fmt.Errorf("open /dev/zero: %w", err)
		}
		childStdin = f
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		childStdin, s.stdin = r, w
	}
	cmd.Stdin = childStdin
	cmd.Stdout = out
	cmd.Stderr = s.stderr
	cmd.WaitDelay = time.Second
	err := cmd.Start()
	childStdin.Close()
	if err != nil {
		if s.stdin != nil {
			s.stdin.Close()
		}
		return nil, fmt.Errorf("start %s server: %w", name, err)
	}
	if setAff {
		if err := setAffinity(cmd.Process.Pid, cpus); err != nil {
			s.stop()
			return nil, err
		}
	}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// exitError is non-nil once the server has exited, with what it said.
func (s *server) exitError() error {
	select {
	case <-s.exited:
		msg := s.stderr.String()
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg != "" {
			return fmt.Errorf("%s server exited (%v): %s", s.name, s.err, msg)
		}
		return fmt.Errorf("%s server exited (%v)", s.name, s.err)
	default:
		return nil
	}
}

func (s *server) cpu() (float64, error) {
	if err := s.exitError(); err != nil {
		return 0, err
	}
	return processCPU(s.cmd.Process.Pid)
}

// stop closes the server's stdin (a Go child exits on that), then kills it
// if it is still there a moment later; external tools, which keep nothing
// worth a clean exit, are killed at once.
func (s *server) stop() {
	if s.stdin != nil {
		s.stdin.Close()
	}
	if s.ready.Addr != "" {
		select {
		case <-s.exited:
			return
		case <-time.After(time.Second):
		}
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// waitReady waits until the server completes a TLS handshake with a probe
// client, or fails with the server's last words if it exits or the timeout
// passes: a server that never answers is an error, not a hang.
func (s *server) waitReady(ctx context.Context, spec serverSpec) error {
	deadline := time.Now().Add(spec.timeout)
	var last error
	for {
		if err := s.exitError(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s server not ready after %v: %v", s.name, spec.timeout, last)
		}
		last = probe(ctx, s.addr, spec.probeCfg)
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func probe(ctx context.Context, addr string, cfg *tls.Config) error {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// freePort asks the kernel for a free loopback port for servers that want
// one on their command line (openssl, bssl). Another process may take it
// before the server binds; the readiness probe then fails with the reason.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// startGoChild starts a server child (go or boringcrypto engine) and reads
// its ready line.
func startGoChild(ctx context.Context, name string, child Child, spec serverSpec) (*server, error) {
	args := append(append([]string{}, child.Args...), "-mode", "serve", "-cert", spec.cert.Cert, "-key", spec.cert.Key,
		"-suite", spec.suite.Name, "-curve", spec.curve.Name, "-bulk", spec.bulk, "-size", strconv.Itoa(spec.size))
	cmd, setAff := pinned(ctx, spec.cpus, child.Path, args...)
	cmd.Env = append(os.Environ(), child.Env...)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	spec.bulk = bulkSink // the child's stdin is always our pipe; its bulk mode travels as a flag
	s, err := startProcess(name, cmd, setAff, spec.cpus, spec, w)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	lines := make(chan []byte, 1)
	go func() {
		// Owned by the child process: ends when it exits and the pipe closes.
		defer r.Close()
		br := bufio.NewReader(r)
		line, _ := br.ReadBytes('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, br)
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal(bytes.TrimSpace(line), &s.ready); err != nil || s.ready.Addr == "" {
			s.stop()
			if e := s.exitError(); e != nil {
				return nil, e
			}
			return nil, fmt.Errorf("%s server: bad ready line %q", name, line)
		}
	case <-time.After(spec.timeout):
		s.stop()
		return nil, fmt.Errorf("%s server: no ready line after %v", name, spec.timeout)
	}
	s.addr = s.ready.Addr
	return s, nil
}

// runChildJSON runs a child to completion and decodes its one JSON answer.
func runChildJSON(ctx context.Context, child Child, cpus []int, extraEnv []string, timeout time.Duration, v any, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd, setAff := pinned(ctx, cpus, child.Path, append(append([]string{}, child.Args...), args...)...)
	cmd.Env = append(append(os.Environ(), child.Env...), extraEnv...)
	var stdout bytes.Buffer
	stderr := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", child.Path, err)
	}
	if setAff {
		_ = setAffinity(cmd.Process.Pid, cpus)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no answer within %v", child.Path, timeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %v: %s", child.Path, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("%s: bad answer %q: %w", child.Path, truncate(stdout.String(), 200), err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

var errNotAvailable = errors.New("not available")
