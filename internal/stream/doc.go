// Package stream gives every protocol the same face: a request as the
// proxy routes, filters and edits it (Request, RequestEditor), a response
// as encode filters see it (Response), one try upstream (Try) and how it
// ended (Result), and the local replies each protocol maps to its own
// terms (Reply). It sits between protocol (codecs) and proxy and imports
// only network and protocol, and the lograte side package.
//
// Where each part lives:
//   - stream.go: the protocol-neutral types above.
//   - http1server.go, http1edit.go: the downstream HTTP/1 request loop and
//     its stream: routing view (pseudo-headers too), edits, local replies.
//   - http1client.go: one HTTP/1 try: request sent with its body (held
//     for sending again when more tries may follow), response relayed
//     through the loop's hooks.
//   - http1pool.go, body.go: keep-alive upstream connections, bodies.
//   - boltserver.go, boltclient.go, boltedit.go: Bolt downstream
//     connections, multiplexed upstream connections (request ids
//     rewritten), frames as requests and responses, status mapping.
//   - limit.go: the per-host connection cap all pools of a host share.
package stream
