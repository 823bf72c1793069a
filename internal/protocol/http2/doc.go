// Package http2 owns the HTTP/2 wire protocol of the data path (RFC 9113,
// with HPACK, RFC 7541): one connection's frames, streams, settings, flow
// control and header compression, for the server and the client role. It
// is sans-IO: no sockets, goroutines or timers, so the goroutine and the
// netpoll IO models drive it alike, and TLS (ALPN "h2") only changes who
// reads the bytes.
//
// # Contract
//
// The owner of a connection creates a Conn with NewServerConn or
// NewClientConn and a Handler, then repeats:
//
//   - Feed(p) with the bytes read from the socket. The engine parses every
//     complete frame, keeps a partial one for the next call, and calls the
//     Handler: Headers (request or response heads, 1xx, trailers), Data,
//     Reset (any abnormal stream end, with the reason for the log),
//     Writable (a blocked stream may send again) and Control (SETTINGS, their
//     ack, PING ack, GOAWAY).
//   - Output() / Advance(n) (or WriteTo for a blocking socket) to send what
//     the engine queued: the preface and SETTINGS, acks, WINDOW_UPDATE,
//     RST_STREAM, GOAWAY and everything the write methods produced.
//
// The application writes with OpenStream (client), WriteHeaders, WriteData,
// WriteTrailers, Reset, GoAway and Ping, and reports body bytes it has used
// with Consumed. WriteData sends only what the peer's connection and stream
// windows allow and returns that count; the rest waits for Writable. That is
// the backpressure: a slow consumer calls Consumed late, so WINDOW_UPDATE
// (sent once half a window is owed, never all up front) holds its own
// stream back and no other.
//
// A *ConnError from Feed ends the connection: GOAWAY with the RFC 9113 code
// is already queued, every open stream was reported to Reset; flush Output
// and close. Stream errors never surface from Feed: the engine sends
// RST_STREAM and calls Reset, and the connection keeps serving the others.
//
// # Threading and lifetimes
//
// A Conn is not safe for concurrent use: one goroutine or one event-loop
// task owns it. Handler methods run inside Feed (Writable also inside a
// write method) on that owner; they may call the write methods but not
// Feed. The *Headers, its fields and Data's p are views into the engine's
// buffers, valid only until the Handler method returns: copy what must
// outlive it. The slice from Output is valid until the next call on the
// Conn. Fields passed to write methods are copied before they return.
//
// # Limits (Config) and hostile peers
//
// Every limit has a safe default and the advertised ones go out in our
// SETTINGS. What the peer does wrong gets the RFC 9113 answer:
//
//   - a header block, CONTINUATION frames included, longer than
//     MaxHeaderListSize, or more than MaxContinuationFrames: GOAWAY
//     ENHANCE_YOUR_CALM (CONTINUATION floods);
//   - a decoded list over MaxHeaderListSize (HPACK bombs): the block is
//     walked without copying to keep the tables in step, then 431 and
//     RST_STREAM NO_ERROR for a request, RST_STREAM PROTOCOL_ERROR for a
//     response;
//   - streams over MaxConcurrentStreams: RST_STREAM REFUSED_STREAM;
//   - malformed heads (missing, duplicate, unknown or late pseudo-headers,
//     connection-specific fields, te other than "trailers", upper-case or
//     non-token names, control characters, bad content-length, DATA that
//     disagrees with content-length): RST_STREAM PROTOCOL_ERROR;
//   - DATA over a window: RST_STREAM or GOAWAY FLOW_CONTROL_ERROR; frames
//     on closed streams: RST_STREAM STREAM_CLOSED; on idle streams: GOAWAY
//     PROTOCOL_ERROR;
//   - rapid reset: every stream the peer resets or breaks, and every empty
//     DATA frame, spends one unit of ResetBudget; each stream that ends
//     normally earns one back; an empty budget is GOAWAY ENHANCE_YOUR_CALM;
//   - SETTINGS and PING floods: more than MaxQueuedControlFrames acks
//     queued while the caller has not drained Output (the peer does not
//     read) is GOAWAY ENHANCE_YOUR_CALM.
//
// Idle and zero-window timeouts need a clock, so they belong to the owner.
//
// # Design notes
//
// Frames are parsed and written here, not with x/net's Framer: its reader
// allocates a frame struct per HEADERS, WINDOW_UPDATE or SETTINGS frame and
// wants an io.Reader holding whole frames, and its writer copies every
// payload twice. The frame layout is nine bytes; the validation is RFC 9113
// §6, frame type by type. HPACK is our own too, because x/net's decoder
// hands out strings (an allocation per literal): the decoder copies each
// field into a per-connection arena and exposes byte views, its dynamic
// table is a ring of entries whose buffers are reused, and x/net's exported
// Huffman coder does the bit work. The encoder keeps its own table (it copies
// what it indexes), never indexes fields whose values change per message
// (content-length, grpc-timeout, dates, cookies...), and honours the peer's
// SETTINGS_HEADER_TABLE_SIZE. x/net's Framer, HPACK, Transport and server are
// the oracles the tests and fuzz targets check against. Steady state costs
// no allocation: see the benchmarks for a gRPC request head, a response
// head with trailers, and DATA relayed between two engines.
//
// Server push is never used: a client sends SETTINGS_ENABLE_PUSH 0 and a
// PUSH_PROMISE is a connection error. Priority signals are parsed for
// validity and ignored. A client holds DATA until the server's first
// SETTINGS, since some servers enforce a smaller initial window at once.
//
// The package imports x/net/http2 (for its types and constants) and
// x/net/http2/hpack (Huffman), and no other mosnctl package: the stream
// and proxy layers sit above it.
package http2
