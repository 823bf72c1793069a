package tlsbench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The child protocol: tlsbench runs the Go servers, the client and the Go
// primitives in child processes (this binary, or mosnctl-boring for the
// boringcrypto engine) so that each can be pinned to its own CPU, its CPU
// time read from /proc, and the boringcrypto build swapped in. A child gets
// its job as flags, answers with one JSON line on stdout, and a server child
// lives until its stdin closes, so it never outlives the parent.

// readyMsg is a server child's first line.
type readyMsg struct {
	Addr      string `json:"addr"`
	Boring    bool   `json:"boring"`
	GoVersion string `json:"go_version"`
}

// clientResult is the client child's answer for one cell.
type clientResult struct {
	Handshakes int64   `json:"handshakes"`
	PerConn    []int64 `json:"per_conn"` // handshakes (or bytes for bulk) per client connection slot
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	Error      string  `json:"error,omitempty"`
}

// primRow is one in-process primitive measurement.
type primRow struct {
	Alg    string  `json:"alg"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
}

type primitivesResult struct {
	Boring    bool      `json:"boring"`
	GoVersion string    `json:"go_version"`
	Rows      []primRow `json:"rows"`
	Error     string    `json:"error,omitempty"`
}

// Bulk modes of a server child: sink reads and discards (handshake and
// upload cells), source writes records until the client goes away.
const (
	bulkSink   = "sink"
	bulkSource = "source"
)

// ChildMain runs one child role from its flags and returns the process exit
// code. It is what `mosnctl tlsbench child` (hidden) runs.
func ChildMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlsbench child", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "", "serve, client, primitives or info")
	certFile := fs.String("cert", "", "certificate PEM")
	keyFile := fs.String("key", "", "key PEM")
	caFile := fs.String("ca", "", "CA PEM the client trusts")
	suiteName := fs.String("suite", "", "suite")
	curveName := fs.String("curve", "", "curve")
	bulk := fs.String("bulk", bulkSink, "sink or source")
	addr := fs.String("addr", "", "server address (client)")
	metric := fs.String("metric", "", "metric (client)")
	duration := fs.Duration("duration", time.Second, "measuring time")
	conns := fs.Int("conns", 1, "concurrent client connections")
	size := fs.Int("size", 16384, "bulk write size")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline of one network operation")
	var need primNeeds
	fs.Func("aead", "AEAD to measure (repeatable)", func(v string) error { need.aeads = append(need.aeads, v); return nil })
	fs.Func("seal-size", "seal size to measure (repeatable)", func(v string) error {
		n, err := strconv.Atoi(v)
		need.sizes = append(need.sizes, n)
		return err
	})
	fs.Func("ecdhe", "curve to measure (repeatable)", func(v string) error { need.curves = append(need.curves, v); return nil })
	fs.Func("sign", "certificate key to measure (repeatable)", func(v string) error { need.certs = append(need.certs, v); return nil })
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	switch *mode {
	case "serve":
		err = childServe(ctx, stdin, stdout, *certFile, *keyFile, *suiteName, *curveName, *bulk, *size)
	case "client":
		var res clientResult
		res, err = childClient(ctx, clientJob{addr: *addr, caFile: *caFile, suite: *suiteName, curve: *curveName,
			metric: *metric, duration: *duration, conns: *conns, size: *size, timeout: *timeout})
		if err != nil {
			res.Error = err.Error()
			err = nil
		}
		err = json.NewEncoder(stdout).Encode(res)
	case "info":
		err = json.NewEncoder(stdout).Encode(readyMsg{Boring: boringEnabled(), GoVersion: runtime.Version()})
	case "primitives":
		res := primitivesResult{Boring: boringEnabled(), GoVersion: runtime.Version()}
		res.Rows, err = measurePrimitives(ctx, *duration, need)
		if err != nil {
			res.Error = err.Error()
		}
		err = json.NewEncoder(stdout).Encode(res)
	default:
		err = fmt.Errorf("unknown child mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tlsbench child: %v\n", err)
		return 1
	}
	return 0
}

// serverConfig is the crypto/tls server of the go and boringcrypto engines:
// one suite (TLS 1.2; TLS 1.3 suites are not configurable in crypto/tls),
// one version, one curve, session tickets on (the default).
func serverConfig(certFile, keyFile, suiteName, curveName string) (*tls.Config, error) {
	s, ok := suiteByName(suiteName)
	if !ok {
		return nil, fmt.Errorf("unknown suite %q", suiteName)
	}
	c, ok := curveByName(curveName)
	if !ok {
		return nil, fmt.Errorf("unknown curve %q", curveName)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load server certificate: %w", err)
	}
	cfg := &tls.Config{
		Certificates:                []tls.Certificate{cert},
		MinVersion:                  s.Version,
		MaxVersion:                  s.Version,
		CurvePreferences:            []tls.CurveID{c.ID},
		DynamicRecordSizingDisabled: true, // full 16 KiB records from the first byte, as the other engines send
	}
	if s.Version == tls.VersionTLS12 {
		cfg.CipherSuites = []uint16{s.ID}
	}
	return cfg, nil
}

func childServe(ctx context.Context, stdin io.Reader, stdout io.Writer, certFile, keyFile, suiteName, curveName, bulk string, size int) error {
	cfg, err := serverConfig(certFile, keyFile, suiteName, curveName)
	if err != nil {
		return err
	}
	if bulk != bulkSink && bulk != bulkSource {
		return fmt.Errorf("unknown bulk mode %q", bulk)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	// The parent closes our stdin to stop us, or dies and the pipe breaks.
	wg.Go(func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	})
	wg.Go(func() {
		<-ctx.Done()
		_ = ln.Close()
	})
	if err := json.NewEncoder(stdout).Encode(readyMsg{Addr: ln.Addr().String(), Boring: boringEnabled(), GoVersion: runtime.Version()}); err != nil {
		return err
	}
	buf := make([]byte, size)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go serveConn(tls.Server(c, cfg), bulk, buf)
	}
}

// serveConn ends with the connection; the process exits when stdin closes,
// so these goroutines need no other owner.
func serveConn(c *tls.Conn, bulk string, buf []byte) {
	defer c.Close()
	if bulk == bulkSource {
		if err := c.Handshake(); err != nil {
			return
		}
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}
	// Sink: read until the client's close_notify, then answer with ours.
	_, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, io.EOF) {
		return
	}
}
