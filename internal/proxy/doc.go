// Package proxy forwards each downstream stream to an upstream one. It
// imports stream, protocol and network below it and the router, upstream,
// metrics and lograte side packages.
//
// Where each part lives:
//   - forward.go: what every protocol shares (Forwarder): route and cluster
//     resolution, request counting, the access log. Host choice, tries and
//     the cluster and host counters are upstream.Tries: every proxy, tcp_proxy
//     included, picks hosts and counts tries only through it.
//   - http1.go: the HTTP/1 adapter: request head rewriting, the exchange on
//     one pooled upstream connection (body pump, stale-connection replay,
//     response relay), HTTP error mapping.
//   - bolt.go: the Bolt adapter: multiplexed calls answered from the
//     upstream connection's reader, Bolt status mapping.
//   - pools.go: upstream connection pools per host (and per event loop).
//   - streams.go, accesslog.go: the list of streams in flight, access log.
package proxy
