package xds

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mosnctl/mosnctl/internal/config"
)

// Type URLs of the four resource types mosnctl subscribes to.
const (
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

	hcmType      = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	tcpProxyType = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
	routerType   = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
)

// ResourceError is why a resource cannot be honoured: it becomes the
// error_detail of a NACK.
type ResourceError struct {
	Kind  string // listener, route_configuration, cluster, cluster_load_assignment
	Name  string
	Field string // path inside the resource, e.g. "filter_chains[0].filters[1]"
	Msg   string
}

func (e *ResourceError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s %q: %s", e.Kind, e.Name, e.Msg)
	}
	return fmt.Sprintf("%s %q: %s: %s", e.Kind, e.Name, e.Field, e.Msg)
}

// fieldErr is an error at a path inside a resource; the resource's
// translate function turns it into a ResourceError.
type fieldErr struct{ path, msg string }

func (e *fieldErr) Error() string { return e.path + ": " + e.msg }

func errAt(path, format string, args ...any) error {
	return &fieldErr{path: path, msg: fmt.Sprintf(format, args...)}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func resourceErr(kind, name string, err error) error {
	if fe, ok := err.(*fieldErr); ok {
		return &ResourceError{Kind: kind, Name: name, Field: fe.path, Msg: fe.msg}
	}
	return &ResourceError{Kind: kind, Name: name, Msg: err.Error()}
}

// onlyFields refuses any field set in m beyond allowed: a field mosnctl
// does not act on is a NACK, never silently dropped.
func onlyFields(m proto.Message, path string, allowed ...string) error {
	var bad string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !slices.Contains(allowed, string(fd.Name())) {
			bad = string(fd.Name())
			return false
		}
		return true
	})
	if bad != "" {
		return errAt(join(path, bad), "not supported")
	}
	return nil
}

// Listener is a translated Envoy listener: the listener and the name of
// the route configuration it waits for (RDS), or its inline one.
type Listener struct {
	Config config.Listener
	// RouteName is the RDS route configuration its HTTP connection manager
	// reads; "" for tcp_proxy or an inline route_config.
	RouteName string
	Inline    *config.RouterConfiguration
}

// TranslateListener turns an Envoy Listener into a mosnctl listener.
func TranslateListener(l *listenerv3.Listener) (*Listener, error) {
	out, err := translateListener(l)
	if err != nil {
		return nil, resourceErr("listener", l.GetName(), err)
	}
	return out, nil
}

func translateListener(l *listenerv3.Listener) (*Listener, error) {
	if err := onlyFields(l, "", "name", "address", "filter_chains", "traffic_direction", "stat_prefix", "metadata"); err != nil {
		return nil, err
	}
	if l.GetName() == "" {
		return nil, errAt("name", "required")
	}
	addr, err := socketAddress(l.GetAddress(), "address", true)
	if err != nil {
		return nil, err
	}
	if len(l.GetFilterChains()) != 1 {
		return nil, errAt("filter_chains", "want exactly one filter chain, got %d", len(l.GetFilterChains()))
	}
	fc := l.GetFilterChains()[0]
	const fp = "filter_chains[0]"
	if err := onlyFields(fc, fp, "filters", "name", "filter_chain_match"); err != nil {
		return nil, err
	}
	if m := fc.GetFilterChainMatch(); m != nil && proto.Size(m) > 0 {
		return nil, errAt(fp+".filter_chain_match", "not supported (one chain serves every connection)")
	}
	if len(fc.GetFilters()) != 1 {
		return nil, errAt(fp+".filters", "want one http_connection_manager or tcp_proxy filter, got %d filters", len(fc.GetFilters()))
	}
	f := fc.GetFilters()[0]
	path := fp + ".filters[0]"
	if err := onlyFields(f, path, "name", "typed_config"); err != nil {
		return nil, err
	}
	out := &Listener{Config: config.Listener{Name: l.GetName(), Address: addr}}
	var filter config.Filter
	switch tc := f.GetTypedConfig(); tc.GetTypeUrl() {
	case hcmType:
		hcm := &hcmv3.HttpConnectionManager{}
		if err := tc.UnmarshalTo(hcm); err != nil {
			return nil, errAt(path+".typed_config", "%v", err)
		}
		p, err := translateHCM(hcm, path+".typed_config", out)
		if err != nil {
			return nil, err
		}
		filter = config.Filter{Type: config.FilterProxy, Config: mustJSON(p)}
	case tcpProxyType:
		tp := &tcpv3.TcpProxy{}
		if err := tc.UnmarshalTo(tp); err != nil {
			return nil, errAt(path+".typed_config", "%v", err)
		}
		p, err := translateTCPProxy(tp, path+".typed_config")
		if err != nil {
			return nil, err
		}
		filter = config.Filter{Type: config.FilterTCPProxy, Config: mustJSON(p)}
	case "":
		return nil, errAt(path+".typed_config", "required (http_connection_manager or tcp_proxy)")
	default:
		return nil, errAt(path+".typed_config", "network filter %s (%q) is not supported (supported: http_connection_manager, tcp_proxy)", tc.GetTypeUrl(), f.GetName())
	}
	out.Config.FilterChains = []config.FilterChain{{Filters: []config.Filter{filter}}}
	return out, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and numbers
	}
	return b
}

