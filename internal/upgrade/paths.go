package upgrade

import (
	"fmt"
	"path/filepath"
)

// DefaultSocketPath is where serve with pid listens for upgrades when no
// path is configured: $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp, with
// getenv reading that process's environment.
func DefaultSocketPath(pid int, getenv func(string) string) string {
	dir := getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = getenv("TMPDIR")
	}
	if dir == "" {
		dir = "/tmp"
	}
	return filepath.Join(dir, fmt.Sprintf("mosnctl-%d.upgrade.sock", pid))
}
