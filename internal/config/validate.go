package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// Validate checks the (defaulted) config and returns every problem found as
// a *FieldError, or errors.Join of several sorted by path (at most 20).
func (c *Config) Validate() error {
	v := &validator{c: c, clusters: map[string]bool{}}
	v.run()
	return joinErrors(v.errs)
}

type validator struct {
	c        *Config
	errs     []*FieldError
	clusters map[string]bool
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) add(errs ...*FieldError) { v.errs = append(v.errs, errs...) }

func (v *validator) run() {
	v.clusterManager()
	v.bootstrap()
	if len(v.c.Servers) == 0 && !v.c.XDS() {
		v.errorf("servers", "no servers: a config needs at least one listener")
	}
	names := map[string]string{} // listener name -> path
	addrs := map[string]string{} // normalised address -> path
	for si := range v.c.Servers {
		v.server(si, names, addrs)
	}
	v.clusterTLSUsers()
	if a := v.c.Admin; a != nil {
		sa := a.Address.SocketAddress
		if sa.PortValue > 65535 {
			v.errorf("admin.address.socket_address.port_value", "port %d out of range 0-65535", sa.PortValue)
		}
		if sa.Address != "" && !validHost(sa.Address) {
			v.errorf("admin.address.socket_address.address", "invalid address %q: want an IP or host name", sa.Address)
		}
	}
}

var logLevels = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}

func (v *validator) logLevel(level, path string) {
	if level == "" {
		return
	}
	for _, l := range logLevels {
		if strings.EqualFold(level, l) {
			return
		}
	}
	v.errorf(path, "unknown log level %q (one of %s)", level, strings.Join(logLevels, ", "))
}

func (v *validator) server(si int, names, addrs map[string]string) {
	s := &v.c.Servers[si]
	sp := fmt.Sprintf("servers[%d]", si)
	v.logLevel(s.DefaultLogLevel, sp+".default_log_level")
	if s.Processor < 0 {
		v.errorf(sp+".processor", "must not be negative")
	}
	// Without xDS a server without listeners would serve nothing.
	if len(s.Listeners) == 0 && !v.c.XDS() {
		v.errorf(sp+".listeners", "no listeners: a server needs at least one listener")
	}
	routers := map[string]bool{}
	for ri := range s.Routers {
		rp := fmt.Sprintf("%s.routers[%d]", sp, ri)
		name := s.Routers[ri].RouterConfigName
		switch {
		case name == "":
			v.errorf(rp+".router_config_name", "required")
		case routers[name]:
			v.errorf(rp+".router_config_name", "duplicate router config name %q", name)
		}
		routers[name] = true
		v.routerConfig(&s.Routers[ri], rp)
	}
	for li := range s.Listeners {
		v.listener(&s.Listeners[li], fmt.Sprintf("%s.listeners[%d]", sp, li), routers, names, addrs)
	}
}