func translateHCM(h *hcmv3.HttpConnectionManager, path string, out *Listener) (*config.ProxyConfig, error) {
	if err := onlyFields(h, path, "stat_prefix", "codec_type", "rds", "route_config", "http_filters", "normalize_path", "merge_slashes"); err != nil {
		return nil, err
	}
	// Clusters speak HTTP/1.1 (pushed ones carry no HTTP/2 options), so an
	// HTTP2 codec's streams are converted on the way up.
	down := config.ProtocolHTTP1
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO, hcmv3.HttpConnectionManager_HTTP1:
	case hcmv3.HttpConnectionManager_HTTP2:
		down = config.ProtocolHTTP2
	default:
		return nil, errAt(join(path, "codec_type"), "codec %s is not supported yet (AUTO or HTTP1: HTTP/1.1; HTTP2)", h.GetCodecType())
	}
	if err := httpFilters(h.GetHttpFilters(), join(path, "http_filters")); err != nil {
		return nil, err
	}
	p := &config.ProxyConfig{DownstreamProtocol: down, UpstreamProtocol: config.ProtocolHTTP1}
	if v := h.GetNormalizePath(); v != nil {
		b := v.GetValue()
		p.NormalizePath = &b
	}
	if h.GetMergeSlashes() {
		b := true
		p.MergeSlashes = &b
	}
	switch rs := h.GetRouteSpecifier().(type) {
	case *hcmv3.HttpConnectionManager_Rds:
		rp := join(path, "rds")
		if err := onlyFields(rs.Rds, rp, "config_source", "route_config_name"); err != nil {
			return nil, err
		}
		if err := adsSource(rs.Rds.GetConfigSource(), join(rp, "config_source")); err != nil {
			return nil, err
		}
		if rs.Rds.GetRouteConfigName() == "" {
			return nil, errAt(join(rp, "route_config_name"), "required")
		}
		out.RouteName = rs.Rds.GetRouteConfigName()
		p.RouterConfigName = out.RouteName
	case *hcmv3.HttpConnectionManager_RouteConfig:
		rc, err := translateRoute(rs.RouteConfig, join(path, "route_config"))
		if err != nil {
			return nil, err
		}
		// Its own name space: an RDS resource may carry the same name.
		rc.RouterConfigName = "inline:" + out.Config.Name
		out.Inline = rc
		p.RouterConfigName = rc.RouterConfigName
	default:
		return nil, errAt(path, "needs rds or route_config")
	}
	return p, nil
}

