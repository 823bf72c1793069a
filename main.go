// Command mosnctl is a multi-call binary: a service-mesh data plane (serve)
// and the tools its operators use around it. Invoked through a symlink named
// after a subcommand (busybox style), it runs that subcommand.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/cmd/bench"
	"github.com/mosnctl/mosnctl/cmd/hwprobe"
	"github.com/mosnctl/mosnctl/cmd/serve"
	"github.com/mosnctl/mosnctl/cmd/tlsbench"
	"github.com/mosnctl/mosnctl/cmd/top"
	"github.com/mosnctl/mosnctl/cmd/upgrade"
	"github.com/mosnctl/mosnctl/cmd/version"
	"github.com/mosnctl/mosnctl/cmd/xds"
	"github.com/mosnctl/mosnctl/internal/cli"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "mosnctl",
		Short:         "A service-mesh data plane and the tools around it",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		bench.NewCommand(),
		serve.NewCommand(),
		tlsbench.NewCommand(),
		upgrade.NewCommand(),
		top.NewCommand(),
		hwprobe.NewCommand(),
		version.NewCommand(),
		xds.NewCommand(),
	)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, newRoot(), os.Args, os.Stderr)
	stop()
	os.Exit(code)
}
