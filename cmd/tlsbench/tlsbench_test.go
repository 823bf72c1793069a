package tlsbench

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/cli"
)

func TestBadInputIsUsageError(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown suite", []string{"--suite", "RC4-MD5"}, "valid: ECDHE-ECDSA-AES256-GCM-SHA384"},
		{"unknown engine", []string{"--engine", "rustls"}, "valid: go, boringcrypto, bssl, openssl"},
		{"unknown output", []string{"-o", "yaml"}, "unknown output format"},
		{"bad flag", []string{"--duration", "soon"}, "invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCommand()
			var out bytes.Buffer
			c.SetOut(&out)
			c.SetErr(&out)
			c.SetArgs(tc.args)
			c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usage(err) })
			err := c.ExecuteContext(context.Background())
			var ee *cli.ExitError
			if !errors.As(err, &ee) || ee.Code != cli.ExitUsage {
				t.Fatalf("err = %v, want a usage error (exit 2)", err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %q, want one line containing %q", err, tc.want)
			}
		})
	}
}