func httpFilters(fs []*hcmv3.HttpFilter, path string) error {
	if len(fs) == 0 {
		return errAt(path, "required: the router filter (envoy.filters.http.router)")
	}
	for i, f := range fs {
		fp := fmt.Sprintf("%s[%d]", path, i)
		if err := onlyFields(f, fp, "name", "typed_config"); err != nil {
			return err
		}
		url := f.GetTypedConfig().GetTypeUrl()
		isRouter := url == routerType || url == "" && f.GetName() == "envoy.filters.http.router"
		if !isRouter {
			return errAt(fp, "http filter %q (%s) is not supported (only the router)", f.GetName(), url)
		}
		if url != "" {
			r := &routerv3.Router{}
			if err := f.GetTypedConfig().UnmarshalTo(r); err != nil {
				return errAt(fp+".typed_config", "%v", err)
			}
			if err := onlyFields(r, fp+".typed_config"); err != nil {
				return err
			}
		}
		if i != len(fs)-1 {
			return errAt(fp, "the router filter must be the last http filter")
		}
	}
	return nil
}

// adsSource accepts a config source that is the ADS stream.
func adsSource(cs *corev3.ConfigSource, path string) error {
	if cs == nil {
		return errAt(path, `required: {"ads": {}}`)
	}
	if err := onlyFields(cs, path, "ads", "resource_api_version"); err != nil {
		return err
	}
	if cs.GetAds() == nil {
		return errAt(path, `only {"ads": {}} is supported`)
	}
	if v := cs.GetResourceApiVersion(); v != corev3.ApiVersion_V3 && v != corev3.ApiVersion_AUTO {
		return errAt(join(path, "resource_api_version"), "only V3 is supported")
	}
	return nil
}

func translateTCPProxy(t *tcpv3.TcpProxy, path string) (*config.TCPProxyConfig, error) {
	if err := onlyFields(t, path, "stat_prefix", "cluster", "idle_timeout", "max_connect_attempts"); err != nil {
		return nil, err
	}
	p := &config.TCPProxyConfig{StatPrefix: t.GetStatPrefix(), Cluster: t.GetCluster()}
	if p.Cluster == "" {
		return nil, errAt(join(path, "cluster"), "required")
	}
	if t.IdleTimeout != nil {
		d, err := duration(t.IdleTimeout, join(path, "idle_timeout"))
		if err != nil {
			return nil, err
		}
		p.IdleTimeout = d
	}
	if v := t.GetMaxConnectAttempts(); v != nil {
		if v.GetValue() < 1 {
			return nil, errAt(join(path, "max_connect_attempts"), "must be at least 1")
		}
		p.MaxConnectAttempts = v.GetValue()
	}
	return p, nil
}

func duration(d *durationpb.Duration, path string) (*config.Duration, error) {
	if err := d.CheckValid(); err != nil {
		return nil, errAt(path, "%v", err)
	}
	v := d.AsDuration()
	if v < 0 {
		return nil, errAt(path, "negative duration %v", v)
	}
	return &config.Duration{Duration: v}, nil
}

// socketAddress returns "host:port" of a TCP socket address.
func socketAddress(a *corev3.Address, path string, listen bool) (string, error) {
	if a == nil {
		return "", errAt(path, "required")
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", errAt(path, "only socket_address is supported")
	}
	sp := join(path, "socket_address")
	if err := onlyFields(sa, sp, "address", "port_value", "protocol", "ipv4_compat"); err != nil {
		return "", err
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", errAt(join(sp, "protocol"), "only TCP is supported")
	}
	if sa.GetAddress() == "" && !listen {
		return "", errAt(join(sp, "address"), "required")
	}
	port := sa.GetPortValue()
	if port > 65535 {
		return "", errAt(join(sp, "port_value"), "port %d out of range 0-65535", port)
	}
	if port == 0 && !listen {
		return "", errAt(join(sp, "port_value"), "port 0 is not a valid upstream port")
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(port), 10)), nil
}

