// Package http1 owns the HTTP/1.0 and HTTP/1.1 wire codec of the data path: parsing request and response heads,
// walking chunked bodies, and writing heads, chunks and locally generated responses back out.
//
// It is the per-request hot path, so it is built around three rules:
//
//   - Pure functions over []byte. The codec never touches a socket; the network layer hands it whatever bytes have
//     arrived and forwards what it consumed.
//   - Views, not copies. A parsed Request or Response is a reused struct whose byte-slice fields point into the
//     caller's read buffer. They are valid only until the caller reuses or mutates that buffer: do not keep
//     references past the request (copy what must outlive it).
//   - No allocation in steady state. Header slices keep their backing array across Reset, lookups compare bytes
//     against string constants, errors are preallocated, and encoding appends to a caller-provided slice.
//
// Parsing is strict (RFC 9112), because a proxy that frames a message differently from its upstream enables request
// smuggling: CRLF is required everywhere, obs-fold, whitespace before a colon, control characters, conflicting or
// malformed Content-Length and any Transfer-Encoding other than a lone final "chunked" are refused with an *Error
// carrying the status to answer with.
//
// The package imports only the standard library and must not import other mosnctl packages: stream and proxy
// layers sit above it.
package http1
