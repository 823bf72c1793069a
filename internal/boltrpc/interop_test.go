package boltrpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// interopDir holds a small Node project that drives sofa-bolt-node, the
// reference JavaScript implementation of Bolt, against boltrpc. Its
// node_modules is not committed: `npm ci` there enables these tests.
var interopDir = filepath.Join("testdata", "interop")

func nodeOrSkip(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed; the sofa-bolt-node interop check needs Node.js")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "sofa-bolt-node")); err != nil {
		t.Skipf("sofa-bolt-node not installed; run `npm ci` in internal/boltrpc/%s", filepath.ToSlash(interopDir))
	}
	return node
}

// interopContents asks sofa-bolt-node for the hessian content of the test
// request (sayHello("peter")) and of its answer ("hello peter"), so the Go
// side can check and produce real SOFARPC payloads without a hessian codec.
func interopContents(t *testing.T, ctx context.Context, node string) (request, response []byte) {
	t.Helper()
	cmd := exec.CommandContext(ctx, node, "interop.js", "contents")
	cmd.Dir = interopDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node interop.js contents: %v\n%s", err, exitStderr(err))
	}
	var hexes struct{ Request, Response string }
	if err := json.Unmarshal(out, &hexes); err != nil {
		t.Fatalf("contents output %q: %v", out, err)
	}
	request, err1 := hex.DecodeString(hexes.Request)
	response, err2 := hex.DecodeString(hexes.Response)
	if err1 != nil || err2 != nil {
		t.Fatalf("contents output %q is not hex", out)
	}
	return request, response
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func TestInteropSofaBoltNode(t *testing.T) {
	node := nodeOrSkip(t)
	// A guard against a hung child, not a speed assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reqContent, respContent := interopContents(t, ctx, node)

	t.Run("node client to go server", func(t *testing.T) {
		seenc := make(chan string, 10)
		srv := &Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
			svc, _ := req.Get(bolt.HeaderService)
			seenc <- fmt.Sprintf("%s %s oneway=%v", svc, req.Class, req.IsOneway())
			if bytes.Equal(req.Content, reqContent) {
				return bolt.StatusSuccess, nil, respContent
			}
			return bolt.StatusNoProcessor, nil, nil
		}}
		addr := startServer(t, srv)
		cmd := exec.CommandContext(ctx, node, "interop.js", "client", addr)
		cmd.Dir = interopDir
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("node client: %v\nstdout: %s\nstderr: %s", err, out, exitStderr(err))
		}
		// Handlers run concurrently, and the one-way one may finish after
		// the client is done: collect all three, then compare sorted.
		var seen []string
		for range 3 {
			select {
			case s := <-seenc:
				seen = append(seen, s)
			case <-ctx.Done():
				t.Fatalf("handler saw only %q", seen)
			}
		}
		sort.Strings(seen)
		want := []string{
			"com.example.EchoService:1.0 " + bolt.ClassRequest + " oneway=false",
			"com.example.EchoService:1.0 " + bolt.ClassRequest + " oneway=false",
			"com.example.EchoService:1.0 " + bolt.ClassRequest + " oneway=true",
		}
		if strings.Join(seen, "\n") != strings.Join(want, "\n") {
			t.Errorf("handler saw:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("go client to node server", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, node, "interop.js", "server")
		cmd.Dir = interopDir
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stdin.Close() // the server exits when its stdin closes
			if err := cmd.Wait(); err != nil {
				t.Errorf("node server: %v\n%s", err, stderr.String())
			}
		}()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		port, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if err != nil || !ok {
			t.Fatalf("node server said %q (%v)\n%s", line, err, stderr.String())
		}
		c, err := Dial(ctx, "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		resp, err := c.Call(ctx, &Request{Service: "com.example.EchoService:1.0", Method: "sayHello",
			Content: reqContent, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != bolt.StatusSuccess || !bytes.Equal(resp.Content, respContent) {
			t.Errorf("status %s, content %x\nwant content %x", bolt.StatusText(resp.Status), resp.Content, respContent)
		}
	})
}
