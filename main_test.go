package main

import (
	"bytes"
	"context"
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
		{[]string{"/opt/notacommand", "version"}, []string{"version"}},
	} {
		got := cli.DispatchArgs(root, tc.argv)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("DispatchArgs(%q) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		code int
		msg  string
	}{
		{[]string{"mosnctl", "version"}, 0, ""},
		{[]string{"mosnctl", "nosuch"}, 2, "unknown command"},
		{[]string{"mosnctl", "version", "--nosuch"}, 2, "unknown flag"},
		{[]string{"mosnctl", "version", "-o", "xml"}, 2, "unknown output format"},
		{[]string{"serve", "--check", "-c", "testdata/bad-config.json"}, 2, `servers[0].listeners[0].adress: unknown field (did you mean "address"?)`},
		{[]string{"serve", "--check", "-c", "testdata/bench-http1.json"}, 0, ""},
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