func (v *validator) listener(l *Listener, lp string, routers map[string]bool, names, addrs map[string]string) {
	addrOK := true
	network := strings.ToLower(l.Network)
	if network == "" {
		network = "tcp" // Validate does not rely on ApplyDefaults having run
	}
	switch network {
	case "tcp":
		if err := checkHostPort(l.Address, true); err != "" {
			v.errorf(lp+".address", "invalid address %q: %s", l.Address, err)
			addrOK = false
		}
	case "unix":
		if l.Address == "" {
			v.errorf(lp+".address", "required (a socket path for network unix)")
			addrOK = false
		}
	case "udp":
		v.errorf(lp+".network", `network "udp" is not supported yet (supported: tcp, unix)`)
		addrOK = false
	default:
		v.errorf(lp+".network", "unknown network %q (supported: tcp, unix)", l.Network)
		addrOK = false
	}
	if addrOK {
		if key, ok := listenKey(network, l.Address); ok {
			if prev, dup := addrs[key]; dup {
				v.errorf(lp+".address", "address %q is already used by %s", l.Address, prev)
			} else {
				addrs[key] = lp
			}
		}
	}
	// An unnamed listener is named after its address; two unnamed port-0
	// listeners share that name legitimately, and a real address clash is
	// already reported above.
	if l.Name != "" {
		if prev, dup := names[l.Name]; dup && l.Name != l.Address {
			v.errorf(lp+".name", "duplicate listener name %q (also %s)", l.Name, prev)
		} else if !dup {
			names[l.Name] = lp
		}
	}
	v.logLevel(l.LogLevel, lp+".log_level")
	v.accessLogs(l, lp)
	switch l.IOModel {
	case "", "goroutine", "netpoll":
	default:
		v.errorf(lp+".io_model", "unknown io model %q (goroutine or netpoll)", l.IOModel)
	}
	if l.MaxConnections < 0 {
		v.errorf(lp+".max_connections", "must not be negative")
	}
	v.checkHTTP2Listener(l, lp)
	switch len(l.FilterChains) {
	case 0:
		v.errorf(lp+".filter_chains", "required: one filter chain with a proxy or tcp_proxy filter")
	case 1:
		fp := lp + ".filter_chains[0]"
		v.listenerTLS(l, &l.FilterChains[0], fp, chainALPN(&l.FilterChains[0]))
		v.filterChain(&l.FilterChains[0], fp, routers)
	default:
		v.errorf(lp+".filter_chains", "multiple filter chains are not supported yet (got %d)", len(l.FilterChains))
	}
	for i, f := range l.StreamFilters {
		path := fmt.Sprintf("%s.stream_filters[%d]", lp, i)
		switch {
		case f.Type == StreamFilterFault:
			c, errs := decodeFault(f, path)
			v.add(errs...)
			if c != nil && c.UpstreamCluster != "" && !v.clusters[c.UpstreamCluster] {
				v.errorf(path+".config.upstream_cluster", "unknown cluster %q", c.UpstreamCluster)
			}
		case f.Type == StreamFilterFlowControl:
			_, errs := decodeFlowControl(f, path)
			v.add(errs...)
		case IsIgnoredStreamFilter(f.Type), streamFilterTypes[f.Type]:
			// A registered type checks its own config when it is built.
		default:
			v.errorf(path+".type", "stream filter %q is not supported yet (supported: %s)", f.Type, strings.Join(StreamFilterTypes(), ", "))
		}
	}
	for i, f := range l.ListenerFilters {
		v.errorf(fmt.Sprintf("%s.listener_filters[%d].type", lp, i), "listener filter %q is not supported yet", f.Type)
	}
}

