package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// The static table must match x/net's decoder index for index.
func TestStaticTableMatchesXNet(t *testing.T) {
	for i := 1; i <= len(staticTable); i++ {
		fs, err := hpack.NewDecoder(4096, nil).DecodeFull([]byte{0x80 | byte(i)})
		if i >= 64 {
			fs, err = hpack.NewDecoder(4096, nil).DecodeFull(appendVarInt(nil, 0x80, 7, uint64(i)))
		}
		if err != nil || len(fs) != 1 {
			t.Fatalf("index %d: %v", i, err)
		}
		if fs[0].Name != staticTable[i-1][0] || fs[0].Value != staticTable[i-1][1] {
			t.Fatalf("index %d: ours %q, x/net %q", i, staticTable[i-1], fs[0])
		}
	}
}

// randomFields draws header lists that repeat, vary and evict, so both
// dynamic tables churn.
func randomFields(r *rand.Rand) [][2]string {
	names := []string{":method", ":path", ":authority", "content-type", "user-agent", "x-trace", "grpc-timeout", "cookie", "accept-encoding", "x-big"}
	var fs [][2]string
	for n := r.IntN(12); n > 0; n-- {
		name := names[r.IntN(len(names))]
		var v string
		switch r.IntN(4) {
		case 0:
			v = "GET"
		case 1:
			v = fmt.Sprintf("v%d", r.IntN(20))
		case 2:
			v = string(bytes.Repeat([]byte{byte('a' + r.IntN(26))}, r.IntN(1500)))
		default:
			v = "gzip, deflate"
		}
		fs = append(fs, [2]string{name, v})
	}
	return fs
}

// Our encoder's blocks decode with x/net's decoder, across table size changes.
func TestEncoderRoundTripXNet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var enc hpackEncoder
	enc.table.maxSize = 4096
	var got []hpack.HeaderField
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) { got = append(got, f) })
	for i := 0; i < 2000; i++ {
		if i%97 == 0 {
			size := uint32(r.IntN(4097))
			enc.setMaxSize(size)
			enc.setMaxSize(min(4096, size+uint32(r.IntN(100))))
		}
		fs := randomFields(r)
		var block []byte
		for _, f := range fs {
			block = enc.appendField(block, []byte(f[0]), []byte(f[1]), r.IntN(10) == 0)
		}
		got = got[:0]
		if _, err := dec.Write(block); err != nil || dec.Close() != nil {
			t.Fatalf("block %d: x/net decoder: %v", i, err)
		}
		if len(got) != len(fs) {
			t.Fatalf("block %d: %d fields, want %d", i, len(got), len(fs))
		}
		for j := range fs {
			if got[j].Name != fs[j][0] || got[j].Value != fs[j][1] {
				t.Fatalf("block %d field %d: %q, want %q", i, j, got[j], fs[j])
			}
		}
	}
}

// x/net's encoder's blocks decode with our decoder, across table size changes.
func TestDecoderRoundTripXNet(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	var d hpackDecoder
	d.table.maxSize, d.allowedMax = 4096, 4096
	var refs []fieldRef
	for i := 0; i < 2000; i++ {
		if i%89 == 0 {
			enc.SetMaxDynamicTableSize(uint32(r.IntN(4097)))
		}
		fs := randomFields(r)
		buf.Reset()
		for _, f := range fs {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1], Sensitive: r.IntN(10) == 0})
		}
		var over bool
		var err error
		refs, over, err = d.decode(buf.Bytes(), refs[:0], 1<<20)
		if err != nil || over {
			t.Fatalf("block %d: %v over=%v", i, err, over)
		}
		if len(refs) != len(fs) {
			t.Fatalf("block %d: %d fields, want %d", i, len(refs), len(fs))
		}
		for j, ref := range refs {
			n, v := d.arena.b[ref.name[0]:ref.name[1]], d.arena.b[ref.value[0]:ref.value[1]]
			if string(n) != fs[j][0] || string(v) != fs[j][1] {
				t.Fatalf("block %d field %d: %q=%q, want %q", i, j, n, v, fs[j])
			}
		}
	}
}

func TestVarIntRoundTrip(t *testing.T) {
	for _, n := range []uint{4, 5, 6, 7} {
		for _, v := range []uint64{0, 1, 14, 15, 16, 30, 31, 126, 127, 128, 1 << 14, 1<<32 - 1} {
			b := appendVarInt(nil, 0, n, v)
			got, rest, ok := readVarInt(n, b)
			if !ok || got != v || len(rest) != 0 {
				t.Fatalf("n=%d v=%d: got %d ok=%v rest=%d", n, v, got, ok, len(rest))
			}
		}
	}
	if _, _, ok := readVarInt(7, []byte{0x7f, 0x80, 0x80}); ok {
		t.Fatal("truncated integer accepted")
	}
	if _, _, ok := readVarInt(7, append([]byte{0x7f}, bytes.Repeat([]byte{0xff}, 12)...)); ok {
		t.Fatal("overlong integer accepted")
	}
}
