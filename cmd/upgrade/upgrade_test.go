package upgrade

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/upgrade"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
		code int
	}{
		{Options{Output: "yaml", PID: 1, Timeout: 1}, "yaml", cli.ExitUsage},
		{Options{Output: "table", Timeout: 1}, "--pid is required", cli.ExitUsage},
		{Options{Output: "table", PID: 5, Timeout: -1}, "--timeout", cli.ExitUsage},
		{Options{Output: "json", PID: 1 << 30, Timeout: 1}, "no process", cli.ExitFailed},
	} {
		var out bytes.Buffer
		err := Run(context.Background(), tc.opts, &out)
		var ee *cli.ExitError
		if !errors.As(err, &ee) || ee.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want exit %d and %q", tc.opts, err, tc.code, tc.want)
		}
	}
}

// TestTableGolden: the progress lines and summary of a successful upgrade.
func TestTableGolden(t *testing.T) {
	var out bytes.Buffer
	for _, e := range []upgrade.Event{
		{Event: "listeners", PID: 200, OldPID: 100, Listeners: []upgrade.ListenerReport{{Name: "web", Address: "127.0.0.1:8080", Inherited: true}, {Name: "@admin", Address: "127.0.0.1:34901", Inherited: true}}},
		{Event: "ready", PID: 200, OldPID: 100},
		{Event: "migrating", PID: 200, OldPID: 100, Received: 17},
		{Event: "done", PID: 200, OldPID: 100},
	} {
		printEvent(&out, e)
	}
	printSummary(&out, &upgrade.Result{OldPID: 100, NewPID: 200, Serving: 200, Binary: "/usr/bin/mosnctl", Config: "config of pid 100",
		Listeners: []upgrade.ListenerReport{{Name: "web", Inherited: true}, {Name: "@admin", Inherited: true}},
		ReadyMs:   31.7, HandoverMs: 4.25, Migrated: 28, Finished: 1, OldExited: true})
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		os.WriteFile(golden, out.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("table differs from %s (go test -update rewrites it):\n%s", golden, out.String())
	}
}
