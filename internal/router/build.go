package router

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/mosnctl/mosnctl/internal/config"
)

// New compiles a router configuration into a Table. Every error names the
// offending field by its path inside the router configuration (for example
// `virtual_hosts[0].routers[2].match.regex`), so the caller only prefixes where
// the router configuration itself sits.
func New(cfg *config.RouterConfiguration) (*Table, error) {
	if cfg == nil {
		return nil, errors.New("router: nil router configuration")
	}
	t := &Table{
		name:  cfg.RouterConfigName,
		exact: make(map[string]*virtualHost),
	}
	if err := checkHeaderEdits("", cfg.RequestHeadersToAdd, cfg.ResponseHeadersToAdd,
		cfg.RequestHeadersToRemove, cfg.ResponseHeadersToRemove); err != nil {
		return nil, err
	}
	// domain -> where it was first seen, to name both places on a duplicate.
	seen := make(map[string]string)
	for i := range cfg.VirtualHosts {
		vc := &cfg.VirtualHosts[i]
		vpath := fmt.Sprintf("virtual_hosts[%d]", i)
		vh, err := buildVirtualHost(cfg, vc, vpath)
		if err != nil {
			return nil, err
		}
		// A virtual host without domains is unreachable; MOSN accepts it
		// silently, and so do we, so that MOSN configs load unchanged.
		for j, d := range vc.Domains {
			dpath := fmt.Sprintf("%s.domains[%d]", vpath, j)
			if err := t.addDomain(d, vh, dpath, seen); err != nil {
				return nil, err
			}
		}
	}
	byLenDesc := func(w []wildcardDomain) func(a, b int) bool {
		return func(a, b int) bool { return len(w[a].part) > len(w[b].part) }
	}
	sort.SliceStable(t.suffixes, byLenDesc(t.suffixes))
	sort.SliceStable(t.prefixes, byLenDesc(t.prefixes))
	t.onlyFallback = len(t.exact) == 0 && len(t.suffixes) == 0 && len(t.prefixes) == 0
	return t, nil
}

func (t *Table) addDomain(d string, vh *virtualHost, dpath string, seen map[string]string) error {
	if d == "" {
		return fmt.Errorf("%s: empty domain", dpath)
	}
	d = strings.ToLower(d)
	if prev, dup := seen[d]; dup {
		return fmt.Errorf("%s: domain %q is already used by %s", dpath, d, prev)
	}
	seen[d] = dpath
	switch stars := strings.Count(d, "*"); {
	case d == "*":
		t.fallback = vh
	case stars == 0:
		t.exact[d] = vh
		if len(stripPort([]byte(d))) != len(d) {
			t.exactWithPort = true
		}
	case stars == 1 && d[0] == '*':
		t.suffixes = append(t.suffixes, wildcardDomain{part: d[1:], vh: vh})
	case stars == 1 && d[len(d)-1] == '*':
		t.prefixes = append(t.prefixes, wildcardDomain{part: d[:len(d)-1], vh: vh})
	default:
		return fmt.Errorf("%s: %q: a wildcard is allowed only as the first or the last character (\"*.example.com\", \"api.*\", \"*\")", dpath, d)
	}
	return nil
}

func buildVirtualHost(cfg *config.RouterConfiguration, vc *config.VirtualHost, vpath string) (*virtualHost, error) {
	if err := checkHeaderEdits(vpath+".", vc.RequestHeadersToAdd, vc.ResponseHeadersToAdd,
		vc.RequestHeadersToRemove, vc.ResponseHeadersToRemove); err != nil {
		return nil, err
	}
	vh := &virtualHost{name: vc.Name, routes: make([]compiledRoute, 0, len(vc.Routers))}
	for j := range vc.Routers {
		rpath := fmt.Sprintf("%s.routers[%d]", vpath, j)
		r, err := buildRoute(cfg, vc, &vc.Routers[j], rpath)
		if err != nil {
			return nil, err
		}
		vh.routes = append(vh.routes, r)
	}
	return vh, nil
}

