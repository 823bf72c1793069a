// Package version implements `mosnctl version`.
package version

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/buildinfo"
	"github.com/mosnctl/mosnctl/internal/cli"
)

// Options are the flags of `mosnctl version`.
type Options struct {
	Output string
}

// NewCommand builds the version command.
func NewCommand() *cobra.Command {
	opts := Options{}
	c := &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return Run(opts, c.OutOrStdout())
		},
	}
	c.Flags().StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")
	return c
}

// Run prints the build information.
func Run(opts Options, out io.Writer) error {
	if err := cli.CheckOutput(opts.Output); err != nil {
		return err
	}
	info := buildinfo.Get()
	if opts.Output == "json" {
		return json.NewEncoder(out).Encode(info)
	}
	_, err := fmt.Fprintf(out, "mosnctl %s\ncommit: %s\ngo: %s\n", info.Version, info.Commit, info.GoVersion)
	return err
}
