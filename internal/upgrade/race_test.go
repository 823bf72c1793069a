//go:build race

package upgrade

// raceBuild: under `go test -race` the processes under test are built with
// the race detector too, so a race in the handover paths of serve fails
// the test (the old process exits 66; logs are checked for reports).
const raceBuild = true