// TranslateRoute turns an Envoy RouteConfiguration into a route table.
func TranslateRoute(rc *routev3.RouteConfiguration) (*config.RouterConfiguration, error) {
	out, err := translateRoute(rc, "")
	if err != nil {
		return nil, resourceErr("route_configuration", rc.GetName(), err)
	}
	return out, nil
}

func translateRoute(rc *routev3.RouteConfiguration, path string) (*config.RouterConfiguration, error) {
	if err := onlyFields(rc, path, "name", "virtual_hosts", "validate_clusters"); err != nil {
		return nil, err
	}
	out := &config.RouterConfiguration{RouterConfigName: rc.GetName()}
	for i, vh := range rc.GetVirtualHosts() {
		vp := join(path, fmt.Sprintf("virtual_hosts[%d]", i))
		if err := onlyFields(vh, vp, "name", "domains", "routes"); err != nil {
			return nil, err
		}
		if len(vh.GetDomains()) == 0 {
			return nil, errAt(join(vp, "domains"), "required")
		}
		v := config.VirtualHost{Name: vh.GetName(), Domains: slices.Clone(vh.GetDomains())}
		for j, r := range vh.GetRoutes() {
			cr, err := translateRouteEntry(r, join(vp, fmt.Sprintf("routes[%d]", j)))
			if err != nil {
				return nil, err
			}
			v.Routers = append(v.Routers, cr)
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	return out, nil
}

func translateRouteEntry(r *routev3.Route, path string) (config.Router, error) {
	var out config.Router
	if err := onlyFields(r, path, "name", "match", "route", "direct_response"); err != nil {
		return out, err
	}
	m, err := translateMatch(r.GetMatch(), join(path, "match"))
	if err != nil {
		return out, err
	}
	out.Match = m
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		ra, err := translateAction(a.Route, join(path, "route"))
		if err != nil {
			return out, err
		}
		out.Route = ra
	case *routev3.Route_DirectResponse:
		dp := join(path, "direct_response")
		if err := onlyFields(a.DirectResponse, dp, "status", "body"); err != nil {
			return out, err
		}
		d := &config.DirectResponse{StatusCode: int(a.DirectResponse.GetStatus())}
		if s := d.StatusCode; s < 100 || s > 599 {
			return out, errAt(join(dp, "status"), "status %d out of range 100-599", a.DirectResponse.GetStatus())
		}
		if b := a.DirectResponse.GetBody(); b != nil {
			switch {
			case b.GetInlineString() != "":
				d.Body = b.GetInlineString()
			case len(b.GetInlineBytes()) > 0:
				d.Body = string(b.GetInlineBytes())
			case b.GetSpecifier() != nil:
				return out, errAt(join(dp, "body"), "only inline_string and inline_bytes are supported")
			}
		}
		out.DirectResponse = d
	default:
		return out, errAt(path, "needs route or direct_response")
	}
	return out, nil
}

func translateMatch(m *routev3.RouteMatch, path string) (config.RouterMatch, error) {
	var out config.RouterMatch
	if m == nil {
		return out, errAt(path, "required")
	}
	if err := onlyFields(m, path, "prefix", "path", "safe_regex", "case_sensitive", "headers"); err != nil {
		return out, err
	}
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.Prefix = ps.Prefix
		if out.Prefix == "" {
			out.Prefix = "/" // Envoy's "" prefix matches every path
		}
	case *routev3.RouteMatch_Path:
		if ps.Path == "" {
			return out, errAt(join(path, "path"), "empty path")
		}
		out.Path = ps.Path
	case *routev3.RouteMatch_SafeRegex:
		re, err := regex(ps.SafeRegex, join(path, "safe_regex"))
		if err != nil {
			return out, err
		}
		out.Regex = re
	default:
		return out, errAt(path, "needs prefix, path or safe_regex")
	}
	if cs := m.GetCaseSensitive(); cs != nil {
		b := cs.GetValue()
		out.CaseSensitive = &b
	}
	for i, h := range m.GetHeaders() {
		hm, err := headerMatcher(h, join(path, fmt.Sprintf("headers[%d]", i)))
		if err != nil {
			return out, err
		}
		out.Headers = append(out.Headers, hm)
	}
	return out, nil
}

