package bench

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// startBolt serves Bolt on loopback with h.
func startBolt(t *testing.T, h boltrpc.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &boltrpc.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "bolt://" + ln.Addr().String()
}

func TestBolt(t *testing.T) {
	var n atomic.Int64
	payload := []byte("\x4fhessian-ish payload")
	echo := startBolt(t, func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		n.Add(1)
		svc, _ := req.Get(bolt.HeaderService)
		m, _ := req.Get(bolt.HeaderMethod)
		if string(svc) != "com.example.Echo:1.0" || string(m) != "echo" || !bytes.Equal(req.Content, payload) {
			return bolt.StatusServerException, nil, nil
		}
		return bolt.StatusSuccess, nil, req.Content
	})
	busy := startBolt(t, func(*bolt.Frame) (uint16, map[string]string, []byte) {
		return bolt.StatusServerThreadpoolBusy, nil, nil
	})
	base := Config{Conns: 2, Streams: 8, Requests: 1001, Service: "com.example.Echo:1.0", RPCMethod: "echo", Body: payload, Timeout: 10 * time.Second}

	cfg := base
	cfg.Targets = []string{echo}
	res := run(t, cfg)
	if res.Requests != 1001 || res.Responses != 1001 || res.Errors.Total != 0 || n.Load() != 1001 || res.Status["0"] != 1001 {
		t.Fatalf("echo: requests %d responses %d errors %+v server %d status %v", res.Requests, res.Responses, res.Errors, n.Load(), res.Status)
	}
	if res.Protocol != "bolt" {
		t.Errorf("protocol %q", res.Protocol)
	}

	cfg = base
	cfg.Targets, cfg.Requests = []string{busy}, 20
	res = run(t, cfg)
	if res.Errors.StatusOther != 20 || res.Errors.Total != 20 || res.Status["4"] != 20 {
		t.Fatalf("busy: errors %+v status %v", res.Errors, res.Status)
	}

	// Open loop holds its schedule on a multiplexed connection too.
	cfg = base
	cfg.Targets, cfg.Requests, cfg.Rate, cfg.Duration = []string{echo}, 0, 1000, 300*time.Millisecond
	res = run(t, cfg)
	if res.Requests < 294 || res.Requests > 306 {
		t.Fatalf("open loop: %d requests, want 300 ± 2%%", res.Requests)
	}

	cfg = base
	cfg.Targets, cfg.Service = []string{echo}, ""
	if _, err := Run(t.Context(), cfg); err == nil || !IsUsage(err) {
		t.Fatalf("no --service: %v", err)
	}
}

func TestBoltTimeoutKeepsConnection(t *testing.T) {
	// The first request on each connection stalls; later ones answer.
	// A timed-out Bolt request is abandoned by id, the connection stays.
	var calls atomic.Int64
	release := make(chan struct{})
	u := startBolt(t, func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		if calls.Add(1) == 1 {
			<-release // never answered within the timeout
		}
		return bolt.StatusSuccess, nil, nil
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	res := run(t, Config{Targets: []string{u}, Conns: 1, Streams: 2, Requests: 10, Service: "s", RPCMethod: "m", Timeout: time.Second})
	if res.Requests != 10 || res.Errors.Timeout != 1 || res.Responses != 9 {
		t.Fatalf("requests %d responses %d errors %+v", res.Requests, res.Responses, res.Errors)
	}
}
