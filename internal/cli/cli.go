// Package cli holds what every subcommand shares: busybox dispatch on
// argv[0], exit codes and the output-format flag. It imports no other
// internal package.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes: 0 ok, 1 a failed run or check, 2 bad usage.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// ExitError carries the exit code a command wants beside its error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Usage wraps err so that the process exits with ExitUsage.
func Usage(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Usagef formats a usage error.
func Usagef(format string, a ...any) error { return Usage(fmt.Errorf(format, a...)) }

// Failed wraps err so that the process exits with ExitFailed.
func Failed(err error) error { return &ExitError{Code: ExitFailed, Err: err} }

// DispatchArgs returns the arguments cobra should see. Invoked under root's
// name, or a name starting with it (mosnctl-boring, mosnctl-new for an
// upgrade, mosnctl.test), that is argv[1:]; invoked through a symlink named
// after a subcommand (serve -> mosnctl), the subcommand then argv[1:]. Any
// other name is a usage error: the link is misnamed, and running whatever
// argv[1] says instead would surprise.
func DispatchArgs(root *cobra.Command, argv []string) ([]string, error) {
	if len(argv) == 0 {
		return nil, nil
	}
	base := filepath.Base(argv[0])
	if strings.HasPrefix(base, root.Name()) {
		return argv[1:], nil
	}
	var names []string
	for _, c := range root.Commands() {
		if c.Name() == base || c.HasAlias(base) {
			return append([]string{c.Name()}, argv[1:]...), nil
		}
		if c.IsAvailableCommand() && c.Name() != "help" && c.Name() != "completion" {
			names = append(names, c.Name())
		}
	}
	return nil, Usagef("unknown command name %q (invoked as %s); use %s <command> or a symlink named %s",
		base, argv[0], root.Name(), strings.Join(names, "|"))
}

// Execute runs root with argv and returns the process exit code; the error,
// if any, is printed to errOut on one line.
func Execute(ctx context.Context, root *cobra.Command, argv []string, errOut io.Writer) int {
	args, err := DispatchArgs(root, argv)
	if err == nil {
		root.SetArgs(args)
		root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return Usage(err) })
		err = root.ExecuteContext(ctx)
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(errOut, "%s: %v\n", root.Name(), err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	// cobra's own errors (unknown command, bad args) are usage errors.
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") ||
		strings.HasPrefix(err.Error(), "unknown flag") || strings.HasPrefix(err.Error(), "required flag") {
		return ExitUsage
	}
	return ExitFailed
}

// CheckOutput validates an -o/--output value.
func CheckOutput(format string) error {
	switch format {
	case "table", "json", "":
		return nil
	}
	return Usagef("unknown output format %q (want table or json)", format)
}