// regex checks an RE2 regex compiles in Go's RE2 dialect.
func regex(m *matcherv3.RegexMatcher, path string) (string, error) {
	if err := onlyFields(m, path, "regex", "google_re2"); err != nil {
		return "", err
	}
	if m.GetRegex() == "" {
		return "", errAt(join(path, "regex"), "empty regex")
	}
	if _, err := regexp.Compile(m.GetRegex()); err != nil {
		return "", errAt(join(path, "regex"), "invalid regex %q: %v", m.GetRegex(), err)
	}
	return m.GetRegex(), nil
}

// headerMatcher maps both of Envoy's forms (the legacy *_match fields and
// string_match) onto exact or whole-value regex matchers.
func headerMatcher(h *routev3.HeaderMatcher, path string) (config.HeaderMatcher, error) {
	out := config.HeaderMatcher{Name: strings.ToLower(h.GetName())}
	if err := onlyFields(h, path, "name", "exact_match", "safe_regex_match", "present_match", "prefix_match", "suffix_match", "contains_match", "string_match"); err != nil {
		return out, err
	}
	switch {
	case out.Name == "":
		return out, errAt(join(path, "name"), "required")
	case out.Name == ":authority":
		out.Name = "host"
	case out.Name == ":method":
	case strings.HasPrefix(out.Name, ":"):
		return out, errAt(join(path, "name"), "pseudo-header %q is not supported (:authority and :method are)", out.Name)
	}
	quoted := func(kind, v string, ignoreCase bool) {
		flags := ""
		if ignoreCase {
			flags = "(?i)"
		}
		switch q := regexp.QuoteMeta(v); kind {
		case "exact":
			out.Value, out.Regex = flags+q, true
		case "prefix":
			out.Value, out.Regex = flags+q+".*", true
		case "suffix":
			out.Value, out.Regex = flags+".*"+q, true
		case "contains":
			out.Value, out.Regex = flags+".*"+q+".*", true
		}
	}
	switch hs := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_ExactMatch:
		out.Value = hs.ExactMatch
	case *routev3.HeaderMatcher_SafeRegexMatch:
		re, err := regex(hs.SafeRegexMatch, join(path, "safe_regex_match"))
		if err != nil {
			return out, err
		}
		out.Value, out.Regex = re, true
	case *routev3.HeaderMatcher_PresentMatch:
		if !hs.PresentMatch {
			return out, errAt(join(path, "present_match"), "false (absence) is not supported")
		}
		out.Value, out.Regex = ".*", true
	case *routev3.HeaderMatcher_PrefixMatch:
		quoted("prefix", hs.PrefixMatch, false)
	case *routev3.HeaderMatcher_SuffixMatch:
		quoted("suffix", hs.SuffixMatch, false)
	case *routev3.HeaderMatcher_ContainsMatch:
		quoted("contains", hs.ContainsMatch, false)
	case *routev3.HeaderMatcher_StringMatch:
		sp := join(path, "string_match")
		sm := hs.StringMatch
		if err := onlyFields(sm, sp, "exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"); err != nil {
			return out, err
		}
		ic := sm.GetIgnoreCase()
		switch p := sm.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			if ic {
				quoted("exact", p.Exact, true)
			} else {
				out.Value = p.Exact
			}
		case *matcherv3.StringMatcher_Prefix:
			quoted("prefix", p.Prefix, ic)
		case *matcherv3.StringMatcher_Suffix:
			quoted("suffix", p.Suffix, ic)
		case *matcherv3.StringMatcher_Contains:
			quoted("contains", p.Contains, ic)
		case *matcherv3.StringMatcher_SafeRegex:
			if ic {
				return out, errAt(join(sp, "ignore_case"), "not supported with safe_regex (use (?i) in the regex)")
			}
			re, err := regex(p.SafeRegex, join(sp, "safe_regex"))
			if err != nil {
				return out, err
			}
			out.Value, out.Regex = re, true
		default:
			return out, errAt(sp, "needs exact, prefix, suffix, contains or safe_regex")
		}
	default:
		return out, errAt(path, "needs a match: exact_match, safe_regex_match, present_match, prefix_match, suffix_match, contains_match or string_match")
	}
	return out, nil
}

