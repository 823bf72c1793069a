// Package top implements `mosnctl top`: flags in, a live terminal view of a
// running proxy (or one snapshot with --once) out. The model and the admin
// API client live in internal/top.
package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/top"
)

// DefaultAdmin is serve's default admin address.
const DefaultAdmin = "127.0.0.1:34901"

// Options are the flags of `mosnctl top`.
type Options struct {
	Admin       string
	Interval    time.Duration
	Once        bool
	Output      string
	Width       int // --once -o table
	StreamLimit int
}

// NewCommand builds the top command.
func NewCommand() *cobra.Command {
	opts := Options{}
	c := &cobra.Command{
		Use:   "top",
		Short: "Watch a running proxy: rates, listeners, clusters and hosts, streams in flight",
		Long: `top polls a proxy's admin API and shows, refreshed every --interval:

  Overview   requests/s, errors/s, connections, streams, p50/p99 latency,
             with sparklines of the last minute; version and uptime
  Listeners  connections, request rates and latency per listener
  Clusters   per cluster and host: health, weight, active requests, rps,
             error rate, connect failures, timeouts
  Streams    requests in flight, the oldest first so stuck ones stand out;
             s sorts by age or bytes, / filters

Keys: tab/shift-tab or 1-4 switch tabs, arrows or j/k move, s sort,
/ filter, p pause, ? help, q quit. When the admin API cannot be reached the
screen says so and keeps retrying.

--once prints one snapshot (-o json for scripts, -o table for people) and
exits 1 when the admin API cannot be reached.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return Run(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Admin, "admin", DefaultAdmin, "admin API address of the proxy (host:port or URL)")
	f.DurationVar(&opts.Interval, "interval", time.Second, "time between polls")
	f.BoolVar(&opts.Once, "once", false, "print one snapshot and exit")
	f.StringVarP(&opts.Output, "output", "o", "table", "output format with --once: table or json")
	f.IntVar(&opts.Width, "width", 120, "table width with --once -o table")
	f.IntVar(&opts.StreamLimit, "streams", 500, "streams to fetch per poll (the oldest, or the biggest when sorted by bytes)")
	return c
}

// Run polls once (--once) or runs the terminal UI until q or ctx ends.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if err := cli.CheckOutput(opts.Output); err != nil {
		return err
	}
	if opts.Interval < 100*time.Millisecond {
		return cli.Usagef("--interval %s: want at least 100ms", opts.Interval)
	}
	if opts.StreamLimit < 1 || opts.StreamLimit > 10000 {
		return cli.Usagef("--streams %d: want 1 to 10000", opts.StreamLimit)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	client, err := top.NewClient(opts.Admin, max(opts.Interval, time.Second))
	if err != nil {
		return cli.Usage(err)
	}
	defer client.Close()
	if opts.Once {
		snap, err := client.Fetch(ctx, top.StreamsQuery{Limit: opts.StreamLimit})
		if err != nil {
			return cli.Failed(fmt.Errorf("top: %w", err))
		}
		if opts.Output == "json" {
			return top.WriteJSON(out, snap)
		}
		return top.WriteTables(out, snap, max(opts.Width, 40))
	}
	if f, ok := out.(*os.File); !ok || !term.IsTerminal(f.Fd()) {
		return cli.Usagef("top: the output is not a terminal; use --once for a snapshot")
	}
	m := top.New(top.Config{Admin: client.Addr(), Interval: opts.Interval, Fetch: client.Fetch, StreamLimit: opts.StreamLimit})
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithOutput(out))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		return cli.Failed(fmt.Errorf("top: %w", err))
	}
	return nil
}
