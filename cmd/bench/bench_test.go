package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

func origin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// execute runs `mosnctl bench args...` in-process as main does.
func execute(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	root := &cobra.Command{Use: "mosnctl", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(NewCommand())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	code = cli.Execute(context.Background(), root, append([]string{"mosnctl", "bench"}, args...), &errOut)
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	u := origin(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close()
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"ok", []string{"-n", "20", "-c", "2", u}, 0, ""},
		{"assert holds", []string{"-n", "20", "--assert", "errors==0", "--assert", "p99<10s", u}, 0, ""},
		{"assert fails", []string{"-n", "20", "--assert", "rps>=1e12", u}, 1, "assertion failed: rps>=1e12"},
		{"malformed assert", []string{"-n", "20", "--assert", "p99<<5", u}, 2, "bad assertion"},
		{"unknown metric", []string{"-n", "20", "--assert", "p42<5ms", u}, 2, "unknown metric"},
		{"bad url", []string{"-n", "1", "htp:/x"}, 2, "bad URL"},
		{"unreachable", []string{"-n", "1", dead}, 2, "cannot reach"},
		{"unknown flag", []string{"--frobnicate", u}, 2, "unknown flag"},
		{"no url", []string{"-n", "1"}, 2, "give at least one target URL"},
		{"bad output", []string{"-o", "yaml", u}, 2, "unknown output format"},
		{"missing body file", []string{"--body-file", "/nonexistent", u}, 2, "body file"},
		{"missing baseline", []string{"--compare", "/nonexistent.json", u}, 2, "compare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := execute(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.err != "" && !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q lacks %q", stderr, tt.err)
			}
			if strings.Count(stderr, "\n") > 1 || strings.Contains(stderr, "goroutine") {
				t.Errorf("error is not one line: %q", stderr)
			}
		})
	}
}

func TestJSONAndCompare(t *testing.T) {
	u := origin(t)
	code, out, stderr := execute(t, "-o", "json", "-n", "200", "-c", "2", u)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if res["requests"].(float64) != 200 {
		t.Fatalf("requests %v", res["requests"])
	}
	dir := t.TempDir()
	// A baseline far faster than anything this machine does fails the
	// comparison; a baseline far slower passes it.
	for _, tc := range []struct {
		rps  float64
		code int
	}{{1e12, 1}, {1, 0}} {
		res["rps"] = tc.rps
		res["latency_ms"].(map[string]any)["p50"] = 1e6
		res["latency_ms"].(map[string]any)["p99"] = 1e6
		b, _ := json.Marshal(res)
		path := filepath.Join(dir, "base.json")
		os.WriteFile(path, b, 0o644)
		code, out, stderr := execute(t, "--compare", path, "--max-regression", "10%", "-n", "200", "-c", "2", u)
		if code != tc.code {
			t.Fatalf("baseline rps %v: exit %d, want %d\n%s%s", tc.rps, code, tc.code, out, stderr)
		}
		if !strings.Contains(out, "compare") {
			t.Errorf("table lacks the comparison:\n%s", out)
		}
	}
}

func TestBoltAndReplayFlags(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &boltrpc.Server{}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	payload := filepath.Join(t.TempDir(), "payload.bin")
	os.WriteFile(payload, []byte("opaque hessian2 bytes"), 0o644)
	bolt := "bolt://" + ln.Addr().String()

	code, out, stderr := execute(t, "-o", "json", "-n", "50", "-c", "2", "--streams", "4",
		"--service", "com.example.Echo:1.0", "-X", "echo", "--body-file", payload, "--assert", "errors==0", bolt)
	if code != 0 || !strings.Contains(out, `"protocol": "bolt"`) || !strings.Contains(out, `"requests": 50`) {
		t.Fatalf("bolt: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := execute(t, "-n", "5", bolt); code != 2 || !strings.Contains(stderr, "--service and --method") {
		t.Fatalf("bolt without --service: exit %d %q", code, stderr)
	}

	u := origin(t)
	code, out, stderr = execute(t, "--replay", "../../internal/bench/testdata/http1.pcap", "-o", "json", u)
	if code != 0 || !strings.Contains(out, `"requests": 4`) {
		t.Fatalf("replay: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := execute(t, "--replay", "/nonexistent.pcap", u); code != 2 || !strings.Contains(stderr, "replay") {
		t.Fatalf("missing capture: exit %d %q", code, stderr)
	}
}

// --serve bolt answers Bolt calls until its context ends, then returns
// cleanly; it takes no URL and knows only bolt.
func TestServeBolt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Serve: "bolt", Listen: "127.0.0.1:0"}, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	fields := strings.Fields(line) // "bolt echo server on ADDR ..."
	if len(fields) < 5 {
		t.Fatalf("first line %q does not name the address", line)
	}
	addr := fields[4]
	c, err := boltrpc.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: []byte("ping"), Timeout: 5 * time.Second})
	if err != nil || resp.Status != bolt.StatusSuccess || string(resp.Content) != "ping" {
		t.Fatalf("call to the echo server at %s: %+v %v", addr, resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after its context ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve still running after its context ended")
	}
	pw.Close()

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--serve", "http"}, "not supported"},
		{[]string{"--serve", "bolt", "bolt://127.0.0.1:1"}, "takes no target URL"},
	} {
		if code, _, stderr := execute(t, tc.args...); code != 2 || !strings.Contains(stderr, tc.err) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tc.args, code, stderr, tc.err)
		}
	}
}
