// Package footprint keeps the table of what an idle connection costs
// (internal/network's package doc) honest: the tests of the packages whose
// structs it lists compare their sizes with it. Tests only; it imports
// nothing of the data path.
package footprint

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Check fails t unless the table gives each named struct the size class
// of its size (from unsafe.Sizeof).
func Check(t testing.TB, sizes map[string]uintptr) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	doc := filepath.Join(filepath.Dir(file), "..", "network", "doc.go")
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	for name, size := range sizes {
		got := documented(t, string(b), name)
		if want := SizeClass(size); got != want {
			t.Errorf("internal/network/doc.go gives %s %d bytes; it takes %d (%d rounded up to its size class)", name, got, want, size)
		}
	}
}

func documented(t testing.TB, doc, name string) int {
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "//\t") {
			continue // rows are the comment's indented blocks
		}
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(f) >= 2 && f[0] == name {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("doc.go row %q: %v", line, err)
			}
			return n
		}
	}
	return -1
}

// SizeClass is the size of the heap allocation the Go runtime makes for
// an object of n bytes (its size classes up to 1 KiB).
func SizeClass(n uintptr) int {
	for _, c := range []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
		288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024} {
		if int(n) <= c {
			return c
		}
	}
	return int(n)
}
