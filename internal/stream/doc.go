// Package stream gives each protocol a stream face: the request loop of a
// downstream connection (server side), upstream connections that send a
// request and read its response (client side), and the upstream connection
// pools: one request at a time per keep-alive connection for HTTP/1,
// multiplexed by rewritten request id for Bolt. It sits between protocol
// (codecs) and proxy and imports only network and protocol, and the lograte
// side package.
package stream
