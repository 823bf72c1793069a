package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzDecode seed files")

// fuzzSeeds are the named seed inputs: valid frames of each kind and the
// malformed shapes the decoder must reject.
func fuzzSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	for _, tc := range roundTripCases() {
		seeds["valid-"+strings.ReplaceAll(tc.name, " ", "-")] = AppendFrame(nil, tc.f)
	}
	req := AppendFrame(nil, sofaRequest(3, []byte("hessian-bytes")))
	seeds["valid-two-frames"] = append(append([]byte{}, req...), AppendHeartbeatResponse(nil, 4, CodecHessian2)...)
	seeds["valid-error-response"] = AppendErrorResponse(nil, 5, CodecHessian2, StatusTimeout)
	seeds["partial-request"] = req[:len(req)/2]
	seeds["bad-proto"] = []byte{0x02, 0x01, 0x00, 0x01}
	seeds["bad-type"] = []byte{0x01, 0x07, 0x00, 0x01}
	seeds["bad-cmdcode"] = []byte{0x01, 0x01, 0x00, 0x09}
	huge := append([]byte{}, req...)
	binary.BigEndian.PutUint32(huge[18:], 0xfffffff0)
	seeds["huge-content-len"] = huge
	badMap := append([]byte{}, req...)
	binary.BigEndian.PutUint32(badMap[RequestHeaderLen+len(ClassRequest):], 0x7ffffff0)
	seeds["bad-header-map"] = badMap
	nullMap := AppendFrame(nil, &Frame{Type: TypeRequest, CmdCode: CmdRequest,
		Header: []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 'v'}})
	seeds["null-key-header"] = nullMap
	return seeds
}

// TestFuzzSeedsCurrent keeps the seed files in step with fuzzSeeds; run with
// -update-seeds to rewrite them.
func TestFuzzSeedsCurrent(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for name, b := range fuzzSeeds() {
		path := filepath.Join(dir, name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzSeedsCurrent -update-seeds)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (run go test -run TestFuzzSeedsCurrent -update-seeds)", path)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr Frame
		n, err := Decode(data, &fr, 1<<20)
		if err != nil {
			var be *Error
			if !errors.Is(err, ErrNeedMore) && !errors.As(err, &be) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if n != 0 {
				t.Fatalf("n = %d with error %v", n, err)
			}
			return
		}
		if n <= 0 || n > len(data) || n != fr.Len {
			t.Fatalf("n = %d, Len = %d, len(data) = %d", n, fr.Len, len(data))
		}
		fr.Range(func(k, v []byte) bool {
			if got, ok := fr.Get(string(k)); !ok || len(got) > len(fr.Header) {
				t.Fatalf("Range yielded %q but Get does not find it", k)
			}
			return true
		})

		// The encoding is canonical: re-encoding gives the same bytes, and
		// decoding those gives the same frame.
		enc := AppendFrame(nil, &fr)
		if !bytes.Equal(enc, data[:n]) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", data[:n], enc)
		}
		var again Frame
		m, err := Decode(enc, &again, 1<<20)
		if err != nil || m != n {
			t.Fatalf("decoding the re-encoding: n=%d err=%v", m, err)
		}
		if again.Type != fr.Type || again.CmdCode != fr.CmdCode || again.Version != fr.Version ||
			again.RequestID != fr.RequestID || again.Codec != fr.Codec || again.Timeout != fr.Timeout ||
			again.Status != fr.Status || !bytes.Equal(again.Class, fr.Class) ||
			!bytes.Equal(again.Header, fr.Header) || !bytes.Equal(again.Content, fr.Content) {
			t.Fatalf("round trip changed the frame:\n %+v\n %+v", fr, again)
		}
	})
}
