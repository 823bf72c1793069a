package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mosnctl/mosnctl/internal/config"
)

// Options configure a Client.
type Options struct {
	// Server is the ADS server's host:port (plaintext gRPC).
	Server string
	Node   *corev3.Node
	// NodeOnFirstOnly sends the node on a stream's first request only
	// (Envoy's set_node_on_first_message_only); otherwise on every one.
	NodeOnFirstOnly bool
	// Base is the config the dynamic resources are added to (the file's
	// static part). Nil: observe only, as `mosnctl xds dump` does: nothing
	// is translated or applied and every response is ACKed.
	Base *config.Config
	// Apply swaps in a built config (Server.Reload); an error NACKs the
	// response that led to it.
	Apply func(*config.Config) error
	// OnResponse, if set, is called after each response is ACKed or NACKed
	// (with the client's lock held: it must not call Dump).
	OnResponse func(Response)
	Log        *slog.Logger
	// Backoff bounds the wait between reconnects (defaults 250ms, 30s).
	MinBackoff, MaxBackoff time.Duration
	// InitialFetchTimeout bounds how long listeners wait for the first
	// endpoints of the EDS clusters (default 15s, as Envoy's).
	InitialFetchTimeout time.Duration
}

// Response is one discovery response as the client handled it.
type Response struct {
	TypeURL   string
	Version   string
	Resources []*anypb.Any
	Err       error // non-nil: NACKed with this reason
}

