// Package bench implements `mosnctl bench`, a load generator for HTTP/1.1,
// HTTP/2, Bolt and TCP echo that CI scripts gate on; the engine is
// internal/bench.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/bench"
	"github.com/mosnctl/mosnctl/internal/cli"
)

// Options are the flags of `mosnctl bench`.
type Options struct {
	Targets       []string
	Weights       []int
	Conns         int
	Streams       int
	Rate          float64
	Requests      int64
	Duration      time.Duration
	Warmup        time.Duration
	Timeout       time.Duration
	H2            bool
	Method        string
	Headers       []string
	Body          string
	BodyFile      string
	Insecure      bool
	Service       string
	Replay        string
	Output        string
	IO            string
	Threads       int
	Asserts       []string
	Compare       string
	MaxRegression string
	// Serve ("bolt") runs an echo server on Listen instead of a load.
	Serve  string
	Listen string
	// Progress gets the progress line; nil keeps quiet.
	Progress io.Writer
}

// NewCommand builds the bench command.
func NewCommand() *cobra.Command {
	opts := Options{}
	c := &cobra.Command{
		Use:   "bench [flags] URL...",
		Short: "Load an HTTP/1.1, HTTP/2, Bolt or TCP echo target and gate CI on the results",
		Long: `Load one target (several URLs of one host:port share the load, see --weight)
closed loop (-c connections x --streams each) or open loop at a fixed --rate,
for -d or -n requests, and print requests/s, errors by kind and latency
percentiles. --assert and --compare make the exit code 1 on a regression.

URLs: http://, https:// (HTTP/1.1, or HTTP/2 with --h2: ALPN h2 over TLS,
h2c prior knowledge over plain TCP), bolt://host:port (with --service and
--method; the payload, already serialised, from --body-file), tcp://host:port
(echo: each request writes the body and waits for as many bytes back).

--serve bolt runs a Bolt echo server on --listen (default 127.0.0.1:12201)
until interrupted: a target for a proxy's Bolt cluster or for bolt:// load.`,
		Example: `  mosnctl bench -c 50 -d 10s http://127.0.0.1:8080/
  mosnctl bench --h2 -c 10 --streams 10 -n 100000 http://127.0.0.1:8080/
  mosnctl bench --rate 2000 -d 30s --assert 'p99<5ms' --assert 'errors==0' http://127.0.0.1:8080/
  mosnctl bench -o json -d 10s http://127.0.0.1:8080/ > base.json
  mosnctl bench --compare base.json --max-regression 10% -d 10s http://127.0.0.1:8080/
  mosnctl bench --replay capture.pcap http://127.0.0.1:8080/
  mosnctl bench --serve bolt --listen 127.0.0.1:12201`,
		Args: func(_ *cobra.Command, args []string) error {
			if opts.Serve != "" {
				if len(args) > 0 {
					return cli.Usagef("bench: --serve takes no target URL")
				}
				return nil
			}
			if len(args) == 0 {
				return cli.Usagef("bench: give at least one target URL")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Targets = args
			if isTerminal(c.ErrOrStderr()) {
				opts.Progress = c.ErrOrStderr()
			}
			return Run(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.IntVarP(&opts.Conns, "connections", "c", 10, "connections")
	f.IntVar(&opts.Streams, "streams", 1, "concurrent requests per connection (HTTP/2 and Bolt)")
	f.Float64Var(&opts.Rate, "rate", 0, "open loop: requests/s over all connections (0 = closed loop)")
	f.Int64VarP(&opts.Requests, "requests", "n", 0, "stop after this many requests")
	f.DurationVarP(&opts.Duration, "duration", "d", 0, "stop after this long (default 10s when -n is not given)")
	f.DurationVar(&opts.Warmup, "warmup", 0, "load without recording for this long first")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "per-request timeout (0 = none)")
	f.BoolVar(&opts.H2, "h2", false, "HTTP/2: h2 over TLS for https://, h2c (prior knowledge) for http://")
	f.StringVarP(&opts.Method, "method", "X", "", "HTTP method (default GET, POST with a body); Bolt: the RPC method")
	f.StringArrayVarP(&opts.Headers, "header", "H", nil, "request header \"Name: value\" (repeatable)")
	f.StringVar(&opts.Body, "body", "", "request body")
	f.StringVar(&opts.BodyFile, "body-file", "", "request body (Bolt: serialised payload) from a file")
	f.BoolVarP(&opts.Insecure, "insecure", "k", false, "skip TLS certificate verification")
	f.StringVar(&opts.Service, "service", "", "Bolt: service name (interface:version)")
	f.IntSliceVar(&opts.Weights, "weight", nil, "weights of the URLs, one per URL (e.g. --weight 3,1)")
	f.StringVar(&opts.Replay, "replay", "", "replay the HTTP/1 or Bolt requests of a pcap capture")
	f.StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")
	f.StringVar(&opts.IO, "io", "", "engine: epoll (event loops; closed loop over plain TCP on Linux, the default there) or goroutines")
	f.IntVar(&opts.Threads, "threads", 0, "event loops (default half the cores, at least 1)")
	f.StringArrayVar(&opts.Asserts, "assert", nil, "fail (exit 1) unless METRIC OP VALUE holds, e.g. 'p99<5ms', 'errors==0', 'rps>=20000'")
	f.StringVar(&opts.Compare, "compare", "", "baseline result (-o json of an earlier run) to compare with")
	f.StringVar(&opts.MaxRegression, "max-regression", "10%", "with --compare: largest allowed regression")
	f.StringVar(&opts.Serve, "serve", "", "run an echo server instead of a load: bolt (boltrpc's echo) until interrupted")
	f.StringVar(&opts.Listen, "listen", DefaultServeAddr, "with --serve: address to listen on")
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Run checks the options, runs the load and prints the result; with
// opts.Serve it runs that server until ctx is done instead.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if opts.Serve != "" {
		return runServe(ctx, opts, out)
	}
	if err := cli.CheckOutput(opts.Output); err != nil {
		return err
	}
	var asserts []bench.Assertion
	for _, s := range opts.Asserts {
		a, err := bench.ParseAssertion(s)
		if err != nil {
			return cli.Usage(err)
		}
		asserts = append(asserts, a)
	}
	var base *bench.Result
	var maxPct float64
	if opts.Compare != "" {
		f, err := os.Open(opts.Compare)
		if err != nil {
			return cli.Usagef("compare: %v", err)
		}
		base, err = bench.ReadResult(f)
		f.Close()
		if err != nil {
			return cli.Usagef("compare %s: %v", opts.Compare, err)
		}
		maxPct, err = strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(opts.MaxRegression), "%"), 64)
		if err != nil || maxPct < 0 {
			return cli.Usagef("bad --max-regression %q (want a percentage such as 10%%)", opts.MaxRegression)
		}
	}
	cfg := bench.Config{
		Targets: opts.Targets, Weights: opts.Weights, Conns: opts.Conns, Streams: opts.Streams,
		Rate: opts.Rate, Requests: opts.Requests, Duration: opts.Duration, Warmup: opts.Warmup,
		Timeout: opts.Timeout, H2: opts.H2, Method: opts.Method, Headers: opts.Headers,
		Insecure: opts.Insecure, Service: opts.Service, RPCMethod: opts.Method, Progress: opts.Progress,
		IO: opts.IO, Threads: opts.Threads,
	}
	if opts.Body != "" {
		cfg.Body = []byte(opts.Body)
	}
	if opts.BodyFile != "" {
		if opts.Body != "" {
			return cli.Usagef("give --body or --body-file, not both")
		}
		b, err := os.ReadFile(opts.BodyFile)
		if err != nil {
			return cli.Usagef("body file: %v", err)
		}
		cfg.Body = b
	}
	if opts.Replay != "" {
		reqs, err := bench.ReadReplay(opts.Replay)
		if err != nil {
			return cli.Usage(err)
		}
		cfg.Replay = reqs
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		if bench.IsUsage(err) {
			return cli.Usage(fmt.Errorf("bench: %w", err))
		}
		return cli.Failed(fmt.Errorf("bench: %w", err))
	}
	checkErr := bench.Evaluate(res, asserts, base, maxPct)
	if opts.Output == "json" {
		err = res.WriteJSON(out)
	} else {
		err = res.WriteTable(out)
	}
	if err != nil {
		return cli.Failed(fmt.Errorf("bench: write result: %w", err))
	}
	if checkErr != nil {
		return cli.Failed(checkErr)
	}
	if ctx.Err() != nil {
		return cli.Failed(errors.New("bench: interrupted"))
	}
	return nil
}
