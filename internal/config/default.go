package config

import (
	"strings"
	"time"
)

// Defaults that ApplyDefaults fills in.
const (
	DefaultAdminAddr      = "127.0.0.1:34901"
	DefaultConnectTimeout = 3 * time.Second
	// Host weights are MOSN's range. An absent weight (0) means
	// defaultHostWeight, as in MOSN; a weight outside the range is refused
	// by Validate, where MOSN would silently clamp it.
	minHostWeight     = 1
	maxHostWeight     = 128
	defaultHostWeight = 1
	// rpcRouteMatchKey is the header MOSN's RPC route rule matches on.
	rpcRouteMatchKey = "service"
)

// ApplyDefaults fills in what MOSN leaves implicit. It is idempotent.
// Filter configs are raw; their defaults (upstream_protocol) are applied by
// DecodeProxy.
func (c *Config) ApplyDefaults() {
	for si := range c.Servers {
		s := &c.Servers[si]
		for li := range s.Listeners {
			l := &s.Listeners[li]
			l.Network = strings.ToLower(l.Network)
			if l.Network == "" {
				l.Network = "tcp"
			}
			if l.Name == "" {
				l.Name = l.Address
			}
			if l.BindToPort == nil {
				t := true
				l.BindToPort = &t
			}
		}
		for ri := range s.Routers {
			for vi := range s.Routers[ri].VirtualHosts {
				vh := &s.Routers[ri].VirtualHosts[vi]
				for i := range vh.Routers {
					applyRPCFastMatch(&vh.Routers[i].Match)
				}
			}
		}
	}
	for i := range c.ClusterManager.Clusters {
		cl := &c.ClusterManager.Clusters[i]
		if cl.Type == "" {
			cl.Type = "SIMPLE"
		}
		if cl.LbType == "" {
			cl.LbType = LBRoundRobin
		}
		if cl.ConnectTimeout == nil {
			cl.ConnectTimeout = &Duration{DefaultConnectTimeout}
		}
		for hi := range cl.Hosts {
			h := &cl.Hosts[hi]
			if h.Weight == 0 {
				h.Weight = defaultHostWeight
			}
		}
	}
}

// applyRPCFastMatch turns MOSN's legacy RPC match into a plain regex matcher.
// MOSN treats a route whose only match is one header named "service" with
// value ".*" (no regex flag, no prefix/path/regex) as "any non-empty service
// header" — its SOFARPC samples rely on it — while everywhere else a value
// without "regex": true is exact. Rewriting it here keeps that quirk out of
// the router: ".+" must match the whole value, so it means "present and
// non-empty", exactly MOSN's rule.
func applyRPCFastMatch(m *RouterMatch) {
	if m.Prefix != "" || m.Path != "" || m.Regex != "" || len(m.Variables) > 0 || len(m.DslExpressions) > 0 {
		return
	}
	if len(m.Headers) != 1 {
		return
	}
	h := &m.Headers[0]
	if h.Name == rpcRouteMatchKey && !h.Regex && h.Value == ".*" {
		h.Value = ".+"
		h.Regex = true
	}
}

// AdminAddr returns the admin API's listen address: DefaultAdminAddr when
// the config has no admin block or an empty one; an empty address with a
// port means 127.0.0.1 (port 0 with an address asks for any free port).
func (c *Config) AdminAddr() string {
	if c == nil || c.Admin == nil {
		return DefaultAdminAddr
	}
	sa := c.Admin.Address.SocketAddress
	if sa.Address == "" && sa.PortValue == 0 {
		return DefaultAdminAddr
	}
	if sa.Address == "" {
		return joinHostPort("127.0.0.1", sa.PortValue)
	}
	return c.Admin.Addr()
}
