package bolt

import (
	"bytes"
	"testing"
)

func benchRequest() []byte {
	return AppendFrame(nil, sofaRequest(1, bytes.Repeat([]byte{0x4f}, 200)))
}

func BenchmarkDecodeRequest(b *testing.B) {
	buf := benchRequest()
	var f Frame
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Decode(buf, &f, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	f := sofaRequest(1, bytes.Repeat([]byte{0x4f}, 200))
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(f.EncodedLen()))
	for b.Loop() {
		dst = AppendFrame(dst[:0], f)
	}
}

func BenchmarkGet(b *testing.B) {
	buf := benchRequest()
	var f Frame
	if _, err := Decode(buf, &f, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		// The trace id is the last entry: the worst case of the scan.
		if _, ok := f.Get(HeaderTraceID); !ok {
			b.Fatal("trace id not found")
		}
	}
}

// BenchmarkRewriteID is what a proxy does per forwarded frame: decode, read
// the routing key, rewrite the id in place.
func BenchmarkRewriteID(b *testing.B) {
	buf := benchRequest()
	var f Frame
	b.ReportAllocs()
	for i := uint32(0); b.Loop(); i++ {
		n, err := Decode(buf, &f, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := f.Get(HeaderService); !ok {
			b.Fatal("service not found")
		}
		PutRequestID(buf[:n], i)
	}
}

// TestHotPathAllocs pins the 0 allocs/op the benchmarks show, so a change
// that starts allocating fails CI rather than only a benchmark run.
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	buf := benchRequest()
	dst := make([]byte, 0, 1024)
	var f Frame
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Decode(buf, &f, 0); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.Get(HeaderTraceID); !ok {
			t.Fatal("trace id not found")
		}
		f.Range(func(k, v []byte) bool { return true })
		dst = AppendFrame(dst[:0], &f)
		PutRequestID(dst, 9)
	})
	if allocs != 0 {
		t.Errorf("decode/get/range/encode allocates %v times per frame, want 0", allocs)
	}
}