func buildRoute(cfg *config.RouterConfiguration, vc *config.VirtualHost, rc *config.Router, rpath string) (compiledRoute, error) {
	var r compiledRoute
	m := &rc.Match
	rules := 0
	for _, s := range []string{m.Prefix, m.Path, m.Regex} {
		if s != "" {
			rules++
		}
	}
	if rules > 1 {
		return r, fmt.Errorf("%s.match: prefix, path and regex are exclusive: set one of them", rpath)
	}
	r.caseInsensitive = m.CaseSensitive != nil && !*m.CaseSensitive
	switch {
	case m.Prefix != "":
		r.kind, r.pattern = pathPrefix, m.Prefix
	case m.Path != "":
		r.kind, r.pattern = pathExact, m.Path
	case m.Regex != "":
		r.kind = pathRegex
		re, err := compileWhole(m.Regex, r.caseInsensitive)
		if err != nil {
			return r, fmt.Errorf("%s.match.regex: invalid regex %q: %v", rpath, m.Regex, err)
		}
		r.re = re
	}
	sofa := r.kind == pathAny && len(m.Headers) == 1 && m.Headers[0].Name == sofaServiceKey &&
		!m.Headers[0].Regex && m.Headers[0].Value != ""
	for k, h := range m.Headers {
		hm, err := compileHeader(h, sofa, fmt.Sprintf("%s.match.headers[%d]", rpath, k))
		if err != nil {
			return r, err
		}
		r.headers = append(r.headers, hm)
	}

	r.route.VirtualHost = vc.Name
	switch {
	case rc.DirectResponse != nil && rc.Route != nil:
		return r, fmt.Errorf("%s: route and direct_response are exclusive: set one of them", rpath)
	case rc.DirectResponse != nil:
		d := rc.DirectResponse
		if d.StatusCode < 100 || d.StatusCode > 599 {
			return r, fmt.Errorf("%s.direct_response.status: %d is not an HTTP status (100-599)", rpath, d.StatusCode)
		}
		r.route.Direct = &DirectResponse{Status: d.StatusCode}
		if d.Body != "" {
			r.route.Direct.Body = []byte(d.Body)
		}
	case rc.Route != nil:
		if err := buildAction(&r, rc.Route, rpath+".route"); err != nil {
			return r, err
		}
	default:
		msg := "needs a route or a direct_response"
		if len(rc.Redirect) > 0 {
			msg += " (redirect is not supported yet)"
		}
		return r, fmt.Errorf("%s: %s", rpath, msg)
	}

	ra := rc.Route
	if ra == nil {
		ra = &config.RouteAction{}
	} else if err := checkHeaderEdits(rpath+".route.", ra.RequestHeadersToAdd, ra.ResponseHeadersToAdd,
		ra.RequestHeadersToRemove, ra.ResponseHeadersToRemove); err != nil {
		return r, err
	}
	r.route.RequestHeadersToAdd = mergeHeadersToAdd(ra.RequestHeadersToAdd, vc.RequestHeadersToAdd, cfg.RequestHeadersToAdd)
	r.route.ResponseHeadersToAdd = mergeHeadersToAdd(ra.ResponseHeadersToAdd, vc.ResponseHeadersToAdd, cfg.ResponseHeadersToAdd)
	r.route.RequestHeadersToRemove = mergeHeadersToRemove(ra.RequestHeadersToRemove,
		vc.RequestHeadersToRemove, cfg.RequestHeadersToRemove)
	r.route.ResponseHeadersToRemove = mergeHeadersToRemove(ra.ResponseHeadersToRemove,
		vc.ResponseHeadersToRemove, cfg.ResponseHeadersToRemove)
	return r, nil
}

// compileHeader compiles one header matcher; sofa applies MOSN's RPC rule
// (see headerKind). hpath is the matcher's path in the config.
func compileHeader(h config.HeaderMatcher, sofa bool, hpath string) (headerMatcher, error) {
	if h.Name == "" {
		return headerMatcher{}, fmt.Errorf("%s.name: empty header name", hpath)
	}
	hm := headerMatcher{name: h.Name, kind: headerExact, value: h.Value,
		method: h.Name == "method" || h.Name == ":method"}
	switch {
	case h.Regex && h.Value == ".*":
		hm.kind = headerDotStar
	case h.Regex && h.Value == ".+":
		hm.kind = headerDotPlus
	case h.Regex:
		re, err := compileWhole(h.Value, false)
		if err != nil {
			return headerMatcher{}, fmt.Errorf("%s.value: invalid regex %q: %v", hpath, h.Value, err)
		}
		hm.kind, hm.re = headerRegex, re
	case sofa && h.Value == ".*":
		hm.kind = headerNonEmpty
	}
	return hm, nil
}

