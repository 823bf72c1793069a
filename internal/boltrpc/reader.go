package boltrpc

import (
	"errors"
	"io"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// frameReader cuts a byte stream into Bolt frames with one growable buffer.
// A returned frame aliases the buffer and is valid until the next call.
type frameReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	max        int
	err        error // sticky read error, returned once buffered frames are used up
}

const initialReadBuffer = 4 << 10

func newFrameReader(r io.Reader, maxFrameSize int) *frameReader {
	if maxFrameSize <= 0 {
		maxFrameSize = bolt.DefaultMaxFrameSize
	}
	return &frameReader{r: r, buf: make([]byte, initialReadBuffer), max: maxFrameSize}
}

// next decodes the next frame into f and returns its raw bytes. Errors are
// a *bolt.Error for malformed input, io.EOF for a clean end between frames,
// io.ErrUnexpectedEOF for an end inside a frame, or the read error.
func (fr *frameReader) next(f *bolt.Frame) ([]byte, error) {
	for {
		need := 0
		if fr.end > fr.start {
			unread := fr.buf[fr.start:fr.end]
			n, err := bolt.Decode(unread, f, fr.max)
			if err == nil {
				fr.start += n
				return unread[:n:n], nil
			}
			if !errors.Is(err, bolt.ErrNeedMore) {
				return nil, err
			}
			// Size the buffer for the whole frame once its length is known,
			// so a large frame costs one grow instead of many.
			need, _ = bolt.FrameLen(unread, fr.max)
		}
		if fr.err != nil {
			if fr.err == io.EOF && fr.end > fr.start {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, fr.err
		}
		fr.makeRoom(need)
		n, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += n
		fr.err = err
	}
}

// makeRoom moves unread bytes to the front and grows the buffer so that a
// frame of need bytes fits and at least one byte can be read.
func (fr *frameReader) makeRoom(need int) {
	unread := fr.end - fr.start
	if need < unread+1 {
		need = unread + 1
	}
	if need > len(fr.buf) {
		size := 2 * len(fr.buf)
		if size < need {
			size = need
		}
		buf := make([]byte, size)
		copy(buf, fr.buf[fr.start:fr.end])
		fr.buf, fr.start, fr.end = buf, 0, unread
		return
	}
	if fr.start > 0 && len(fr.buf)-fr.start < need {
		copy(fr.buf, fr.buf[fr.start:fr.end])
		fr.start, fr.end = 0, unread
	} else if fr.start == fr.end {
		fr.start, fr.end = 0, 0
	}
}
