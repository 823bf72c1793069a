// Command childmain is tlsbench's child entry on its own, for tests: built
// plain it stands in for `mosnctl tlsbench child` (a -race test binary is
// slow to start as a child), built with GOEXPERIMENT=boringcrypto it is the
// boringcrypto engine, without building all of mosnctl.
package main

import (
	"context"
	"os"

	"github.com/mosnctl/mosnctl/internal/tlsbench"
)

func main() {
	os.Exit(tlsbench.ChildMain(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
