package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// grpcOrigin is a grpc-go server on loopback: the interop TestService,
// plus any other method through an unknown-service handler ("/test.Slow/Wait"
// blocks until its call is cancelled and records that).
type grpcOrigin struct {
	addr      string
	calls     atomic.Int64
	cancelled chan struct{}
	srv       *grpc.Server
}

func startGRPCOrigin(t *testing.T) *grpcOrigin {
	t.Helper()
	o := &grpcOrigin{cancelled: make(chan struct{}, 16)}
	o.srv = grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			o.calls.Add(1)
			return h(ctx, req)
		}),
		grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
			var in emptypb.Empty
			if err := ss.RecvMsg(&in); err != nil {
				return err
			}
			<-ss.Context().Done()
			o.cancelled <- struct{}{}
			return ss.Context().Err()
		}))
	testgrpc.RegisterTestServiceServer(o.srv, interop.NewTestServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	go o.srv.Serve(ln)
	t.Cleanup(o.srv.Stop)
	return o
}

// grpcProxyConfig routes the TestService and /test.Slow/ to cluster
// "origin" (with the route's extra JSON), nothing else.
func grpcProxyConfig(down, routeExtra string, hosts ...string) string {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, fmt.Sprintf(`{"address": %q}`, h))
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/grpc.testing.TestService/"}, "route": {"cluster_name": "origin"%s}},
      {"match": {"prefix": "/test.Slow/"}, "route": {"cluster_name": "origin"%s}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": %q, "upstream_protocol": "Http2", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s", "hosts": [%s]}]}
}`, routeExtra, routeExtra, down, strings.Join(hs, ","))
}

func dialGRPC(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// grpc-go's interop client against its interop server, through the proxy:
// unary, the three streaming kinds, metadata and trailers, status codes,
// cancellation, with a small window for 1 MiB messages.
func TestGRPCInterop(t *testing.T) {
	o := startGRPCOrigin(t)
	p := startProxy(t, grpcProxyConfig("Http2", "", o.addr))
	cc := dialGRPC(t, p.addr("in"), grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	tc := testgrpc.NewTestServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	interopEveryKind(ctx, tc)
	interop.DoEmptyStream(ctx, tc)
	interop.DoCustomMetadata(ctx, tc)
	interop.DoStatusCodeAndMessage(ctx, tc)
	interop.DoSpecialStatusMessage(ctx, tc)
	interop.DoCancelAfterBegin(ctx, tc)
	interop.DoCancelAfterFirstResponse(ctx, tc)
	interop.DoTimeoutOnSleepingServer(ctx, tc)

	// 1 MiB each way, through 64 KiB windows on the client.
	const mib = 1 << 20
	resp, err := tc.UnaryCall(ctx, &testpb.SimpleRequest{ResponseType: testpb.PayloadType_COMPRESSABLE, ResponseSize: mib,
		Payload: interop.ClientNewPayload(testpb.PayloadType_COMPRESSABLE, mib)})
	if err != nil || len(resp.GetPayload().GetBody()) != mib {
		t.Fatalf("1 MiB unary: %d bytes, %v", len(resp.GetPayload().GetBody()), err)
	}
}

// 100 concurrent calls on one downstream connection, spread over two
// upstream hosts: each caller gets its own answer.
func TestGRPCConcurrentOverTwoHosts(t *testing.T) {
	a, b := startGRPCOrigin(t), startGRPCOrigin(t)
	p := startProxy(t, grpcProxyConfig("Http2", "", a.addr, b.addr))
	tc := testgrpc.NewTestServiceClient(dialGRPC(t, p.addr("in")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := int32(100 + i)
			resp, err := tc.UnaryCall(ctx, &testpb.SimpleRequest{ResponseType: testpb.PayloadType_COMPRESSABLE, ResponseSize: size})
			if err != nil {
				errs <- err
				return
			}
			if got := len(resp.GetPayload().GetBody()); got != int(size) {
				errs <- fmt.Errorf("call %d: %d bytes, want %d", i, got, size)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if a.calls.Load() == 0 || b.calls.Load() == 0 || a.calls.Load()+b.calls.Load() != 100 {
		t.Fatalf("calls per host: %d and %d, want 100 spread over both", a.calls.Load(), b.calls.Load())
	}
}

// Errors the proxy makes itself reach a gRPC client as gRPC statuses.
func TestGRPCLocalErrors(t *testing.T) {
	o := startGRPCOrigin(t)
	dead := closedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("no route is UNIMPLEMENTED", func(t *testing.T) {
		p := startProxy(t, grpcProxyConfig("Http2", "", o.addr))
		err := dialGRPC(t, p.addr("in")).Invoke(ctx, "/other.Service/Call", &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("got %v, want UNIMPLEMENTED", err)
		}
	})
	t.Run("dead upstream is UNAVAILABLE", func(t *testing.T) {
		p := startProxy(t, grpcProxyConfig("Http2", "", dead))
		_, err := testgrpc.NewTestServiceClient(dialGRPC(t, p.addr("in"))).EmptyCall(ctx, &testpb.Empty{})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "upstream connect error") {
			t.Fatalf("got %v, want UNAVAILABLE from the proxy", err)
		}
	})
	t.Run("route timeout is DEADLINE_EXCEEDED", func(t *testing.T) {
		p := startProxy(t, grpcProxyConfig("Http2", `, "timeout": "200ms"`, o.addr))
		err := dialGRPC(t, p.addr("in")).Invoke(ctx, "/test.Slow/Wait", &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "upstream request timeout") {
			t.Fatalf("got %v, want DEADLINE_EXCEEDED from the proxy", err)
		}
		waitCancelled(t, o) // the upstream stream was reset
	})
	t.Run("route idle_timeout is DEADLINE_EXCEEDED", func(t *testing.T) {
		p := startProxy(t, grpcProxyConfig("Http2", `, "timeout": "0s", "idle_timeout": "300ms"`, o.addr))
		err := dialGRPC(t, p.addr("in")).Invoke(ctx, "/test.Slow/Wait", &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DEADLINE_EXCEEDED from the proxy", err)
		}
		waitCancelled(t, o)
	})
	t.Run("grpc-timeout bounds the route timeout", func(t *testing.T) {
		p := startProxy(t, grpcProxyConfig("Http2", `, "timeout": "30s"`, o.addr))
		// A raw HTTP/2 client, which itself waits for ever: the answer can
		// only come from the proxy honouring grpc-timeout.
		req, _ := http.NewRequest("POST", p.url("in", "/test.Slow/Wait"), bytes.NewReader([]byte{0, 0, 0, 0, 0}))
		req.Header.Set("content-type", "application/grpc")
		req.Header.Set("te", "trailers")
		req.Header.Set("grpc-timeout", "300m")
		start := time.Now()
		resp, err := h2cClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		st := resp.Header.Get("grpc-status") + resp.Trailer.Get("grpc-status")
		if resp.StatusCode != 200 || st != "4" || time.Since(start) > 20*time.Second {
			t.Fatalf("status %d grpc-status %q after %v, want 200 and 4", resp.StatusCode, st, time.Since(start))
		}
		waitCancelled(t, o)
	})
	t.Run("client cancel resets the upstream stream", func(t *testing.T) {
		p := startProxy(t, grpcProxyConfig("Http2", "", o.addr))
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- dialGRPC(t, p.addr("in")).Invoke(cctx, "/test.Slow/Wait", &emptypb.Empty{}, &emptypb.Empty{})
		}()
		time.Sleep(200 * time.Millisecond)
		ccancel()
		if err := <-done; status.Code(err) != codes.Canceled {
			t.Fatalf("got %v, want CANCELED", err)
		}
		waitCancelled(t, o)
	})
}

// waitCancelled waits for the slow method to see its call cancelled.
func waitCancelled(t *testing.T, o *grpcOrigin) {
	t.Helper()
	select {
	case <-o.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream call was never cancelled")
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var _ = http2.ErrCodeNo

// interopEveryKind makes grpc-go's interop calls of every kind: unary
// (empty and large), client, server and bidirectional streaming. Each
// fails the test itself (interop's calls are fatal on error).
func interopEveryKind(ctx context.Context, tc testgrpc.TestServiceClient) {
	interop.DoEmptyUnaryCall(ctx, tc)
	interop.DoLargeUnaryCall(ctx, tc)
	interop.DoClientStreaming(ctx, tc)
	interop.DoServerStreaming(ctx, tc)
	interop.DoPingPong(ctx, tc)
}
