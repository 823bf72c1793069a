package tlsbench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mosnctl/mosnctl/internal/cli"
)

func TestBadInputIsUsageError(t *testing.T) {
	notJSON := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(notJSON, []byte("handshake_full 1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing report", []string{"--from", "/nonexistent/report.json"}, "tlsbench: --from: open /nonexistent/report.json: no such file or directory"},
		{"report not JSON", []string{"--from", notJSON}, "read tlsbench report: invalid character"},
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

// A report saved with -o json prints again as the same JSON and as a table.
func TestFromSavedReport(t *testing.T) {
	saved := `{"host":{"cpu_model":"Test CPU","cpu_flags":["aes"],"num_cpu":2,"server_cpu":1,"client_cpus":[0],"go_version":"go1.26.8","os":"linux","arch":"amd64","server_cpu_time":true},
"engines":[{"name":"go","available":true,"version":"go1.26.8"}],
"results":[{"engine":"go","suite":"TLS_AES_128_GCM_SHA256","tls_version":"1.3","curve":"X25519","cert":"ecdsa-p256","metric":"handshake_full","value":1234.5,"unit":"handshakes/s","server_cpu_s":0.5,"count":2469}]}`
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, []byte(saved), 0o600); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := Run(context.Background(), Options{From: path, Output: "table"}, &table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TLS_AES_128_GCM_SHA256 · TLS 1.3 · X25519", "handshake_full", "1234 1.00", "verdict"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := Run(context.Background(), Options{From: path, Output: "json"}, &js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"server_cpu_s": 0.5`) {
		t.Errorf("json lost server_cpu_s:\n%s", js.String())
	}
}
