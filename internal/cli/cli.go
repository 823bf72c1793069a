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

// DispatchArgs returns the arguments cobra should see: when argv[0]'s base
// name is one of root's subcommands (a symlink such as serve -> mosnctl), that
// subcommand is prepended.
func DispatchArgs(root *cobra.Command, argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	base := filepath.Base(argv[0])
	if base != root.Name() {
		for _, c := range root.Commands() {
			if c.Name() == base || c.HasAlias(base) {
				return append([]string{c.Name()}, argv[1:]...)
			}
		}
	}
	return argv[1:]
}

// Execute runs root with argv and returns the process exit code; the error,
// if any, is printed to errOut on one line.
func Execute(ctx context.Context, root *cobra.Command, argv []string, errOut io.Writer) int {
	root.SetArgs(DispatchArgs(root, argv))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return Usage(err) })
	err := root.ExecuteContext(ctx)
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
