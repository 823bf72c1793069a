package http2

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzApp answers what it is given so the fuzzer reaches the write paths:
// a head gets a response with a body, DATA is consumed, Writable resumes.
type fuzzApp struct{ c *Conn }

func (a *fuzzApp) Headers(id uint32, h *Headers, end bool) {
	if h.Trailers {
		return
	}
	a.c.WriteHeaders(id, []Field{F(":status", "200"), F("x-path", string(h.Path))}, false)
	a.c.WriteData(id, h.Path, end)
}
func (a *fuzzApp) Data(id uint32, p []byte, end bool) {
	a.c.Consumed(id, len(p))
	if end {
		a.c.WriteTrailers(id, []Field{F("grpc-status", "0")})
	}
}
func (a *fuzzApp) Reset(uint32, *StreamError) {}
func (a *fuzzApp) Writable(id uint32)         { a.c.WriteData(id, []byte("more"), true) }
func (a *fuzzApp) Control(*Event)             {}

// runFrames feeds in to a fresh server engine after a valid preface, in
// pieces cut at the given points, and returns its output and error.
func runFrames(in []byte, cuts ...int) ([]byte, error) {
	app := &fuzzApp{}
	c := NewServerConn(Config{MaxConcurrentStreams: 8, MaxHeaderListSize: 8 << 10, ResetBudget: 16}, app)
	app.c = c
	var out []byte
	var err error
	feed := func(p []byte) {
		if err == nil {
			err = c.Feed(p)
		}
		out = append(out, c.Output()...)
		c.Advance(len(c.Output()))
	}
	feed([]byte(ClientPreface))
	prev := 0
	for _, cut := range cuts {
		if cut > prev && cut < len(in) {
			feed(in[prev:cut])
			prev = cut
		}
	}
	feed(in[prev:])
	if c.ActiveStreams() > 8 {
		return out, errors.New("more streams open than advertised")
	}
	return out, err
}

// FuzzFrames feeds arbitrary frames to a server engine. It must not panic,
// must write only frames x/net's Framer accepts, must end a failed
// connection with GOAWAY, and must not depend on how the input is split.
func FuzzFrames(f *testing.F) {
	for _, seed := range frameSeeds() {
		f.Add(seed, uint16(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole, err := runFrames(in)
		if err != nil && err.Error() == "more streams open than advertised" {
			t.Fatal(err)
		}
		split, err2 := runFrames(in, int(cut)%(len(in)+1))
		if !bytes.Equal(whole, split) || (err == nil) != (err2 == nil) {
			t.Fatalf("output depends on the read split: %v vs %v", err, err2)
		}
		fr := http2.NewFramer(nil, bytes.NewReader(whole))
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		fr.SetMaxReadFrameSize(1 << 24)
		var last http2.FrameType
		for {
			fm, rerr := fr.ReadFrame()
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				t.Fatalf("engine wrote a frame x/net rejects: %v", rerr)
			}
			last = fm.Header().Type
		}
		var ce *ConnError
		if errors.As(err, &ce) && last != http2.FrameGoAway {
			t.Fatalf("connection error %v not followed by GOAWAY (last frame %v)", err, last)
		}
	})
}

