package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TypeNames are the short names of the four types, in subscription order.
var TypeNames = []string{"clusters", "listeners", "endpoints", "routes"}

// ObserveOptions say what to ask a control plane for.
type ObserveOptions struct {
	Server string
	Node   *corev3.Node
	// Types to wait for (short names); empty: all four.
	Types []string
	// OnPush, if set, sees every response (for --watch); it must not block.
	OnPush func(Response)
	// Watch keeps the stream open after every type arrived, until ctx ends.
	Watch bool
	// InitialFetchTimeout: see Options (0: its default).
	InitialFetchTimeout time.Duration
	Log                 *slog.Logger
}

// Observe subscribes to a control plane as the proxy would (CDS and LDS,
// then the EDS and RDS names they lead to), ACKing everything without
// translating it, and returns what it serves once every wanted type has
// arrived (a type that nothing leads to, such as endpoints without EDS
// clusters, counts as arrived, empty). Without Watch, ctx's deadline bounds
// the wait; a timeout says which types are missing and why.
func Observe(ctx context.Context, o ObserveOptions) (Dump, error) {
	wanted := o.Types
	if len(wanted) == 0 {
		wanted = TypeNames
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	changed := make(chan struct{}, 1)
	c := NewClient(Options{Server: o.Server, Node: o.Node, Log: o.Log, InitialFetchTimeout: o.InitialFetchTimeout, OnResponse: func(r Response) {
		if o.OnPush != nil {
			o.OnPush(r)
		}
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	complete := false
	for {
		select {
		case <-changed:
			if !complete && len(missing(c.Status(), wanted)) == 0 {
				complete = true
				if !o.Watch {
					return filterTypes(c.Dump(), wanted), nil
				}
			}
		case <-ctx.Done():
			if complete { // watching, interrupted
				return filterTypes(c.Dump(), wanted), nil
			}
			d := c.Status()
			why := ""
			if d.LastError != "" {
				why = ": " + d.LastError
			}
			return d, fmt.Errorf("xds %s: no %s after waiting%s", o.Server, strings.Join(missing(d, wanted), ", "), why)
		}
	}
}

// missing lists the wanted types that have not arrived.
func missing(d Dump, wanted []string) []string {
	by := map[string]TypeDump{}
	for _, td := range d.Types {
		by[td.Type] = td
	}
	var out []string
	for _, t := range wanted {
		td := by[t]
		if td.LastUpdate != nil {
			continue
		}
		lead := map[string]string{"endpoints": "clusters", "routes": "listeners"}[t]
		if lead != "" && by[lead].LastUpdate != nil && len(td.Names) == 0 {
			continue // nothing to ask for
		}
		out = append(out, t)
	}
	return out
}

func filterTypes(d Dump, wanted []string) Dump {
	out := d
	out.Types = nil
	for _, td := range d.Types {
		if slices.Contains(wanted, td.Type) {
			out.Types = append(out.Types, td)
		}
	}
	return out
}

// WriteTable prints one line per resource: name, type, version and a
// one-line summary; then the last NACK of each type that has one.
func WriteTable(w io.Writer, d Dump) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tVERSION\tSUMMARY")
	for _, td := range d.Types {
		for _, raw := range td.Resources {
			m := newMessage(td.TypeURL)
			if err := protojson.Unmarshal(raw, m); err != nil {
				return fmt.Errorf("%s: %w", td.Type, err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", resourceName(m), td.Type, td.Version, Summary(m))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, td := range d.Types {
		if n := td.LastNack; n != nil {
			fmt.Fprintf(w, "last NACK of %s: version %s at %s: %s\n", td.Type, n.Version, n.Time.Format("15:04:05"), n.Reason)
		}
		if len(td.Warming) > 0 {
			fmt.Fprintf(w, "warming (waiting for routes): %s\n", strings.Join(td.Warming, ", "))
		}
	}
	return nil
}

// WritePush prints one response as table rows (for --watch).
func WritePush(w io.Writer, r Response) {
	for _, a := range r.Resources {
		m := newMessage(r.TypeURL)
		if a.UnmarshalTo(m) != nil {
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", resourceName(m), shortType(r.TypeURL), r.Version, Summary(m))
	}
	if len(r.Resources) == 0 {
		fmt.Fprintf(w, "-\t%s\t%s\t(no resources)\n", shortType(r.TypeURL), r.Version)
	}
}

// PushJSON is one response as a JSON object (a line of --watch -o json).
func PushJSON(r Response) ([]byte, error) {
	m := map[string]*anypb.Any{}
	for i, a := range r.Resources {
		m[fmt.Sprintf("%08d", i)] = a
	}
	return json.Marshal(struct {
		Type      string            `json:"type"`
		Version   string            `json:"version"`
		Resources []json.RawMessage `json:"resources"`
	}{shortType(r.TypeURL), r.Version, ResourcesJSON(m)})
}

// Summary is a one-line description of a resource.
func Summary(m proto.Message) string {
	switch r := m.(type) {
	case *listenerv3.Listener:
		sa := r.GetAddress().GetSocketAddress()
		s := fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
		for _, fc := range r.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				switch tc := f.GetTypedConfig(); tc.GetTypeUrl() {
				case hcmType:
					h := &hcmv3.HttpConnectionManager{}
					tc.UnmarshalTo(h)
					if n := h.GetRds().GetRouteConfigName(); n != "" {
						s += " http rds=" + n
					} else {
						s += " http inline routes"
					}
				case tcpProxyType:
					t := &tcpv3.TcpProxy{}
					tc.UnmarshalTo(t)
					s += " tcp_proxy cluster=" + t.GetCluster()
				default:
					s += " " + f.GetName()
				}
			}
		}
		return s
	case *routev3.RouteConfiguration:
		var domains []string
		routes := 0
		for _, vh := range r.GetVirtualHosts() {
			domains = append(domains, vh.GetDomains()...)
			routes += len(vh.GetRoutes())
		}
		return fmt.Sprintf("%d virtual hosts, %d routes, domains %s", len(r.GetVirtualHosts()), routes, short(domains))
	case *clusterv3.Cluster:
		s := r.GetType().String() + " " + r.GetLbPolicy().String()
		if r.GetType() == clusterv3.Cluster_EDS && r.GetEdsClusterConfig().GetServiceName() != "" {
			s += " eds=" + r.GetEdsClusterConfig().GetServiceName()
		}
		if d := r.GetConnectTimeout(); d != nil {
			s += " connect_timeout=" + d.AsDuration().String()
		}
		return s
	case *endpointv3.ClusterLoadAssignment:
		var addrs []string
		for _, le := range r.GetEndpoints() {
			for _, e := range le.GetLbEndpoints() {
				sa := e.GetEndpoint().GetAddress().GetSocketAddress()
				a := fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
				if hs := e.GetHealthStatus(); hs != corev3.HealthStatus_UNKNOWN && hs != corev3.HealthStatus_HEALTHY {
					a += "(" + hs.String() + ")"
				}
				addrs = append(addrs, a)
			}
		}
		return fmt.Sprintf("%d endpoints %s", len(addrs), short(addrs))
	}
	return ""
}

// short joins up to three items and counts the rest.
func short(items []string) string {
	if len(items) <= 3 {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s,... (+%d)", strings.Join(items[:3], ","), len(items)-3)
}
