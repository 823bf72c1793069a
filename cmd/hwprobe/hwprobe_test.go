package hwprobe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosnctl/mosnctl/internal/cli"
)

var fixture = filepath.Join("..", "..", "internal", "hwprobe", "testdata", "hosts", "dpdk-host")

func TestRunTableAndJSON(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Output: "table", Root: fixture}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "VERDICT") || !strings.Contains(out.String(), "0000:18:00.1") {
		t.Errorf("table lacks the verdict or the vfio-bound NIC:\n%s", out.String())
	}
	out.Reset()
	if err := Run(context.Background(), Options{Output: "json", Root: fixture}, &out); err != nil {
		t.Fatal(err)
	}
	var r struct {
		SchemaVersion int `json:"schema_version"`
		Verdicts      []struct {
			Area, Status string
		} `json:"verdicts"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.SchemaVersion != 1 || len(r.Verdicts) != 3 {
		t.Errorf("json = %+v", r)
	}
}

func TestRunErrors(t *testing.T) {
	var ee *cli.ExitError
	err := Run(context.Background(), Options{Output: "yaml", Root: fixture}, &bytes.Buffer{})
	if !errors.As(err, &ee) || ee.Code != cli.ExitUsage {
		t.Errorf("bad -o: err %v, want a usage error", err)
	}
	err = Run(context.Background(), Options{Output: "table", Root: filepath.Join(t.TempDir(), "missing")}, &bytes.Buffer{})
	if !errors.As(err, &ee) || ee.Code != cli.ExitFailed {
		t.Errorf("missing root: err %v, want a failed run", err)
	}
}

func TestCommandFlags(t *testing.T) {
	c := NewCommand()
	dir := t.TempDir()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetArgs([]string{"--root", fixture, "--capture", dir, "-o", "json"})
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := Run(context.Background(), Options{Output: "json", Root: dir}, &again); err != nil {
		t.Fatal(err)
	}
	// Same report apart from the root line.
	strip := func(b []byte) string {
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, `"root":`) {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	if strip(out.Bytes()) != strip(again.Bytes()) {
		t.Error("report from the capture differs from the original")
	}
}
