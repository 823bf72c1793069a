package top

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTopHelperProcess is not a test: TestTerminalTmux runs the test
// binary under tmux with this test selected, so that `top` gets a real
// terminal.
func TestTopHelperProcess(t *testing.T) {
	admin := os.Getenv("MOSNCTL_TOP_HELPER_ADMIN")
	if admin == "" {
		t.Skip("helper process for TestTerminalTmux")
	}
	err := Run(context.Background(), Options{Admin: admin, Interval: 200 * time.Millisecond, Output: "table", StreamLimit: 100}, os.Stdout)
	if err != nil {
		t.Fatal(err)
	}
}

// tmuxSession drives one detached tmux server on a private socket.
type tmuxSession struct {
	t    *testing.T
	sock string
}

func (s *tmuxSession) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", s.sock, "-f", "/dev/null"}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *tmuxSession) capture() string {
	out, _ := s.run("capture-pane", "-p", "-t", "top")
	return out
}

// waitScreen polls the pane until it shows every string in want.
func (s *tmuxSession) waitScreen(what string, want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		screen := s.capture()
		ok := true
		for _, w := range want {
			if !strings.Contains(screen, w) {
				ok = false
				break
			}
		}
		if ok {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %s: screen never showed %q:\n%s", what, want, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	if out, err := s.run(append([]string{"send-keys", "-t", "top"}, keys...)...); err != nil {
		s.t.Fatalf("tmux send-keys %v: %v: %s", keys, err, out)
	}
}

// TestTerminalTmux runs top in a real terminal (tmux): the first frame
// shows, tabs switch with keys, q quits with exit status 0 and the
// terminal is restored (alternate screen off, cursor visible, the shell's
// screen back).
func TestTerminalTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (Debian package tmux)")
	}
	if testing.Short() {
		t.Skip("starts a terminal session")
	}
	p := startSlowProxy(t)
	p.holdHTTP(t, 1)

	s := &tmuxSession{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stderr := filepath.Join(t.TempDir(), "stderr")
	// The helper writes the screen to the pane (its stdout) and its test
	// chatter ("PASS") after the screen is restored.
	shell := "printf 'before-top\\n'; MOSNCTL_TOP_HELPER_ADMIN=" + p.admin() + " " + self +
		" -test.run='^TestTopHelperProcess$' 2>" + stderr + "; echo TOP-EXIT=$?; sleep 60"
	if out, err := s.run("new-session", "-d", "-x", "100", "-y", "30", "-s", "top", shell); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { s.run("kill-server") })

	s.waitScreen("the first frame", "[1 Overview]", "requests/s", "every 200ms")
	s.keys("4")
	s.waitScreen("the Streams tab", "[4 Streams]", "site /slow", p.httpOrigin)
	s.keys("Tab")
	s.waitScreen("tab to wrap to Overview", "[1 Overview]")
	s.keys("BTab")
	s.waitScreen("shift-tab back to Streams", "[4 Streams]")
	s.keys("3")
	clusters := s.waitScreen("the Clusters tab", "[3 Clusters]", "slow", "fast")
	t.Logf("Clusters tab:\n%s", clusters)
	s.keys("q")
	screen := s.waitScreen("top to exit", "TOP-EXIT=")
	if !strings.Contains(screen, "TOP-EXIT=0") {
		b, _ := os.ReadFile(stderr)
		t.Fatalf("top exited with an error:\n%s\nstderr:\n%s", screen, b)
	}
	t.Logf("after q:\n%s", screen)
	if strings.Contains(screen, "Clusters") || !strings.Contains(screen, "before-top") {
		t.Errorf("the shell's screen was not restored after q:\n%s", screen)
	}
	if out, _ := s.run("display-message", "-p", "-t", "top", "#{alternate_on} #{cursor_flag}"); strings.TrimSpace(out) != "0 1" {
		t.Errorf("after q: alternate screen, cursor visible = %q, want \"0 1\"", strings.TrimSpace(out))
	}
}
