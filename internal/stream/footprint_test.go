package stream

import (
	"testing"
	"unsafe"

	"github.com/mosnctl/mosnctl/internal/footprint"
)

// internal/network's footprint table says what this package's
// per-connection structs take.
func TestFootprintDoc(t *testing.T) {
	footprint.Check(t, map[string]uintptr{
		"stream.http1Conn":       unsafe.Sizeof(http1Conn{}),
		"stream.BoltDownstream":  unsafe.Sizeof(BoltDownstream{}),
		"stream.HTTP1ClientConn": unsafe.Sizeof(HTTP1ClientConn{}),
	})
}