// retryOn lists the retry_on conditions the proxy's retries cover:
// connection failures and resets before a response began.
func translateAction(a *routev3.RouteAction, path string) (*config.RouteAction, error) {
	if err := onlyFields(a, path, "cluster", "weighted_clusters", "timeout", "idle_timeout", "retry_policy", "prefix_rewrite", "host_rewrite_literal"); err != nil {
		return nil, err
	}
	out := &config.RouteAction{PrefixRewrite: a.GetPrefixRewrite(), HostRewrite: a.GetHostRewriteLiteral()}
	switch cs := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		if cs.Cluster == "" {
			return nil, errAt(join(path, "cluster"), "empty cluster name")
		}
		out.ClusterName = cs.Cluster
	case *routev3.RouteAction_WeightedClusters:
		wp := join(path, "weighted_clusters")
		if err := onlyFields(cs.WeightedClusters, wp, "clusters"); err != nil {
			return nil, err
		}
		for i, c := range cs.WeightedClusters.GetClusters() {
			cp := join(wp, fmt.Sprintf("clusters[%d]", i))
			if err := onlyFields(c, cp, "name", "weight"); err != nil {
				return nil, err
			}
			if c.GetName() == "" {
				return nil, errAt(join(cp, "name"), "required")
			}
			if c.GetWeight().GetValue() == 0 {
				return nil, errAt(join(cp, "weight"), "must be greater than 0")
			}
			out.WeightedClusters = append(out.WeightedClusters, config.WeightedCluster{
				Cluster: config.ClusterWeight{Name: c.GetName(), Weight: c.GetWeight().GetValue()}})
		}
		if len(out.WeightedClusters) == 0 {
			return nil, errAt(join(wp, "clusters"), "required")
		}
	default:
		return nil, errAt(path, "needs cluster or weighted_clusters")
	}
	var err error
	if a.Timeout != nil {
		if out.Timeout, err = duration(a.Timeout, join(path, "timeout")); err != nil {
			return nil, err
		}
	}
	if a.IdleTimeout != nil {
		if out.IdleTimeout, err = duration(a.IdleTimeout, join(path, "idle_timeout")); err != nil {
			return nil, err
		}
	}
	if rp := a.GetRetryPolicy(); rp != nil {
		pp := join(path, "retry_policy")
		if err := onlyFields(rp, pp, "retry_on", "num_retries", "per_try_timeout", "retriable_status_codes"); err != nil {
			return nil, err
		}
		p := &config.RetryPolicy{NumRetries: 1}
		if err := p.RetryOn.Parse(rp.GetRetryOn()); err != nil {
			return nil, errAt(join(pp, "retry_on"), "%v", err)
		}
		for _, c := range rp.GetRetriableStatusCodes() {
			p.RetriableStatusCodes = append(p.RetriableStatusCodes, int(c))
		}
		if n := rp.GetNumRetries(); n != nil {
			p.NumRetries = n.GetValue()
		}
		if rp.PerTryTimeout != nil {
			if p.RetryTimeout, err = duration(rp.PerTryTimeout, join(pp, "per_try_timeout")); err != nil {
				return nil, err
			}
		}
		out.RetryPolicy = p
	}
	return out, nil
}

// Cluster is a translated Envoy cluster. An EDS cluster's hosts come from
// the ClusterLoadAssignment named EDSName.
type Cluster struct {
	Config  config.Cluster
	EDS     bool
	EDSName string
	// weightedRR: the Envoy policy is ROUND_ROBIN, which weighs hosts; the
	// model's weighted balancer is picked once the hosts' weights are known.
	roundRobin bool
}

