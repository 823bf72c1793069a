package bench

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/cli"
)

// DefaultServeAddr is where --serve listens without --listen: loopback, the
// port beside the README's Bolt listener (12200).
const DefaultServeAddr = "127.0.0.1:12201"

// runServe runs the --serve target until ctx is done (SIGINT, SIGTERM): a
// Bolt echo server to point a proxy's Bolt cluster or bolt:// load at
// without a SOFARPC service. The load generator (internal/bench) owns no
// server code; the server is boltrpc's.
func runServe(ctx context.Context, opts Options, out io.Writer) error {
	if opts.Serve != "bolt" {
		return cli.Usagef("bench: --serve %q is not supported (want bolt)", opts.Serve)
	}
	addr := opts.Listen
	if addr == "" {
		addr = DefaultServeAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return cli.Failed(fmt.Errorf("bench: serve bolt: %w", err))
	}
	srv := &boltrpc.Server{Handler: boltrpc.EchoHandler}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	addr = ln.Addr().String()
	fmt.Fprintf(out, "bolt echo server on %s (Ctrl-C stops it); try: mosnctl bench --service com.example.EchoService:1.0 -X echo bolt://%s\n", addr, addr)
	select {
	case <-ctx.Done():
		srv.Close()
		<-done
		return nil
	case err := <-done:
		return cli.Failed(fmt.Errorf("bench: serve bolt: %w", err))
	}
}
