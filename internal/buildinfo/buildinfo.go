// Package buildinfo holds the version stamped into the binary at link time
// (-ldflags "-X github.com/mosnctl/mosnctl/internal/buildinfo.Version=...").
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the linker; the defaults describe a plain `go build`.
var (
	Version = "dev"
	Commit  = ""
)

// Info is what `mosnctl version` and the admin API report.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// Get returns the build information, falling back to the VCS stamp Go
// records when the linker did not set a commit.
func Get() Info {
	commit := Commit
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return Info{Version: Version, Commit: commit, GoVersion: runtime.Version()}
}