// HeaderMatchers match a request's headers as a route's "headers" do: all
// of them must match. Stream filters that select requests use them.
type HeaderMatchers []headerMatcher

// NewHeaderMatchers compiles matchers; path names the list in the config.
func NewHeaderMatchers(hs []config.HeaderMatcher, path string) (HeaderMatchers, error) {
	var out HeaderMatchers
	for k, h := range hs {
		hm, err := compileHeader(h, false, fmt.Sprintf("%s[%d]", path, k))
		if err != nil {
			return nil, err
		}
		out = append(out, hm)
	}
	return out, nil
}

// Match reports whether req has every header.
func (ms HeaderMatchers) Match(req Request) bool {
	for i := range ms {
		if !ms[i].match(req) {
			return false
		}
	}
	return true
}

func buildAction(r *compiledRoute, a *config.RouteAction, apath string) error {
	switch {
	case a.ClusterName != "" && len(a.WeightedClusters) > 0:
		return fmt.Errorf("%s: cluster_name and weighted_clusters are exclusive: set one of them", apath)
	case a.ClusterName != "":
		r.route.ClusterName = a.ClusterName
	case len(a.WeightedClusters) > 0:
		var total uint64
		r.route.Weighted = make([]WeightedCluster, 0, len(a.WeightedClusters))
		for k, w := range a.WeightedClusters {
			if w.Cluster.Name == "" {
				return fmt.Errorf("%s.weighted_clusters[%d].cluster.name: empty cluster name", apath, k)
			}
			total += uint64(w.Cluster.Weight)
			r.route.Weighted = append(r.route.Weighted, WeightedCluster{Name: w.Cluster.Name, Weight: w.Cluster.Weight})
		}
		if total == 0 {
			return fmt.Errorf("%s.weighted_clusters: the weights add up to 0: give at least one cluster a weight", apath)
		}
		if total > 1<<32-1 {
			return fmt.Errorf("%s.weighted_clusters: the weights add up to %d, more than 4294967295", apath, total)
		}
	default:
		return fmt.Errorf("%s: needs cluster_name or weighted_clusters", apath)
	}
	r.route.Timeout = a.Timeout.Get(0)
	if a.Timeout != nil && a.Timeout.Duration == 0 {
		r.route.Timeout = NoTimeout // Envoy's "0s": the route sets no bound at all
	}
	r.route.IdleTimeout = a.IdleTimeout.Get(0)
	if a.MetadataMatch != nil {
		labels, err := a.MetadataMatch.Labels()
		if err != nil {
			return fmt.Errorf("%s.metadata_match.%w", apath, err)
		}
		r.route.MetadataMatch = labels
	}
	if p := a.RetryPolicy; p != nil {
		rp, err := retryPolicy(p, apath+".retry_policy")
		if err != nil {
			return err
		}
		r.route.Retry = rp
	}
	if a.PrefixRewrite != "" {
		if r.kind != pathPrefix && r.kind != pathExact {
			return fmt.Errorf("%s.prefix_rewrite: needs a prefix or path match to know what to replace", apath)
		}
		r.route.PrefixRewrite = a.PrefixRewrite
	}
	if r.kind == pathPrefix || r.kind == pathExact {
		r.route.MatchedPrefix = []byte(r.pattern)
	}
	r.route.HostRewrite = a.HostRewrite
	return nil
}

