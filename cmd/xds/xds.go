// Package xds implements `mosnctl xds`: `dump` asks an xDS control plane
// what it serves for a node, subscribing as the proxy would, or asks a
// running `mosnctl serve` (--admin) for the xDS state it holds. The client
// and the rendering live in internal/xds.
package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/xds"
)

// Options are the flags of `mosnctl xds dump`.
type Options struct {
	Server  string
	Admin   string
	Node    string
	Cluster string
	Type    string
	Watch   bool
	Output  string
	Timeout time.Duration
}

// NewCommand builds the xds command.
func NewCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "xds",
		Short: "Inspect xDS: what a control plane serves, or what a running serve holds",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newDumpCommand())
	return c
}

func newDumpCommand() *cobra.Command {
	opts := Options{}
	c := &cobra.Command{
		Use:   "dump",
		Short: "Print the listeners, routes, clusters and endpoints a control plane serves",
		Long: `dump connects to an xDS server (--server HOST:PORT, plaintext gRPC) as node --node,
subscribes as the proxy would (clusters and listeners, then the endpoints and
routes they name), ACKs every response and prints what arrived: a table of
name, type, version and a one-line summary, or the resources in full with
-o json or -o yaml (protojson). --watch prints every push as it comes, until
interrupted. --admin HOST:PORT instead reads the xDS state a running
mosnctl serve holds (versions, resources, last NACK) from its admin API.

Exit status: 0 when every requested type arrived, 1 on timeout or connection
failure, 2 on usage errors.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return Run(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Server, "server", "", "xDS (ADS) server address HOST:PORT")
	f.StringVar(&opts.Admin, "admin", "", "admin API of a running mosnctl serve, HOST:PORT (instead of --server)")
	f.StringVar(&opts.Node, "node", "", "node id to subscribe as (with --server), e.g. sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local")
	f.StringVar(&opts.Cluster, "cluster", "", "node cluster to send (with --server)")
	f.StringVar(&opts.Type, "type", "", "only this type: listeners, routes, clusters or endpoints")
	f.BoolVar(&opts.Watch, "watch", false, "print every push as it comes, until interrupted (with --server)")
	f.StringVarP(&opts.Output, "output", "o", "table", "output format: table, json or yaml")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "give up (exit 1) when the requested types have not all arrived by then")
	return c
}

func (o *Options) check() error {
	switch o.Output {
	case "table", "json", "yaml":
	default:
		return cli.Usagef("unknown output format %q (want table, json or yaml)", o.Output)
	}
	if (o.Server == "") == (o.Admin == "") {
		return cli.Usagef("give --server HOST:PORT (a control plane) or --admin HOST:PORT (a running serve)")
	}
	for _, a := range []string{o.Server, o.Admin} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return cli.Usagef("%q: want HOST:PORT", a)
		}
	}
	if o.Server != "" && o.Node == "" {
		return cli.Usagef("--node is required with --server: the control plane serves per node")
	}
	if o.Admin != "" && (o.Watch || o.Node != "" || o.Cluster != "") {
		return cli.Usagef("--watch, --node and --cluster go with --server, not --admin")
	}
	if o.Type != "" && !slices.Contains(xds.TypeNames, o.Type) {
		return cli.Usagef("--type %q: want listeners, routes, clusters or endpoints", o.Type)
	}
	if o.Timeout <= 0 {
		return cli.Usagef("--timeout must be positive")
	}
	return nil
}

// Run dumps what opts point at to out.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if err := opts.check(); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var types []string
	if opts.Type != "" {
		types = []string{opts.Type}
	}
	var d xds.Dump
	var err error
	if opts.Admin != "" {
		d, err = fromAdmin(ctx, opts, types)
	} else {
		d, err = fromServer(ctx, opts, types, out)
		if opts.Watch && err == nil {
			return nil // the pushes are printed
		}
	}
	if err != nil {
		return cli.Failed(err)
	}
	return write(out, opts.Output, d)
}

func fromServer(ctx context.Context, opts Options, types []string, out io.Writer) (xds.Dump, error) {
	o := xds.ObserveOptions{Server: opts.Server, Node: &corev3.Node{Id: opts.Node, Cluster: opts.Cluster, UserAgentName: "mosnctl-xds-dump"},
		Types: types,
		// Listeners wait for the endpoints as in the proxy, but not so long
		// that a missing assignment hides every listener from the dump.
		InitialFetchTimeout: opts.Timeout / 2}
	if !opts.Watch {
		wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		return xds.Observe(wctx, o)
	}
	var mu sync.Mutex
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	if opts.Output == "table" {
		fmt.Fprintln(tw, "NAME\tTYPE\tVERSION\tSUMMARY")
	}
	o.Watch = true
	o.OnPush = func(r xds.Response) {
		if len(types) > 0 && !slices.Contains(types, typeName(r.TypeURL)) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch opts.Output {
		case "table":
			xds.WritePush(tw, r)
			tw.Flush()
		default:
			b, err := xds.PushJSON(r)
			if err != nil {
				return
			}
			if opts.Output == "yaml" {
				b, _ = toYAML(b)
				fmt.Fprintln(out, "---")
			}
			fmt.Fprintf(out, "%s\n", b)
		}
	}
	// The timeout bounds the first arrival of every type only.
	arrived := make(chan struct{})
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	timer := time.AfterFunc(opts.Timeout, func() {
		select {
		case <-arrived:
		default:
			stop()
		}
	})
	defer timer.Stop()
	o.OnPush = chainArrival(o.OnPush, arrived, types)
	return xds.Observe(watchCtx, o)
}

// chainArrival closes arrived once a push of every wanted type was seen.
func chainArrival(next func(xds.Response), arrived chan struct{}, types []string) func(xds.Response) {
	if len(types) == 0 {
		types = xds.TypeNames
	}
	seen := map[string]bool{}
	var once sync.Once
	return func(r xds.Response) {
		next(r)
		seen[typeName(r.TypeURL)] = true
		// endpoints and routes may never come (nothing names them):
		// clusters and listeners arriving is enough for those.
		for _, t := range types {
			if !seen[t] && !(t == "endpoints" && seen["clusters"]) && !(t == "routes" && seen["listeners"]) {
				return
			}
		}
		once.Do(func() { close(arrived) })
	}
}

func typeName(url string) string {
	for _, t := range xds.TypeNames {
		if u, _ := xds.TypeURL(t); u == url {
			return t
		}
	}
	return url
}

func fromAdmin(ctx context.Context, opts Options, types []string) (xds.Dump, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	url := "http://" + opts.Admin + "/api/v1/config_dump"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return xds.Dump{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return xds.Dump{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return xds.Dump{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var body struct {
		Dynamic *xds.Dump `json:"dynamic"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<30)).Decode(&body); err != nil {
		return xds.Dump{}, fmt.Errorf("GET %s: %w", url, err)
	}
	if body.Dynamic == nil {
		return xds.Dump{}, fmt.Errorf("%s: this serve runs no xDS client (its config has no dynamic_resources)", opts.Admin)
	}
	d := *body.Dynamic
	if len(types) > 0 {
		var keep []xds.TypeDump
		for _, td := range d.Types {
			if slices.Contains(types, td.Type) {
				keep = append(keep, td)
			}
		}
		d.Types = keep
	}
	return d, nil
}

func write(out io.Writer, format string, d xds.Dump) error {
	switch format {
	case "table":
		return xds.WriteTable(out, d)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = toYAML(b); err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// toYAML re-encodes JSON as YAML.
func toYAML(b []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return yaml.Marshal(v)
}
