// Package proxy forwards each downstream stream to an upstream one. It
// imports stream, protocol and network below it and the router, upstream,
// filter, metrics and lograte side packages.
//
// Where each part lives:
//   - call.go: the forwarding loop, the same for every protocol: decode
//     filters, route, the route's request and response header edits,
//     timeouts (route, per try, the request's own), one try after another
//     to the hosts upstream.Tries picks, the one place that decides a retry
//     (stream.Result says how a try ended), local replies (stream.Reply:
//     each protocol maps status and cause), encode filters, and the
//     request's counters and access log line, once, at its end.
//   - forward.go: what a listener's adapters share (Forwarder): routes,
//     clusters, pools, filters, stats; route and cluster resolution.
//   - http1.go: the HTTP/1 adapter: one request at a time per connection,
//     each try run by stream.HTTP1ServerStream.Forward on this goroutine
//     or task.
//   - bolt.go: the Bolt adapter: multiplexed requests, each try's answer
//     brought back by the upstream connection's reader.
//   - pools.go: upstream connection pools per host (and per event loop),
//     capped per host by the cluster's max_connections.
//   - streams.go, accesslog.go, accesslog_format.go: the list of streams in
//     flight, the access logs (mosnctl's JSON lines, MOSN's formats).
//
// Host choice, tries and the cluster and host counters are upstream.Tries:
// every proxy, tcp_proxy included, picks hosts and counts only through it.
package proxy