// retryPolicy compiles a route's retry_policy in MOSN's form (retry_on:
// true retries connect failures, resets and 5xx answers, or only the
// status_codes when given) or Envoy's (retry_on conditions).
func retryPolicy(p *config.RetryPolicy, path string) (RetryPolicy, error) {
	codes := slices.Concat(p.StatusCodes, p.RetriableStatusCodes)
	for i, c := range codes {
		if c < 100 || c > 599 {
			return RetryPolicy{}, fmt.Errorf("%s.status_codes[%d]: %d is not an HTTP status", path, i, c)
		}
	}
	if !p.RetryOn.Enabled {
		return RetryPolicy{}, nil
	}
	rp := RetryPolicy{NumRetries: int(p.NumRetries), PerTryTimeout: p.RetryTimeout.Get(0),
		ConnectFailure: p.RetryOn.Has(config.RetryConnectFailure), Reset: p.RetryOn.Has(config.RetryReset),
		On5xx: p.RetryOn.Has(config.Retry5xx), GatewayError: p.RetryOn.Has(config.RetryGatewayError)}
	switch {
	case p.RetryOn.Conditions == nil && len(codes) > 0:
		rp.On5xx, rp.StatusCodes = false, codes // MOSN: these answers instead of every 5xx
	case p.RetryOn.Has(config.RetryStatusCodes):
		rp.StatusCodes = codes
	case len(codes) > 0:
		return RetryPolicy{}, fmt.Errorf("%s.retriable_status_codes: retry_on does not include %s", path, config.RetryStatusCodes)
	}
	return rp, nil
}

// compileWhole compiles re so that it must match a whole value, not a part.
func compileWhole(re string, caseInsensitive bool) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(re); err != nil {
		return nil, err
	}
	flags := ""
	if caseInsensitive {
		flags = "(?i)"
	}
	return regexp.Compile(flags + `^(?:` + re + `)$`)
}

// mergeHeadersToAdd resolves the route, virtual host and table levels (most
// specific first): a name set at a more specific level hides the same name at
// the levels below; several entries with one name at one level all stay.
func mergeHeadersToAdd(levels ...[]config.HeaderValueOption) []Header {
	var out []Header
	for _, level := range levels {
		prev := len(out)
		for _, o := range level {
			if hiddenBy(out[:prev], o.Header.Key) {
				continue
			}
			out = append(out, Header{
				Name:   []byte(o.Header.Key),
				Value:  []byte(o.Header.Value),
				Append: o.Append == nil || *o.Append,
			})
		}
	}
	return out
}

// checkHeaderEdits rejects entries without a name, and edits of the
// headers that frame a message or its connection: the proxy owns those.
// prefix is the path of the level's block ("" for the router configuration
// itself).
func checkHeaderEdits(prefix string, reqAdd, respAdd []config.HeaderValueOption, reqRemove, respRemove []string) error {
	for _, l := range []struct {
		field string
		hs    []config.HeaderValueOption
	}{{"request_headers_to_add", reqAdd}, {"response_headers_to_add", respAdd}} {
		for k, o := range l.hs {
			if err := checkEditedName(o.Header.Key); err != nil {
				return fmt.Errorf("%s%s[%d].header.key: %w", prefix, l.field, k, err)
			}
		}
	}
	for _, l := range []struct {
		field string
		names []string
	}{{"request_headers_to_remove", reqRemove}, {"response_headers_to_remove", respRemove}} {
		for k, name := range l.names {
			if err := checkEditedName(name); err != nil {
				return fmt.Errorf("%s%s[%d]: %w", prefix, l.field, k, err)
			}
		}
	}
	return nil
}

func checkEditedName(name string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for _, f := range []string{"content-length", "transfer-encoding", "connection"} {
		if strings.EqualFold(name, f) {
			return fmt.Errorf("%s frames the message: the proxy sets it, a route cannot", name)
		}
	}
	return nil
}

func hiddenBy(hs []Header, name string) bool {
	for _, h := range hs {
		if equalFoldASCII(h.Name, name) {
			return true
		}
	}
	return false
}

func mergeHeadersToRemove(levels ...[]string) [][]byte {
	var out [][]byte
	for _, level := range levels {
		for _, name := range level {
			if name == "" {
				continue
			}
			dup := false
			for _, o := range out {
				if equalFoldASCII(o, name) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, []byte(name))
			}
		}
	}
	return out
}
