package boltrpc

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

func TestFrameReader(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i, size := range []int{0, 10, 5000, 100, 70000, 3} {
		content := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, content)
		stream = bolt.AppendFrame(stream, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest,
			RequestID: uint32(i), Content: content})
	}
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(stream)},
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(stream))},
		{"half reads", iotest.HalfReader(bytes.NewReader(stream))},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(stream))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFrameReader(tc.r, 0)
			var f bolt.Frame
			for i, content := range want {
				raw, err := fr.next(&f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.RequestID != uint32(i) || !bytes.Equal(f.Content, content) || len(raw) != f.Len {
					t.Fatalf("frame %d: id %d, %d content bytes, raw %d", i, f.RequestID, len(f.Content), len(raw))
				}
			}
			if _, err := fr.next(&f); err != io.EOF {
				t.Fatalf("after last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestFrameReaderErrors(t *testing.T) {
	frame := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Content: []byte("abc")})
	tests := []struct {
		name  string
		input []byte
		max   int
		check func(error) bool
	}{
		{"truncated", frame[:len(frame)-1], 0, func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"malformed", []byte{0x05}, 0, func(err error) bool { _, ok := errors.AsType[*bolt.Error](err); return ok }},
		{"too large", frame, 10, func(err error) bool { _, ok := errors.AsType[*bolt.Error](err); return ok }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(tc.input), tc.max)
			var f bolt.Frame
			if _, err := fr.next(&f); !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
