// Package network owns sockets: listeners with connection limits and
// graceful drain, connections with a pooled read buffer that codecs decode
// from without copying, gathered writes (writev), timeouts and byte
// counters. It is the bottom layer of the data path and imports no other
// layer.
package network
