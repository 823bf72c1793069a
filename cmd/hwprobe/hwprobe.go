// Package hwprobe implements `mosnctl hwprobe`: flags in, a report of the
// host's TLS, DPDK and QAT acceleration out. The probing lives in
// internal/hwprobe.
package hwprobe

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/hwprobe"
)

// Options are the flags of `mosnctl hwprobe`.
type Options struct {
	Output  string
	Root    string
	Capture string
}

// NewCommand builds the hwprobe command.
func NewCommand() *cobra.Command {
	opts := Options{}
	c := &cobra.Command{
		Use:   "hwprobe",
		Short: "Report the CPU, hugepage, IOMMU, NIC and QAT acceleration this host offers",
		Long: `hwprobe reads /proc, /sys and /dev (read-only, no root needed) and reports what
the host offers the proxy: CPU crypto and vector features, NUMA layout,
hugepages and hugetlbfs, IOMMU and vfio/uio modules, NICs and whether DPDK can
drive them, and Intel QuickAssist devices. A verdict names every missing
prerequisite with the command that fixes it.

--root reads a captured tree instead of the live host; --capture saves every
file read so the tree can be attached to a bug report and read back with --root.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return Run(c.Context(), opts, c.OutOrStdout())
		},
	}
	c.Flags().StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")
	c.Flags().StringVar(&opts.Root, "root", "/", "read /proc, /sys and /dev under this directory (a captured tree)")
	c.Flags().StringVar(&opts.Capture, "capture", "", "copy every file read into this directory, for --root or a bug report")
	return c
}

// Run probes and prints the report.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if err := cli.CheckOutput(opts.Output); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	r, err := hwprobe.Probe(ctx, hwprobe.Options{Root: opts.Root, Capture: opts.Capture})
	if err != nil {
		return cli.Failed(err)
	}
	if opts.Output == "json" {
		return hwprobe.WriteJSON(out, r)
	}
	return hwprobe.WriteTable(out, r)
}
