// Package upgrade implements `mosnctl upgrade`: replace a running serve
// (new binary or new config) without closing a listener or dropping a
// connection.
package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/upgrade"
)

// Options are the flags of `mosnctl upgrade`.
type Options struct {
	PID     int
	Binary  string
	Config  string
	Socket  string
	Timeout time.Duration
	Output  string
}

// NewCommand builds the upgrade command.
func NewCommand() *cobra.Command {
	opts := Options{}
	c := &cobra.Command{
		Use:   "upgrade --pid N [--binary PATH] [--config FILE]",
		Short: "Hot-upgrade a running serve: new binary or config, no dropped connection",
		Long: `Start a new serve process that takes over the listening sockets of the
running one (pid N), then its keep-alive HTTP/1 and Bolt connections between
requests; the old process drains what is left and exits. Without --binary the
old process's executable runs again (a reload: with --config, of a new config).
If the new process fails before it is ready, the old one keeps serving
unchanged and upgrade exits 1 with the reason.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return Run(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.IntVar(&opts.PID, "pid", 0, "pid of the running mosnctl serve (required)")
	f.StringVar(&opts.Binary, "binary", "", "new executable (default: the running one's)")
	f.StringVarP(&opts.Config, "config", "c", "", "config for the new process (default: the running config)")
	f.StringVar(&opts.Socket, "socket", "", "the running process's upgrade socket (default: found from its flags and environment)")
	f.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "give up when the new process is not ready (or the handover not done) within this")
	f.StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")
	return c
}

// Run performs the upgrade, printing progress (table mode) and a summary.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if err := cli.CheckOutput(opts.Output); err != nil {
		return err
	}
	if opts.PID <= 0 {
		return cli.Usagef("upgrade: --pid is required (the running serve's process id)")
	}
	if opts.Timeout <= 0 {
		return cli.Usagef("upgrade: --timeout must be positive")
	}
	table := opts.Output != "json"
	var progress func(upgrade.Event)
	if table {
		progress = func(e upgrade.Event) { printEvent(out, e) }
	}
	res, err := upgrade.Spawn(ctx, upgrade.SpawnOptions{PID: opts.PID, Binary: opts.Binary, Config: opts.Config,
		Socket: opts.Socket, Timeout: opts.Timeout}, progress)
	if err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	if table {
		if res.Serving == res.NewPID { // the new process took over
			printSummary(out, res)
		}
	} else {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	}
	if err != nil {
		return cli.Failed(err)
	}
	return nil
}

func printEvent(out io.Writer, e upgrade.Event) {
	switch e.Event {
	case "listeners":
		var names []string
		for _, l := range e.Listeners {
			names = append(names, l.Name+" "+l.Address)
		}
		fmt.Fprintf(out, "new process %d received %d listening sockets from pid %d: %s\n", e.PID, len(e.Listeners), e.OldPID, strings.Join(names, ", "))
	case "ready":
		fmt.Fprintf(out, "new process %d serving; pid %d stopped accepting and hands over its connections\n", e.PID, e.OldPID)
	case "migrating":
		fmt.Fprintf(out, "connections handed over so far: %d\n", e.Received)
	case "done":
		fmt.Fprintf(out, "handover done\n")
	case "error":
		fmt.Fprintf(out, "error: %s\n", e.Error)
	}
}

func printSummary(out io.Writer, r *upgrade.Result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "old pid\t%d\n", r.OldPID)
	fmt.Fprintf(tw, "new pid\t%d\n", r.NewPID)
	fmt.Fprintf(tw, "serving pid\t%d\n", r.Serving)
	fmt.Fprintf(tw, "binary\t%s\n", r.Binary)
	fmt.Fprintf(tw, "config\t%s\n", r.Config)
	inherited := 0
	for _, l := range r.Listeners {
		if l.Inherited {
			inherited++
		}
	}
	fmt.Fprintf(tw, "listeners passed\t%d (%d kept)\n", len(r.Listeners), inherited)
	fmt.Fprintf(tw, "ready after\t%.1f ms\n", r.ReadyMs)
	fmt.Fprintf(tw, "handover took\t%.1f ms\n", r.HandoverMs)
	fmt.Fprintf(tw, "connections migrated\t%d\n", r.Migrated)
	fmt.Fprintf(tw, "refused by new config\t%d\n", r.Refused)
	fmt.Fprintf(tw, "finished in old\t%d\n", r.Finished)
	fmt.Fprintf(tw, "cut at drain timeout\t%d\n", r.Cut)
	fmt.Fprintf(tw, "old process exited\t%v\n", r.OldExited)
	if r.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", r.Error)
	}
	tw.Flush()
}