// FuzzHeaderBlock decodes two arbitrary header blocks in sequence (the
// second sees the table the first built) with our decoder and x/net's:
// whatever we accept, x/net must accept with the same fields. We may refuse
// more: a size update after a field, which x/net tolerates on an empty table.
func FuzzHeaderBlock(f *testing.F) {
	for _, seed := range blockSeeds() {
		f.Add(seed, uint16(len(seed)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		k := int(cut) % (len(in) + 1)
		var d hpackDecoder
		d.table.maxSize, d.allowedMax = 4096, 4096
		var got []hpack.HeaderField
		xd := hpack.NewDecoder(4096, func(f hpack.HeaderField) { got = append(got, f) })
		var refs []fieldRef
		for _, block := range [][]byte{in[:k], in[k:]} {
			var err error
			var over bool
			refs, over, err = d.decode(block, refs[:0], 1<<20)
			if err != nil {
				return
			}
			if over {
				t.Fatal("list over 1 MiB from a short block")
			}
			got = got[:0]
			_, xerr := xd.Write(block)
			if xerr == nil {
				xerr = xd.Close()
			}
			if xerr != nil && len(block) > 0 {
				t.Fatalf("we accepted a block x/net rejects (%v): %x", xerr, block)
			}
			if len(block) == 0 {
				continue
			}
			if len(got) != len(refs) {
				t.Fatalf("%d fields, x/net %d", len(refs), len(got))
			}
			for i, r := range refs {
				n, v := d.arena.b[r.name[0]:r.name[1]], d.arena.b[r.value[0]:r.value[1]]
				if string(n) != got[i].Name || string(v) != got[i].Value || r.sensitive != got[i].Sensitive {
					t.Fatalf("field %d: %q=%q, x/net %v", i, n, v, got[i])
				}
			}
		}
	})
}

// frameSeeds are valid and broken frame sequences written with x/net's Framer.
func frameSeeds() [][]byte {
	var seeds [][]byte
	add := func(build func(w *http2.Framer, enc *hpack.Encoder, eb *bytes.Buffer)) {
		var buf, eb bytes.Buffer
		w := http2.NewFramer(&buf, nil)
		w.AllowIllegalWrites = true
		enc := hpack.NewEncoder(&eb)
		w.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
		build(w, enc, &eb)
		seeds = append(seeds, buf.Bytes())
	}
	block := func(enc *hpack.Encoder, eb *bytes.Buffer, kv ...string) []byte {
		eb.Reset()
		for i := 0; i < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return bytes.Clone(eb.Bytes())
	}
	req := []string{":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/p", "content-length", "5"}
	add(func(w *http2.Framer, enc *hpack.Encoder, eb *bytes.Buffer) {
		w.WriteSettingsAck()
		w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, eb, req...), EndHeaders: true})
		w.WriteData(1, false, []byte("ab"))
		w.WriteDataPadded(1, false, []byte("cde"), make([]byte, 7))
		w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, eb, "x-t", "1"), EndHeaders: true, EndStream: true})
		w.WriteWindowUpdate(0, 1000)
		w.WriteWindowUpdate(1, 1000)
		w.WritePing(false, [8]byte{1})
		w.WriteGoAway(0, http2.ErrCodeNo, []byte("bye"))
	})
	add(func(w *http2.Framer, enc *hpack.Encoder, eb *bytes.Buffer) {
		b := block(enc, eb, req...)
		w.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b[:3], Priority: http2.PriorityParam{StreamDep: 1, Weight: 9}})
		w.WriteContinuation(3, false, b[3:6])
		w.WriteContinuation(3, true, b[6:])
		w.WriteRSTStream(3, http2.ErrCodeCancel)
		w.WritePriority(5, http2.PriorityParam{StreamDep: 3})
	})
	add(func(w *http2.Framer, enc *hpack.Encoder, eb *bytes.Buffer) {
		for id := uint32(1); id < 24; id += 2 {
			w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(enc, eb, ":method", "GET", ":scheme", "http", ":path", "/", "TE", "gzip"), EndHeaders: true, EndStream: true})
		}
		w.WriteData(2, false, []byte("idle"))
	})
	add(func(w *http2.Framer, enc *hpack.Encoder, eb *bytes.Buffer) {
		w.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 100}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20})
		w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x3f, 0xe1, 0x1f, 0x82}, EndHeaders: true})
	})
	add(func(w *http2.Framer, enc *hpack.Encoder, eb *bytes.Buffer) {
		w.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, []byte{9})
		w.WriteRawFrame(0xee, 0, 0, []byte("unknown"))
	})
	return seeds
}

// blockSeeds are header blocks from x/net's encoder and ours.
func blockSeeds() [][]byte {
	var eb bytes.Buffer
	enc := hpack.NewEncoder(&eb)
	var seeds [][]byte
	for _, kv := range [][]string{grpcRequest, grpcRequest, {":status", "200", "set-cookie", "a=b", "x-long", string(bytes.Repeat([]byte("z"), 300))}} {
		eb.Reset()
		for i := 0; i < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1], Sensitive: kv[i] == "set-cookie"})
		}
		seeds = append(seeds, bytes.Clone(eb.Bytes()))
	}
	var ours hpackEncoder
	ours.table.maxSize = 4096
	ours.setMaxSize(256)
	var b []byte
	for i := 0; i < len(grpcRequest); i += 2 {
		b = ours.appendField(b, []byte(grpcRequest[i]), []byte(grpcRequest[i+1]), false)
	}
	seeds = append(seeds, b, []byte{0x20, 0x3f, 0xe1, 0x1f}, []byte{0xbe}, []byte{0x40, 0x81, 0xff, 0x00})
	return seeds
}
