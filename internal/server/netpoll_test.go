package server

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNetpollIOModel runs every test of this package again with the HTTP/1
// listeners served by event loops (io_model netpoll), in a child process
// of this test binary, so both IO models pass the same end-to-end tests.
func TestNetpollIOModel(t *testing.T) {
	if testIOModel != "" {
		t.Skip("already running under MOSNCTL_TEST_IO_MODEL")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^Test", "-test.skip=^TestNetpollIOModel$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "MOSNCTL_TEST_IO_MODEL=netpoll")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests in the netpoll IO model failed: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "--- PASS"); n < 20 {
		t.Fatalf("only %d tests passed in the netpoll IO model:\n%s", n, out)
	}
	t.Logf("%d tests passed in the netpoll IO model", strings.Count(string(out), "--- PASS"))
}
