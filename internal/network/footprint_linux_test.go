//go:build linux

package network

import (
	"testing"
	"unsafe"

	"github.com/mosnctl/mosnctl/internal/footprint"
)

// The footprint table of doc.go says what the structs take.
func TestFootprintDoc(t *testing.T) {
	footprint.Check(t, map[string]uintptr{
		"network.Conn":     unsafe.Sizeof(Conn{}),
		"network.fdConn":   unsafe.Sizeof(fdConn{}),
		"network.InFlight": unsafe.Sizeof(InFlight{}),
	})
}