// Nack is the last rejected response of a type.
type Nack struct {
	Version string    `json:"version"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

// typeState is what the client holds for one resource type.
type typeState struct {
	url       string
	version   string // last accepted
	nonce     string // last received on this stream
	wildcard  bool
	names     []string // subscribed names when not wildcard, sorted
	requested bool     // a request went out on this stream
	resources map[string]*anypb.Any
	updated   time.Time
	nack      *Nack
	accepted  uint64
	rejected  uint64
	answered  bool   // a response came (ACKed or NACKed), on any stream
	repeats   int    // times the rejected version came again
	nackGen   uint64 // the client's generation when it was rejected
}

// Client is a state-of-the-world ADS client. Run it; read it with Dump
// and Collector.
type Client struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below; held while a response is handled
	types   map[string]*typeState
	res     *Resources // accepted, translated
	warming []string
	// generation counts accepted responses of any type.
	generation uint64
	// listenersStarted: LDS was asked for (after CDS and EDS answered);
	// later streams ask for everything at once.
	listenersStarted bool
	fetchTimer       *time.Timer
	cur              *adsStream // the stream up now, nil between streams
	connected        bool
	lastErr          error
}

// Order in which a (re)connected stream subscribes: CDS before EDS, LDS
// before RDS, as Envoy does.
var typeOrder = []string{ClusterType, ListenerType, EndpointType, RouteType}

// NewClient makes a client; nothing happens until Run.
func NewClient(opts Options) *Client {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.InitialFetchTimeout <= 0 {
		opts.InitialFetchTimeout = 15 * time.Second
	}
	c := &Client{opts: opts, log: opts.Log.With("xds_server", opts.Server), types: map[string]*typeState{},
		res: &Resources{Listeners: map[string]*Listener{}, Routes: map[string]*config.RouterConfiguration{},
			Clusters: map[string]*Cluster{}, Endpoints: map[string][]config.Host{}}}
	for _, u := range typeOrder {
		c.types[u] = &typeState{url: u, wildcard: u == ClusterType || u == ListenerType, resources: map[string]*anypb.Any{}}
	}
	return c
}

// Run keeps an ADS stream open until ctx ends, reconnecting with
// exponential backoff (with jitter) when it breaks. The running config is
// untouched while disconnected; a new stream asks again for the names it
// holds, with the versions it holds.
func (c *Client) Run(ctx context.Context) error {
	conn, err := grpc.NewClient(c.opts.Server, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxResponseSize)))
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	defer conn.Close()
	defer func() {
		c.mu.Lock()
		if c.fetchTimer != nil {
			c.fetchTimer.Stop()
		}
		c.mu.Unlock()
	}()
	backoff := c.opts.MinBackoff
	for {
		got, err := c.stream(ctx, conn)
		c.mu.Lock()
		c.connected, c.lastErr = false, err
		c.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if got {
			backoff = c.opts.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		c.log.Warn("xds stream broken, reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, c.opts.MaxBackoff)
	}
}

// stream runs one ADS stream; got reports whether a response came on it.
func (c *Client) stream(ctx context.Context, conn *grpc.ClientConn) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return false, err
	}
	s := &adsStream{st: st, node: c.opts.Node, firstOnly: c.opts.NodeOnFirstOnly}
	c.mu.Lock()
	c.cur = s
	defer func() {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
	}()
	for _, ts := range c.types {
		ts.nonce, ts.requested = "", false
	}
	for _, u := range typeOrder {
		ts := c.types[u]
		if u == ListenerType && !c.listenersStarted {
			continue // after the clusters and their endpoints, as Envoy starts
		}
		if ts.wildcard || len(ts.names) > 0 {
			if err = s.request(ts, nil); err != nil {
				break
			}
		}
	}
	c.mu.Unlock()
	if err != nil {
		return false, err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return got, err
		}
		if !got {
			c.mu.Lock()
			c.connected = true
			c.mu.Unlock()
			c.log.Info("xds stream connected")
		}
		got = true
		if err := c.handle(s, resp); err != nil {
			return got, err
		}
	}
}

// adsStream sends requests on one stream.
type adsStream struct {
	st        discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node      *corev3.Node
	firstOnly bool
	sent      bool
	mu        sync.Mutex // one Send at a time (a delayed NACK may race the receiver)
}

// MaxResponseSize bounds one discovery response: gRPC's default (4 MiB)
// is a few thousand endpoints of a large mesh; this is far beyond any.
const MaxResponseSize = 256 << 20

// nackRepeatMax bounds the wait before NACKing a rejected version the
// server sends again.
const nackRepeatMax = 5 * time.Second

// request sends ts's subscription with its accepted version and last
// nonce; a non-nil nack makes it a NACK.
func (s *adsStream) request(ts *typeState, nack error) error {
	return s.send(s.build(ts, nack))
}

// send sends one request; the stream takes one sender at a time.
func (s *adsStream) send(req *discoveryv3.DiscoveryRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Send(req)
}

func (s *adsStream) build(ts *typeState, nack error) *discoveryv3.DiscoveryRequest {
	req := &discoveryv3.DiscoveryRequest{TypeUrl: ts.url, VersionInfo: ts.version, ResponseNonce: ts.nonce}
	if !ts.wildcard {
		req.ResourceNames = ts.names
	}
	if !s.sent || !s.firstOnly {
		req.Node = s.node
	}
	if nack != nil {
		req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: nack.Error()}
	}
	s.sent, ts.requested = true, true
	return req
}

// handle ACKs or NACKs one response, then subscribes to the EDS and RDS
// names the accepted state needs.
func (c *Client) handle(s *adsStream, resp *discoveryv3.DiscoveryResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts, ok := c.types[resp.GetTypeUrl()]
	if !ok {
		c.log.Warn("xds response of a type never asked for, ignored", "type", resp.GetTypeUrl())
		return nil
	}
	ts.nonce = resp.GetNonce()
	if n := ts.nack; n != nil && resp.GetVersionInfo() == n.Version && n.Version != ts.version && ts.nackGen == c.generation {
		// The version just rejected, sent again (go-control-plane answers
		// a NACK so) while nothing else changed: NACK it again after a wait
		// that grows, so that a bad push does not spin. Once another type
		// is accepted it is tried again: a cluster removal refused while
		// the routes still named it passes once the routes have moved on.
		ts.repeats++
		wait := min(c.opts.MinBackoff<<min(ts.repeats, 6), nackRepeatMax)
		req := s.build(ts, errors.New(n.Reason))
		time.AfterFunc(wait, func() { s.send(req) })
		return nil
	}
	ts.repeats = 0
	err := c.accept(ts, resp)
	now := time.Now()
	if err != nil {
		if ts.nack == nil || ts.nack.Version != resp.GetVersionInfo() {
			ts.rejected++
		}
		ts.nackGen = c.generation
		ts.nack = &Nack{Version: resp.GetVersionInfo(), Reason: err.Error(), Time: now}
		c.log.Error("xds push rejected (NACK), the previous version stays", "type", shortType(ts.url), "version", resp.GetVersionInfo(), "err", err)
	} else {
		ts.accepted++
		c.generation++
		ts.version, ts.updated = resp.GetVersionInfo(), now
		c.log.Info("xds push applied (ACK)", "type", shortType(ts.url), "version", ts.version, "resources", len(resp.GetResources()), "warming", len(c.warming))
	}
	if serr := s.request(ts, err); serr != nil {
		return serr
	}
	if c.opts.OnResponse != nil {
		// After the names it leads to are set: a reader of the state then
		// sees whether the types that follow have anything to wait for.
		defer c.opts.OnResponse(Response{TypeURL: ts.url, Version: resp.GetVersionInfo(), Resources: resp.GetResources(), Err: err})
	}
	ts.answered = true
	if err == nil {
		if err := c.follow(s, ts); err != nil {
			return err
		}
	}
	return c.startListeners(s, false)
}

// startListeners subscribes to listeners once the clusters have come and
// so have the endpoints of the EDS ones (answered, ACK or NACK), as Envoy
// initializes its cluster manager before its listeners; or, with force,
// once the initial fetch timeout ran out waiting for them.
func (c *Client) startListeners(s *adsStream, force bool) error {
	lt := c.types[ListenerType]
	if c.listenersStarted {
		return nil
	}
	ct, et := c.types[ClusterType], c.types[EndpointType]
	if !force && (!ct.answered || len(et.names) > 0 && !et.answered) {
		if ct.answered && c.fetchTimer == nil {
			c.fetchTimer = time.AfterFunc(c.opts.InitialFetchTimeout, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.listenersStarted {
					return
				}
				c.log.Warn("xds endpoints did not all come within the initial fetch timeout: starting listeners", "timeout", c.opts.InitialFetchTimeout)
				if c.cur == nil {
					c.listenersStarted = true // the next stream asks
					return
				}
				c.startListeners(c.cur, true) // a failed send ends that stream
			})
		}
		return nil
	}
	c.listenersStarted = true
	if c.fetchTimer != nil {
		c.fetchTimer.Stop()
	}
	return s.request(lt, nil)
}

// follow subscribes to the EDS names after CDS, the RDS names after LDS.
func (c *Client) follow(s *adsStream, ts *typeState) error {
	var dep *typeState
	var names []string
	switch ts.url {
	case ClusterType:
		dep, names = c.types[EndpointType], edsNames(ts.resources)
	case ListenerType:
		dep, names = c.types[RouteType], rdsNames(ts.resources)
	default:
		return nil
	}
	if slices.Equal(names, dep.names) && dep.requested {
		return nil
	}
	dep.names = names
	// Resources no longer asked for are forgotten, as a state-of-the-world
	// response for the new names would not carry them.
	for n := range dep.resources {
		if !slices.Contains(names, n) {
			delete(dep.resources, n)
		}
	}
	if len(names) == 0 {
		return nil // an empty list would ask for everything (wildcard)
	}
	return s.request(dep, nil)
}

// accept decodes, translates, builds and applies a response; an error is
// the NACK reason and leaves everything as it was.
func (c *Client) accept(ts *typeState, resp *discoveryv3.DiscoveryResponse) error {
	raw := make(map[string]*anypb.Any, len(resp.GetResources()))
	msgs := make(map[string]proto.Message, len(resp.GetResources()))
	for i, a := range resp.GetResources() {
		m := newMessage(ts.url)
		if err := unpack(a, ts.url, m); err != nil {
			return fmt.Errorf("resources[%d]: %w", i, err)
		}
		name := resourceName(m)
		if _, dup := raw[name]; dup {
			return fmt.Errorf("resources[%d]: resource name %q given twice", i, name)
		}
		raw[name], msgs[name] = a, m
	}
	if c.opts.Base == nil { // observing
		ts.resources = raw
		return nil
	}
	next := *c.res
	switch ts.url {
	case ListenerType:
		next.Listeners = make(map[string]*Listener, len(msgs))
		for n, m := range msgs {
			l, err := TranslateListener(m.(*listenerv3.Listener))
			if err != nil {
				return err
			}
			next.Listeners[n] = l
		}
	case RouteType:
		next.Routes = make(map[string]*config.RouterConfiguration, len(msgs))
		for n, m := range msgs {
			r, err := TranslateRoute(m.(*routev3.RouteConfiguration))
			if err != nil {
				return err
			}
			next.Routes[n] = r
		}
	case ClusterType:
		next.Clusters = make(map[string]*Cluster, len(msgs))
		for n, m := range msgs {
			cl, err := TranslateCluster(m.(*clusterv3.Cluster))
			if err != nil {
				return err
			}
			next.Clusters[n] = cl
		}
	case EndpointType:
		next.Endpoints = make(map[string][]config.Host, len(msgs))
		for n, m := range msgs {
			hs, err := TranslateEndpoints(m.(*endpointv3.ClusterLoadAssignment))
			if err != nil {
				return err
			}
			next.Endpoints[n] = hs
		}
	}
	cfg, warming, err := Build(c.opts.Base, &next)
	if err != nil {
		return err
	}
	if c.opts.Apply != nil {
		if err := c.opts.Apply(cfg); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	*c.res, c.warming, ts.resources = next, warming, raw
	return nil
}

func newMessage(url string) proto.Message {
	switch url {
	case ListenerType:
		return &listenerv3.Listener{}
	case RouteType:
		return &routev3.RouteConfiguration{}
	case ClusterType:
		return &clusterv3.Cluster{}
	default:
		return &endpointv3.ClusterLoadAssignment{}
	}
}

func resourceName(m proto.Message) string {
	switch r := m.(type) {
	case *listenerv3.Listener:
		return r.GetName()
	case *routev3.RouteConfiguration:
		return r.GetName()
	case *clusterv3.Cluster:
		return r.GetName()
	case *endpointv3.ClusterLoadAssignment:
		return r.GetClusterName()
	}
	return ""
}

// edsNames are the assignments the EDS clusters among cls read.
func edsNames(cls map[string]*anypb.Any) []string {
	var names []string
	for _, a := range cls {
		c := &clusterv3.Cluster{}
		if a.UnmarshalTo(c) != nil || c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		n := c.GetEdsClusterConfig().GetServiceName()
		if n == "" {
			n = c.GetName()
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// rdsNames are the route configurations the listeners' connection
// managers read over RDS.
func rdsNames(lns map[string]*anypb.Any) []string {
	var names []string
	for _, a := range lns {
		l := &listenerv3.Listener{}
		if a.UnmarshalTo(l) != nil {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				h := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().GetTypeUrl() != hcmType || f.GetTypedConfig().UnmarshalTo(h) != nil {
					continue
				}
				if n := h.GetRds().GetRouteConfigName(); n != "" {
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// shortType is the type's name in logs, dumps and metrics.
func shortType(url string) string {
	switch url {
	case ListenerType:
		return "listeners"
	case RouteType:
		return "routes"
	case ClusterType:
		return "clusters"
	case EndpointType:
		return "endpoints"
	}
	return url
}

// TypeURL maps "listeners", "routes", "clusters", "endpoints" to the type URL.
func TypeURL(short string) (string, error) {
	for _, u := range typeOrder {
		if shortType(u) == short {
			return u, nil
		}
	}
	return "", errors.New("unknown type " + short + " (listeners, routes, clusters, endpoints)")
}