var lbPolicies = map[clusterv3.Cluster_LbPolicy]string{
	clusterv3.Cluster_ROUND_ROBIN:   config.LBRoundRobin,
	clusterv3.Cluster_LEAST_REQUEST: config.LBLeastRequest,
	clusterv3.Cluster_RANDOM:        config.LBRandom,
}

// TranslateCluster turns an Envoy Cluster into a mosnctl cluster.
func TranslateCluster(c *clusterv3.Cluster) (*Cluster, error) {
	out, err := translateCluster(c, false)
	if err != nil {
		return nil, resourceErr("cluster", c.GetName(), err)
	}
	return out, nil
}

func translateCluster(c *clusterv3.Cluster, h2ok bool) (*Cluster, error) {
	allowed := []string{"name", "type", "eds_cluster_config", "connect_timeout", "lb_policy", "load_assignment"}
	if h2ok { // the xDS server's own cluster: gRPC is HTTP/2 anyway
		allowed = append(allowed, "http2_protocol_options", "typed_extension_protocol_options")
	}
	if err := onlyFields(c, "", allowed...); err != nil {
		return nil, err
	}
	if c.GetName() == "" {
		return nil, errAt("name", "required")
	}
	out := &Cluster{Config: config.Cluster{Name: c.GetName(), Type: "SIMPLE"}}
	lb, ok := lbPolicies[c.GetLbPolicy()]
	if !ok {
		name, known := clusterv3.Cluster_LbPolicy_name[int32(c.GetLbPolicy())]
		if !known {
			return nil, errAt("lb_policy", "unknown lb policy %d (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM)", c.GetLbPolicy())
		}
		return nil, errAt("lb_policy", "lb policy %s is not supported (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM)", name)
	}
	out.Config.LbType = lb
	out.roundRobin = c.GetLbPolicy() == clusterv3.Cluster_ROUND_ROBIN
	if c.ConnectTimeout != nil {
		d, err := duration(c.ConnectTimeout, "connect_timeout")
		if err != nil {
			return nil, err
		}
		if d.Duration == 0 {
			return nil, errAt("connect_timeout", "must be greater than 0")
		}
		out.Config.ConnectTimeout = d
	}
	if _, custom := c.GetClusterDiscoveryType().(*clusterv3.Cluster_ClusterType); custom {
		return nil, errAt("cluster_type", "custom cluster types are not supported (STATIC, STRICT_DNS, EDS)")
	}
	switch t := c.GetType(); t {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS:
		if c.EdsClusterConfig != nil {
			return nil, errAt("eds_cluster_config", "only for type EDS")
		}
		// STRICT_DNS hosts keep their names; the dialer resolves them on
		// every new connection.
		hosts, err := translateHosts(c.GetLoadAssignment(), "load_assignment", t == clusterv3.Cluster_STRICT_DNS)
		if err != nil {
			return nil, err
		}
		out.Config.Hosts = hosts
	case clusterv3.Cluster_EDS:
		if c.LoadAssignment != nil {
			return nil, errAt("load_assignment", "not used by an EDS cluster: endpoints come from EDS")
		}
		ep := "eds_cluster_config"
		ec := c.GetEdsClusterConfig()
		if ec == nil {
			return nil, errAt(ep, "required for type EDS")
		}
		if err := onlyFields(ec, ep, "eds_config", "service_name"); err != nil {
			return nil, err
		}
		if err := adsSource(ec.GetEdsConfig(), join(ep, "eds_config")); err != nil {
			return nil, err
		}
		out.EDS, out.EDSName = true, ec.GetServiceName()
		if out.EDSName == "" {
			out.EDSName = c.GetName()
		}
	default:
		return nil, errAt("type", "cluster type %s is not supported (STATIC, STRICT_DNS, EDS)", t)
	}
	return out, nil
}

