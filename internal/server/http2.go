package server

import (
	"context"
	"log/slog"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/proxy"
	"github.com/mosnctl/mosnctl/internal/stream"
)

// http2Handler serves a listener's downstream HTTP/2 (h2c) connections
// through the forwarding loop.
func http2Handler(fw proxy.Forwarder, lc *config.Listener, up string, paths http1.PathRules, log *slog.Logger, limit *lograte.Limiter) network.HandlerFunc {
	p := &proxy.HTTP2Proxy{Forwarder: fw, UpstreamHTTP1: up == config.ProtocolHTTP1}
	opts := &stream.H2Options{IdleTimeout: lc.ConnectionIdleTimeout.Get(0), SendTimeout: lc.SendTimeout.Get(0),
		ReadTimeout: lc.ReadTimeout.Get(0), Logger: log, LogLimit: limit, Paths: paths}
	return func(ctx context.Context, c *network.Conn) { p.ServeConn(ctx, c, opts) }
}
