package tcpproxy

import (
	"testing"
	"unsafe"

	"github.com/mosnctl/mosnctl/internal/footprint"
)

// internal/network's footprint table says what a quiet pair keeps.
func TestFootprintDoc(t *testing.T) {
	footprint.Check(t, map[string]uintptr{"tcpproxy.pair": unsafe.Sizeof(pair{})})
}