// listenKey normalises a listen address so that exact duplicates compare
// equal ("127.0.0.1:80" and "127.000.0.1:80" would not parse; "::1" and
// "0:0::1" do). Port 0 asks the kernel for a free port and never clashes.
func listenKey(network, addr string) (string, bool) {
	if network == "unix" {
		return "unix:" + addr, true
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return "", false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else {
		host = strings.ToLower(host)
	}
	return network + ":" + net.JoinHostPort(host, strconv.Itoa(p)), true
}

func (v *validator) filterChain(fc *FilterChain, fp string, routers map[string]bool) {
	if len(fc.Filters) == 0 {
		v.errorf(fp+".filters", "required: a proxy or tcp_proxy filter")
		return
	}
	terminal := ""
	for i := range fc.Filters {
		f := fc.Filters[i]
		path := fmt.Sprintf("%s.filters[%d]", fp, i)
		switch f.Type {
		case FilterProxy:
			p, _, errs := decodeProxy(f, path)
			v.add(errs...)
			if p != nil {
				v.proxy(p, configPath(path), routers)
			}
		case FilterTCPProxy:
			p, _, errs := decodeTCPProxy(f, path)
			v.add(errs...)
			if p != nil {
				v.tcpProxy(p, configPath(path))
			}
		case "":
			v.errorf(path+".type", "required (proxy or tcp_proxy)")
			continue
		default:
			if contains(mosnOnlyNetworkFilters, f.Type) {
				v.errorf(path+".type", "network filter %q is not supported yet (supported: proxy, tcp_proxy)", f.Type)
			} else {
				v.errorf(path+".type", "unknown network filter %q%s", f.Type, suggestName(f.Type, []string{FilterProxy, FilterTCPProxy}))
			}
			continue
		}
		if terminal != "" {
			v.errorf(path+".type", "a filter chain takes one proxy or tcp_proxy filter (already has %s)", terminal)
		}
		terminal = f.Type
	}
}

func (v *validator) proxy(p *ProxyConfig, cp string, routers map[string]bool) {
	if p.DownstreamProtocol == "" {
		v.errorf(cp+".downstream_protocol", "required (one of %s)", strings.Join(supportedProtocols, ", "))
	} else if fe := checkProtocol(p.DownstreamProtocol, cp+".downstream_protocol"); fe != nil {
		v.add(fe)
	} else if fe := checkProtocol(p.UpstreamProtocol, cp+".upstream_protocol"); fe != nil {
		v.add(fe)
	} else if p.UpstreamProtocol != p.DownstreamProtocol && p.UpstreamProtocol != ProtocolAuto && p.DownstreamProtocol != ProtocolAuto &&
		!Convertible(p.DownstreamProtocol, p.UpstreamProtocol) {
		v.errorf(cp+".upstream_protocol", "protocol conversion %s -> %s is not supported yet", p.DownstreamProtocol, p.UpstreamProtocol)
	}
	switch {
	case p.RouterConfigName == "":
		v.errorf(cp+".router_config_name", "required: the name of one of this server's routers[]")
	case !routers[p.RouterConfigName]:
		v.errorf(cp+".router_config_name", "no router config named %q in this server's routers[]", p.RouterConfigName)
	}
}

func (v *validator) tcpProxy(p *TCPProxyConfig, cp string) {
	if p.Cluster == "" && len(p.Routes) == 0 {
		v.errorf(cp+".cluster", "required (or routes[].cluster)")
	}
	if p.Cluster != "" {
		v.clusterRef(p.Cluster, cp+".cluster")
	}
	for i, r := range p.Routes {
		path := fmt.Sprintf("%s.routes[%d].cluster", cp, i)
		if r.Cluster == "" {
			v.errorf(path, "required")
			continue
		}
		v.clusterRef(r.Cluster, path)
	}
}

func (v *validator) clusterRef(name, path string) {
	if !v.clusters[name] {
		v.errorf(path, "no cluster named %q in cluster_manager.clusters", name)
	}
}

func (v *validator) routerConfig(rc *RouterConfiguration, rp string) {
	domains := map[string]string{}
	for vi := range rc.VirtualHosts {
		vh := &rc.VirtualHosts[vi]
		vp := fmt.Sprintf("%s.virtual_hosts[%d]", rp, vi)
		for di, d := range vh.Domains {
			dp := fmt.Sprintf("%s.domains[%d]", vp, di)
			key := strings.ToLower(d)
			if d == "" {
				v.errorf(dp, "empty domain")
				continue
			}
			if prev, dup := domains[key]; dup {
				v.errorf(dp, "domain %q is already used by %s", d, prev)
				continue
			}
			domains[key] = vp
		}
		for i := range vh.Routers {
			v.route(&vh.Routers[i], fmt.Sprintf("%s.routers[%d]", vp, i))
		}
	}
}

func (v *validator) route(r *Router, path string) {
	m := &r.Match
	set := 0
	for _, s := range []string{m.Prefix, m.Path, m.Regex} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		v.errorf(path+".match", "set at most one of prefix, path and regex")
	}
	if m.Regex != "" {
		if _, err := regexp.Compile(m.Regex); err != nil {
			v.errorf(path+".match.regex", "invalid regex %q: %v", m.Regex, regexErr(err))
		}
	}
	for i, h := range m.Headers {
		hp := fmt.Sprintf("%s.match.headers[%d]", path, i)
		if h.Name == "" {
			v.errorf(hp+".name", "required")
		}
		if h.Regex {
			if _, err := regexp.Compile(h.Value); err != nil {
				v.errorf(hp+".value", "invalid regex %q: %v", h.Value, regexErr(err))
			}
		}
	}
	switch {
	case r.Route != nil && r.DirectResponse != nil:
		v.errorf(path, "set route or direct_response, not both")
	case r.DirectResponse != nil:
		if s := r.DirectResponse.StatusCode; s < 100 || s > 599 {
			v.errorf(path+".direct_response.status", "status %d out of range 100-599", s)
		}
	case r.Route != nil:
		v.routeAction(r.Route, path+".route")
	case len(r.Redirect) > 0:
		v.errorf(path+".redirect", "redirect routes are not supported yet")
	default:
		v.errorf(path, "no action: set route.cluster_name, route.weighted_clusters or direct_response")
	}
}

func regexErr(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return string(se.Code) + ": " + se.Expr
	}
	return err.Error()
}

func (v *validator) routeAction(a *RouteAction, path string) {
	if _, err := a.MetadataMatch.Labels(); err != nil {
		v.errorf(path+".metadata_match."+err.(*FieldError).Path, "%s", err.(*FieldError).Msg)
	}
	switch {
	case a.ClusterName != "" && len(a.WeightedClusters) > 0:
		v.errorf(path, "set cluster_name or weighted_clusters, not both")
	case a.ClusterName != "":
		v.clusterRef(a.ClusterName, path+".cluster_name")
	case len(a.WeightedClusters) > 0:
		for i, wc := range a.WeightedClusters {
			wp := fmt.Sprintf("%s.weighted_clusters[%d].cluster", path, i)
			if wc.Cluster.Name == "" {
				v.errorf(wp+".name", "required")
			} else {
				v.clusterRef(wc.Cluster.Name, wp+".name")
			}
			if wc.Cluster.Weight == 0 {
				v.errorf(wp+".weight", "must be greater than 0")
			}
		}
	default:
		v.errorf(path+".cluster_name", "required (or weighted_clusters)")
	}
}

