package xds

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mosnctl/mosnctl/internal/config"
)

// Resources are the translated resources of each type, by resource name.
type Resources struct {
	Listeners map[string]*Listener
	Routes    map[string]*config.RouterConfiguration
	Clusters  map[string]*Cluster
	Endpoints map[string][]config.Host // by cluster_name of the assignment
	// Serving holds each listener as the last successful Build put it in
	// the config, with its route table: a listener whose new route
	// configuration has not arrived keeps serving that (Envoy's warming).
	Serving map[string]*Listener
}

// DynamicServerName names the server that holds the listeners and route
// tables a control plane pushed.
const DynamicServerName = "xds"

// Build makes the full config to run: base (the file's static listeners
// and clusters) plus the dynamic resources, defaulted and validated as a
// file is. warming lists the listeners left out because the route
// configuration they name has not arrived yet. Validation errors name the
// resource ("cluster \"x\": ...") instead of a position in the built config.
// A warming listener that served before keeps its last version. On success
// r.Serving is replaced by the listeners of the new config.
func Build(base *config.Config, r *Resources) (cfg *config.Config, warming []string, err error) {
	out := *base
	out.Servers = slices.Clone(base.Servers)
	for i := range out.Servers {
		// ApplyDefaults writes to listeners: not to the running config's.
		out.Servers[i].Listeners = slices.Clone(out.Servers[i].Listeners)
	}
	out.ClusterManager.Clusters = slices.Clone(base.ClusterManager.Clusters)
	rename := map[string]string{}

	for _, name := range sortedKeys(r.Clusters) {
		c := r.Clusters[name]
		cc := c.Config
		if c.EDS {
			cc.Hosts = r.Endpoints[c.EDSName]
		}
		if c.roundRobin && unevenWeights(cc.Hosts) {
			cc.LbType = config.LBWeightedRoundRobin
		}
		rename[fmt.Sprintf("cluster_manager.clusters[%d]", len(out.ClusterManager.Clusters))] = fmt.Sprintf("cluster %q", name)
		out.ClusterManager.Clusters = append(out.ClusterManager.Clusters, cc)
	}

	si := len(out.Servers)
	srv := config.Server{ServerName: DynamicServerName}
	routes := map[string]bool{}
	addRoute := func(rc *config.RouterConfiguration, label string) {
		if routes[rc.RouterConfigName] {
			return
		}
		routes[rc.RouterConfigName] = true
		rename[fmt.Sprintf("servers[%d].routers[%d]", si, len(srv.Routers))] = label
		srv.Routers = append(srv.Routers, *rc)
	}
	serving := make(map[string]*Listener, len(r.Listeners))
	for _, name := range sortedKeys(r.Listeners) {
		l := r.Listeners[name]
		if l.RouteName != "" {
			rc, ok := r.Routes[l.RouteName]
			if !ok {
				warming = append(warming, name)
				if l = r.Serving[name]; l == nil {
					continue
				}
			} else {
				// What it serves with, should its next routes be late.
				l = &Listener{Config: l.Config, RouteName: l.RouteName, Inline: rc}
			}
		}
		switch {
		case l.RouteName != "":
			addRoute(l.Inline, fmt.Sprintf("route_configuration %q", l.RouteName))
		case l.Inline != nil:
			addRoute(l.Inline, fmt.Sprintf("listener %q: route_config", name))
		}
		serving[name] = l
		rename[fmt.Sprintf("servers[%d].listeners[%d]", si, len(srv.Listeners))] = fmt.Sprintf("listener %q", name)
		srv.Listeners = append(srv.Listeners, l.Config)
	}
	out.Servers = append(out.Servers, srv)
	out.ApplyDefaults()
	if err := out.Validate(); err != nil {
		return nil, warming, renamePaths(err, rename)
	}
	r.Serving = serving
	return &out, warming, nil
}

func unevenWeights(hs []config.Host) bool {
	for _, h := range hs[min(1, len(hs)):] {
		if h.Weight != hs[0].Weight {
			return true
		}
	}
	return false
}

// renamePaths rewrites the built config's positions ("servers[2].listeners[0].address")
// into the resources they came from ("listener \"x\": address").
func renamePaths(err error, rename map[string]string) error {
	var lines []string
	for _, line := range strings.Split(err.Error(), "\n") {
		for pos, label := range rename {
			if rest, ok := strings.CutPrefix(line, pos); ok && (rest == "" || rest[0] == '.' || rest[0] == ':') {
				line = label + ": " + strings.TrimPrefix(strings.TrimPrefix(rest, "."), ": ")
				break
			}
		}
		lines = append(lines, line)
	}
	return errors.New(strings.Join(lines, "\n"))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
