// Package upgrade owns hot upgrade: replacing a running `mosnctl serve`
// with a new process (new binary or new config) without closing a listener
// or resetting a connection. The old process listens on a unix socket; the
// new one connects, receives the listening sockets (SCM_RIGHTS) and the
// config, builds its server on them and reports ready; the old one then
// stops accepting and hands over its keep-alive HTTP/1 and Bolt connections
// between requests (socket plus the bytes read and not yet processed) while
// it drains the rest, and exits. Spawn is the `mosnctl upgrade` side that
// starts the new process and follows its progress on a status pipe.
//
// It sits above internal/server (it drives a *server.Server) and below
// cmd/; nothing in the data path imports it.
package upgrade
