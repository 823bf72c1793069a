// Package tlsbench implements `mosnctl tlsbench`: Go's crypto/tls against
// the boringcrypto build, BoringSSL and OpenSSL on this host, per suite.
package tlsbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/tlsbench"
)

// Options are the flags of `mosnctl tlsbench`.
type Options struct {
	Engines, Suites, Curves, Metrics []string
	Duration, Timeout                time.Duration
	Conns, Size, ServerCPU, Repeat   int
	BoringBinary                     string
	Output                           string
	From                             string
}

// NewCommand builds the tlsbench command and its hidden child mode.
func NewCommand() *cobra.Command {
	opts := Options{}
	c := &cobra.Command{
		Use:   "tlsbench",
		Short: "Compare Go crypto/tls, boringcrypto, BoringSSL and OpenSSL per cipher suite on this host",
		Long: `tlsbench runs each engine's TLS server pinned to one CPU (--server-cpu) and drives
it with one common Go client, per suite and curve: handshakes/s (full and resumed),
bulk MB/s each way with 16 KiB records, server CPU per 1000 handshakes and per GB,
and the primitives (AEAD seal, ECDHE, signatures). Engines that are not installed
are reported and skipped. The boringcrypto engine is mosnctl-boring beside this
binary (GOEXPERIMENT=boringcrypto build) unless --boring-binary says otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return Run(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opts.Engines, "engine", nil, "engines: go, boringcrypto, bssl, openssl (default all)")
	f.StringSliceVar(&opts.Suites, "suite", nil, "suites by name, or tls12, tls13 (default all)")
	f.StringSliceVar(&opts.Curves, "curve", nil, "key exchange: X25519, P-256 (default both)")
	f.StringSliceVar(&opts.Metrics, "metric", nil, "metrics, or handshake, bulk, primitives (default all)")
	f.DurationVar(&opts.Duration, "duration", time.Second, "measuring time of each cell")
	f.IntVar(&opts.Repeat, "repeat", 1, "runs per cell; the median is reported (for busy machines)")
	f.IntVar(&opts.Conns, "conns", 1, "concurrent client connections (openssl and bssl serve one at a time; their bulk cells use one)")
	f.IntVar(&opts.Size, "size", 16384, "bulk write size in bytes")
	f.IntVar(&opts.ServerCPU, "server-cpu", -1, "CPU the server under test is pinned to (default the last one; the client gets the others)")
	f.StringVar(&opts.BoringBinary, "boring-binary", "", "GOEXPERIMENT=boringcrypto build of mosnctl (default mosnctl-boring beside this binary)")
	f.DurationVar(&opts.Timeout, "timeout", 5*time.Second, "server start and per-operation timeout")
	f.StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")
	f.StringVar(&opts.From, "from", "", "print a report saved with -o json instead of measuring")
	c.AddCommand(newChildCommand())
	return c
}

// newChildCommand is the hidden entry of tlsbench's child processes.
func newChildCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "child",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			if code := tlsbench.ChildMain(c.Context(), args, os.Stdin, c.OutOrStdout(), c.ErrOrStderr()); code != 0 {
				return &cli.ExitError{Code: code, Err: fmt.Errorf("tlsbench child failed")}
			}
			return nil
		},
	}
}

// Run measures and prints the report.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if err := cli.CheckOutput(opts.Output); err != nil {
		return err
	}
	if opts.From != "" {
		return printSaved(opts, out)
	}
	exe, err := os.Executable()
	if err != nil {
		return cli.Failed(fmt.Errorf("tlsbench: find own binary: %w", err))
	}
	boring := opts.BoringBinary
	if boring == "" {
		boring = filepath.Join(filepath.Dir(exe), "mosnctl-boring")
	}
	childArgs := []string{"tlsbench", "child"}
	topts := tlsbench.Options{
		Engines: opts.Engines, Suites: opts.Suites, Curves: opts.Curves, Metrics: opts.Metrics,
		Duration: opts.Duration, Repeat: opts.Repeat, Conns: opts.Conns, Size: opts.Size, ServerCPU: opts.ServerCPU, Timeout: opts.Timeout,
		Self:   tlsbench.Child{Path: exe, Args: childArgs},
		Boring: tlsbench.Child{Path: boring, Args: childArgs},
	}
	if err := tlsbench.Validate(topts); err != nil {
		return cli.Usage(fmt.Errorf("tlsbench: %w", err))
	}
	if isTerminal(os.Stderr) {
		topts.Progress = func(done, total int, what string) {
			fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d] %s", done+1, total, what)
		}
	}
	rep, err := tlsbench.Run(ctx, topts)
	if topts.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		return cli.Failed(fmt.Errorf("tlsbench: %w", err))
	}
	if opts.Output == "json" {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteTable(out)
	}
	if err != nil {
		return err
	}
	if len(rep.Errors) > 0 {
		return cli.Failed(fmt.Errorf("tlsbench: %d cells failed", len(rep.Errors)))
	}
	return nil
}

// printSaved prints a saved report. A missing or unreadable file is bad
// input, a usage error as bench's --compare file is.
func printSaved(opts Options, out io.Writer) error {
	f, err := os.Open(opts.From)
	if err != nil {
		return cli.Usage(fmt.Errorf("tlsbench: --from: %w", err))
	}
	defer f.Close()
	rep, err := tlsbench.ReadJSON(f)
	if err != nil {
		return cli.Usage(fmt.Errorf("tlsbench: --from %s: %w", opts.From, err))
	}
	if opts.Output == "json" {
		return rep.WriteJSON(out)
	}
	return rep.WriteTable(out)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