// Cluster kinds and balancers MOSN has that mosnctl does not implement yet.
var (
	supportedLBTypes = []string{LBRoundRobin, LBRandom, LBWeightedRoundRobin, LBLeastRequest}
	mosnOnlyLBTypes  = []string{"LB_ORIGINAL_DST", "LB_MAGLEV", "LB_REQUEST_ROUNDROBIN", "LB_LEAST_CONNECTION", "LB_PEAK_EWMA"}
	mosnOnlyClusters = []string{"STATIC", "DYNAMIC", "EDS", "ORIGINAL_DST", "STRICT_DNS"}
)

func (v *validator) clusterManager() {
	v.tlsManager(v.c.ClusterManager.TLSContext, "cluster_manager.tls_context")
	for i := range v.c.ClusterManager.Clusters {
		cl := &v.c.ClusterManager.Clusters[i]
		cp := fmt.Sprintf("cluster_manager.clusters[%d]", i)
		switch {
		case cl.Name == "":
			v.errorf(cp+".name", "required")
		case v.clusters[cl.Name]:
			v.errorf(cp+".name", "duplicate cluster name %q", cl.Name)
		}
		v.clusters[cl.Name] = true
		switch {
		case cl.Type == "" || cl.Type == "SIMPLE":
		case contains(mosnOnlyClusters, cl.Type):
			v.errorf(cp+".type", "cluster type %q is not supported yet (supported: SIMPLE)", cl.Type)
		default:
			v.errorf(cp+".type", "unknown cluster type %q (supported: SIMPLE)", cl.Type)
		}
		supported := "(supported: " + strings.Join(supportedLBTypes, ", ") + ")"
		switch {
		case cl.LbType == "" || contains(supportedLBTypes, cl.LbType):
		case contains(mosnOnlyLBTypes, cl.LbType):
			v.errorf(cp+".lb_type", "load balancer %q is not supported yet %s", cl.LbType, supported)
		default:
			v.errorf(cp+".lb_type", "unknown load balancer %q%s %s", cl.LbType,
				suggestName(cl.LbType, append(append([]string(nil), supportedLBTypes...), mosnOnlyLBTypes...)), supported)
		}
		if cl.TLSContext.Enabled() {
			v.tlsContext(cl.TLSContext, cp+".tls_context", tlsCluster, clusterALPN)
		}
		v.add(checkResilience(cl, cp)...)
		if cl.MaxConnections < 0 {
			v.errorf(cp+".max_connections", "must not be negative")
		}
		for hi, h := range cl.Hosts {
			hp := fmt.Sprintf("%s.hosts[%d]", cp, hi)
			if err := checkHostPort(h.Address, false); err != "" {
				v.errorf(hp+".address", "invalid address %q: %s", h.Address, err)
			}
			// 0 is an absent weight: ApplyDefaults makes it the default.
			if h.Weight > maxHostWeight {
				v.errorf(hp+".weight", "weight %d out of range %d-%d (omit it for the default, %d)",
					h.Weight, minHostWeight, maxHostWeight, defaultHostWeight)
			}
		}
	}
}

// checkHostPort checks "host:port" and returns what is wrong, or "". A
// listener may leave the host empty (all interfaces) and use port 0 (any
// free port); an upstream host may not.
func checkHostPort(addr string, listen bool) string {
	if addr == "" {
		return "required (host:port)"
	}
	if !strings.Contains(addr, ":") {
		return "missing port"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "want host:port (an IPv6 address in brackets)"
	}
	if port == "" {
		return "missing port"
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Sprintf("invalid port %q (want 0-65535)", port)
	}
	if p == 0 && !listen {
		return "port 0 is not a valid upstream port"
	}
	if host == "" {
		if listen {
			return ""
		}
		return "missing host"
	}
	if !validHost(host) {
		return fmt.Sprintf("invalid host %q: want an IP address or host name", host)
	}
	return ""
}

// validHost accepts an IP address (with an optional IPv6 zone) or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 || strings.ContainsAny(h, ":%") {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
				return false
			}
		}
	}
	// All-numeric dotted names are malformed IPs, not host names.
	return strings.Trim(h, "0123456789.") != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggestName returns ` (did you mean "x"?)` for the closest of names.
func suggestName(s string, names []string) string {
	fields := make([]structField, len(names))
	for i, n := range names {
		fields[i] = structField{name: n}
	}
	return suggest(s, fields)
}
