package proxy

import (
	"testing"
	"unsafe"

	"github.com/mosnctl/mosnctl/internal/footprint"
)

// internal/network's footprint table says what the stream tracker keeps
// per connection.
func TestFootprintDoc(t *testing.T) {
	footprint.Check(t, map[string]uintptr{"proxy.http1ConnHandler": unsafe.Sizeof(http1ConnHandler{})})
}
