package admin

import "net"

// UseListener serves on ln, a socket already bound (received from the
// process being hot-upgraded), instead of calling Listen.
func (s *Server) UseListener(ln net.Listener) { s.ln = ln }

// NetListener returns the bound socket (passed on hot upgrade); nil before
// Listen or UseListener.
func (s *Server) NetListener() net.Listener { return s.ln }
