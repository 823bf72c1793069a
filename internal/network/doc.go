// Package network owns sockets: listeners with connection limits and
// graceful drain, connections with a pooled read buffer that codecs decode
// from without copying, gathered writes (writev), timeouts and byte
// counters. It is the bottom layer of the data path and imports no other
// layer.
//
// # IO models
//
// A listener serves each connection on its own goroutine (the goroutine
// model), or on event loops (the netpoll model, Linux: loop_linux.go). A
// connection carries its loop's socket from creation (Conn.Loop), so a
// socket wrapped later (Conn.Wrap: TLS) stays scheduled by its loop.
//
// # What an idle connection keeps
//
// Between messages a handler releases the read buffer and, on a loop,
// parks the connection (Conn.ParkIdle): no task, no stack. What is left of
// a downstream connection waiting for its next request, in bytes of heap
// (Go's size class of each allocation) on 64-bit Linux; the tests of each
// package check the struct sizes against this table:
//
//	what                            bytes   model     notes
//	network.Conn                      144   both      the connection
//	network.fdConn                    128   netpoll   the loop's socket: readiness, waiters, deadlines
//	remote address                     56   both      *net.TCPAddr and its IPv4 bytes (IPv6: 64); the local one is asked of the kernel
//	loop socket table slot              8   netpoll   Loop.conns, indexed by descriptor (grows by doubling)
//	deadline heap entry                16   netpoll   one per armed direction; stale ones wait for their time
//	listener tracking                 ~20   both      an entry of Listener.conns (map[*Conn]struct{}), for drain
//	stream.http1Conn                   48   both      HTTP/1 keep-alive state, plus its resume func (16) when parked
//	proxy.http1ConnHandler            176   both      the stream tracker's entry (/api/v1/streams), plus its AfterServe func (16)
//	stream.BoltDownstream             224   both      Bolt connection state; its answer queue is let go while idle
//	network.InFlight                   48   both      Bolt requests in flight, plus the resume func (16) when parked
//
// Nothing else: the read buffer (16 KiB) is back in its pool; the HTTP/1
// stream (stream.HTTP1ServerStream: request view, header index, write
// buffer, scratch for the access log) is in a sync.Pool until the next
// request; counters and metrics are per listener, not per connection; a
// loop keeps at most 64 idle worker tasks for all its connections (those
// idle for a second end). An idle HTTP/1 connection (stream tracking on)
// or Bolt connection left about 780 (HTTP/1) and 690 (Bolt) bytes of live
// heap each in the netpoll model (make idle-bench, 10 000 connections);
// RSS adds the garbage collector's headroom (make idle-bench measures
// both). The kernel's share (socket, epoll item, a few KiB per connection)
// is not in the process's RSS.
//
// An idle downstream HTTP/2 connection parks too, with or without streams
// in flight (their answers come from the upstream readers): what stays is
// its engine (HPACK tables, settings, the stream map) and its reader's
// state, about 3.7 KB of live heap and 6 KB of RSS per connection (make
// idle-bench, h2c, 3 000 connections; 20 KB of heap and an 8 KB stack
// before it parked). A pooled upstream HTTP/2 connection's reader parks as
// well (Conn.ParkRead).
//
// In the goroutine model the connection's goroutine blocks in Fill: its
// stack (8 KiB and more, as the handler's deepest call grew it) and the
// read buffer Fill took before blocking (16 KiB of heap, of which only the
// pages the kernel wrote to are resident) come on top.
//
// A tcp_proxy pair with both sides silent holds no task either (each
// direction parks its source: Conn.ParkRead, Conn.Detach): two connections
// with their loop sockets, addresses and deadline entries, and
//
//	tcpproxy.pair                     224   netpoll   both directions' state, plus their two resume funcs (16 each) and upstream.Tries (88: the hosts tried, outlier bookkeeping)
//
// Pooled idle upstream HTTP/1 connections (stream.HTTP1Pool) hold no task
// in either model either: a network.Conn, an fdConn on a loop, a deadline
// entry while a deadline is armed, the pool's slot (8) and
//
//	stream.HTTP1ClientConn            240   both      response parser state; the header index of its last response (48 a header) stays
//
// A pool keeps at most MaxIdle of them per host (and per loop).
//
// A TLS connection (Conn.Wrap) is the exception on a loop: it does not
// park while idle, because crypto/tls may hold bytes it read ahead of a
// record that no readiness event would announce. It keeps its task (a
// coroutine stack) and tls.Conn's state and buffers while it waits, but no
// read buffer: Fill waits for a message's first byte with one byte of the
// connection's own. While the wrapper may hold the rest of what it read
// (ReadAhead), Release keeps the buffer, so the rest comes in one read and
// a reader that consumes every byte does not go a byte at a time. An idle TLS connection (HTTP/1, ECDSA P-256, TLS 1.3)
// grew the RSS by about 26 KB in either model (5 000 connections; 40 KB
// while Fill's buffer waited inside crypto/tls).
package network
