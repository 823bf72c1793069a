package server

import (
	"fmt"
	"net"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/network"
)

// AdminListenerName names the admin API's socket among inherited listeners.
const AdminListenerName = "@admin"

// ListenerSocket is a listening socket with the config it was opened for,
// as passed to the next process on hot upgrade.
type ListenerSocket struct {
	Name    string
	Network string // "tcp" or "unix"
	Address string // as configured (may end in :0)
	Bound   string // the bound address
	// Protocol is the listener's downstream protocol ("Http1", "bolt",
	// "Auto", "tcp"); empty for the admin API.
	Protocol string
	Listener net.Listener
}

// Sockets lists the listening sockets (the admin API's last, when on).
func (s *Server) Sockets() []ListenerSocket {
	var out []ListenerSocket
	for _, rl := range s.listeners() {
		nw := rl.cfg.Network
		if nw == "" {
			nw = "tcp"
		}
		out = append(out, ListenerSocket{Name: rl.cfg.Name, Network: nw, Address: rl.cfg.Address,
			Bound: rl.ln.Addr().String(), Protocol: rl.protocol, Listener: rl.ln.NetListener()})
	}
	if s.admin != nil {
		out = append(out, ListenerSocket{Name: AdminListenerName, Network: "tcp", Address: s.adminAddr,
			Bound: s.admin.Addr().String(), Listener: s.admin.NetListener()})
	}
	return out
}

func (s *Server) inherited(name, network, address string) net.Listener {
	if s.inherit == nil {
		return nil
	}
	if network == "" {
		network = "tcp"
	}
	return s.inherit(name, network, address)
}

// SetHandoff makes draining HTTP/1 and Bolt connections of every listener
// offer themselves to f (hot upgrade) instead of closing; call it before
// Shutdown. tcp_proxy connections are never offered: they drain.
func (s *Server) SetHandoff(f func(c *network.Conn, listener, protocol string) bool) {
	for _, rl := range s.listeners() {
		if rl.byProtocol == nil {
			continue
		}
		name := rl.cfg.Name
		rl.ln.SetHandoff(func(c *network.Conn, protocol string) bool { return f(c, name, protocol) })
	}
}

// ServeHandedOff serves a connection received from the process being
// upgraded on the listener of that name, continuing with protocol from the
// bytes already read. On error the caller closes nc.
func (s *Server) ServeHandedOff(listener, protocol string, nc net.Conn, buffered []byte) error {
	for _, rl := range s.listeners() {
		if rl.cfg.Name != listener {
			continue
		}
		h := rl.byProtocol[protocol]
		if h == nil || (rl.protocol != config.ProtocolAuto && rl.protocol != protocol) {
			return fmt.Errorf("listener %q serves %s, not %s", listener, rl.protocol, protocol)
		}
		if !rl.ln.Adopt(s.ctx, nc, buffered, h) {
			return fmt.Errorf("listener %q is closed", listener)
		}
		return nil
	}
	return fmt.Errorf("no listener %q", listener)
}

// ActiveConnections is the number of open downstream connections.
func (s *Server) ActiveConnections() int64 {
	var n int64
	for _, rl := range s.listeners() {
		n += rl.ln.ActiveConnections()
	}
	return n
}
