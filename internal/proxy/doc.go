// Package proxy forwards each downstream stream to an upstream one: it asks
// the router for a route, the cluster for a host, the stream layer for an
// upstream connection, applies timeouts and retries and maps failures to the
// protocol's error responses. It imports stream, protocol and network below
// it and the router, upstream, metrics and lograte side packages.
package proxy
