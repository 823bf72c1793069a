package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosnctl/mosnctl/internal/cli"
)

func TestBusyboxDispatch(t *testing.T) {
	root := newRoot()
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"/usr/bin/mosnctl", "version"}, []string{"version"}},
		{[]string{"/usr/local/bin/serve", "-c", "x.json"}, []string{"serve", "-c", "x.json"}},
		{[]string{"./version"}, []string{"version"}},
		{[]string{"mosnctl"}, []string{}},
		{[]string{"bin/mosnctl-boring", "tlsbench", "child"}, []string{"tlsbench", "child"}},
		{[]string{"/tmp/x/mosnctl-new", "serve"}, []string{"serve"}},
	} {
		got, err := cli.DispatchArgs(root, tc.argv)
		if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("DispatchArgs(%q) = %q, %v; want %q", tc.argv, got, err, tc.want)
		}
	}
}

// A binary named neither mosnctl nor a command says so instead of running
// whatever its arguments name.
func TestBusyboxUnknownName(t *testing.T) {
	var errOut bytes.Buffer
	root := newRoot()
	root.SetOut(&errOut)
	code := cli.Execute(context.Background(), root, []string{"/opt/foo", "version"}, &errOut)
	want := `mosnctl: unknown command name "foo" (invoked as /opt/foo); use mosnctl <command> or a symlink named ` +
		"bench|hwprobe|serve|tlsbench|top|upgrade|version\n"
	if code != 2 || errOut.String() != want {
		t.Errorf("exit %d, output %q; want exit 2, %q", code, errOut.String(), want)
	}
}

// serveCheckConfig is a valid config for `serve --check` cases to break.
const serveCheckConfig = `{"servers": [{"listeners": [{"name": "in", "address": "127.0.0.1:2045",
  "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "c"}}]}]}]}],
 "cluster_manager": {"clusters": [{"name": "c", "hosts": [{"address": "127.0.0.1:1"}, {"address": "127.0.0.1:2", "weight": 128}]}]}}`

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	// writeConfig saves serveCheckConfig with old replaced by new.
	writeConfig := func(name, old, new string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Replace(serveCheckConfig, old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, nil, 0o600); err != nil || os.Truncate(huge, 64<<20+1) != nil {
		t.Fatal("cannot make a sparse file")
	}
	for _, tc := range []struct {
		argv []string
		code int
		msg  string
	}{
		{[]string{"serve", "--check", "-c", writeConfig("ok.json", "", "")}, 0, ""},
		{[]string{"serve", "--check", "-c", huge}, 2, "over the 64 MiB limit for a config"},
		{[]string{"serve", "--check", "-c", writeConfig("weight.json", `"weight": 128`, `"weight": 200`)}, 2,
			"cluster_manager.clusters[0].hosts[1].weight: weight 200 out of range 1-128"},
		{[]string{"serve", "--check", "-c", writeConfig("nolisteners.json", serveCheckConfig, `{"servers": [{"listeners": []}]}`)}, 2,
			"servers[0].listeners: no listeners"},
		{[]string{"mosnctl", "version"}, 0, ""},
		{[]string{"mosnctl", "nosuch"}, 2, "unknown command"},
		{[]string{"mosnctl", "version", "--nosuch"}, 2, "unknown flag"},
		{[]string{"mosnctl", "version", "-o", "xml"}, 2, "unknown output format"},
		{[]string{"serve", "--check", "-c", "testdata/bad-config.json"}, 2, `servers[0].listeners[0].adress: unknown field (did you mean "address"?)`},
		{[]string{"serve", "--check", "-c", "testdata/bench-http1.json"}, 0, ""},
		{[]string{"mosnctl", "tlsbench", "--from", "/nonexistent/report.json"}, 2, "no such file"},
		{[]string{"mosnctl", "bench", "--compare", "/nonexistent/report.json", "http://127.0.0.1:1/"}, 2, "no such file"},
	} {
		var errOut bytes.Buffer
		root := newRoot()
		root.SetOut(&bytes.Buffer{})
		code := cli.Execute(context.Background(), root, tc.argv, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d containing %q", tc.argv, code, errOut.String(), tc.code, tc.msg)
		}
	}
}