// TranslateEndpoints turns a ClusterLoadAssignment into hosts: healthy and
// unknown endpoints; degraded ones only when no endpoint is healthy.
func TranslateEndpoints(cla *endpointv3.ClusterLoadAssignment) ([]config.Host, error) {
	if err := onlyFields(cla, "", "cluster_name", "endpoints"); err != nil {
		return nil, resourceErr("cluster_load_assignment", cla.GetClusterName(), err)
	}
	hosts, err := translateHosts(cla, "", false)
	if err != nil {
		return nil, resourceErr("cluster_load_assignment", cla.GetClusterName(), err)
	}
	return hosts, nil
}

func translateHosts(cla *endpointv3.ClusterLoadAssignment, path string, names bool) ([]config.Host, error) {
	if cla == nil {
		return nil, nil
	}
	if path != "" {
		if err := onlyFields(cla, path, "cluster_name", "endpoints"); err != nil {
			return nil, err
		}
	}
	var healthy, degraded []config.Host
	for i, le := range cla.GetEndpoints() {
		lp := join(path, fmt.Sprintf("endpoints[%d]", i))
		if err := onlyFields(le, lp, "locality", "lb_endpoints", "load_balancing_weight"); err != nil {
			return nil, err
		}
		if le.LoadBalancingWeight != nil && len(cla.GetEndpoints()) > 1 {
			return nil, errAt(join(lp, "load_balancing_weight"), "locality weights are not supported")
		}
		for j, e := range le.GetLbEndpoints() {
			ep := join(lp, fmt.Sprintf("lb_endpoints[%d]", j))
			if err := onlyFields(e, ep, "endpoint", "health_status", "load_balancing_weight", "metadata"); err != nil {
				return nil, err
			}
			end := e.GetEndpoint()
			if end == nil {
				return nil, errAt(join(ep, "endpoint"), "required")
			}
			if err := onlyFields(end, join(ep, "endpoint"), "address", "hostname"); err != nil {
				return nil, err
			}
			addr, err := socketAddress(end.GetAddress(), join(ep, "endpoint.address"), false)
			if err != nil {
				return nil, err
			}
			host, _, _ := net.SplitHostPort(addr)
			if _, ipErr := parseIP(host); ipErr != nil && !names {
				return nil, errAt(join(ep, "endpoint.address.socket_address.address"), "%q is not an IP address (names need a STRICT_DNS cluster)", host)
			}
			h := config.Host{Address: addr, Hostname: end.GetHostname()}
			if w := e.GetLoadBalancingWeight(); w != nil {
				if w.GetValue() == 0 {
					return nil, errAt(join(ep, "load_balancing_weight"), "must be at least 1")
				}
				h.Weight = w.GetValue()
			}
			if md := e.GetMetadata(); md != nil {
				if err := onlyFields(md, join(ep, "metadata"), "filter_metadata"); err != nil {
					return nil, err
				}
				h.Metadata = map[string]any{}
				for k, s := range md.GetFilterMetadata() {
					h.Metadata[k] = s.AsMap()
				}
			}
			switch e.GetHealthStatus() {
			case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY:
				healthy = append(healthy, h)
			case corev3.HealthStatus_DEGRADED:
				degraded = append(degraded, h)
			case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
			default:
				return nil, errAt(join(ep, "health_status"), "unknown health status %d", e.GetHealthStatus())
			}
		}
	}
	if len(healthy) == 0 {
		return degraded, nil
	}
	return healthy, nil
}

func parseIP(s string) (net.IP, error) {
	if ip := net.ParseIP(s); ip != nil {
		return ip, nil
	}
	return nil, fmt.Errorf("not an IP")
}

// unpack decodes an Any of the expected type.
func unpack(a *anypb.Any, typeURL string, m proto.Message) error {
	if a.GetTypeUrl() != typeURL {
		return fmt.Errorf("resource of type %s in a %s response", a.GetTypeUrl(), typeURL)
	}
	return a.UnmarshalTo(m)
}
