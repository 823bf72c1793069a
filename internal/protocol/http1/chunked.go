package http1

const (
	// MaxChunkSizeLine bounds one chunk-size line, extensions included, so a peer cannot make us scan forever.
	MaxChunkSizeLine = 4 << 10
	// MaxTrailerBytes bounds the trailer section after the last chunk, final CRLF included.
	MaxTrailerBytes = 16 << 10
	// maxChunkSize keeps size*16 + digit inside int64.
	maxChunkSize = (1<<63 - 1) >> 4
)

var (
	errChunkSize     = &Error{400, "invalid chunk size"}
	errChunkSizeLine = &Error{400, "chunk size line too long"}
	errChunkExt      = &Error{400, "invalid chunk extension"}
	errChunkCRLF     = &Error{400, "missing CRLF after chunk"}
	errTrailer       = &Error{400, "invalid trailer field"}
	errTrailerSize   = &Error{400, "trailer section too large"}
)

type chunkState uint8

const (
	csSize         chunkState = iota // expecting the first hex digit of a chunk size
	csSizeDigits                     // inside the hex digits
	csSizeWS                         // whitespace after the digits; only ';' or more whitespace may follow
	csExt                            // inside chunk extensions, until CR
	csSizeLF                         // CR seen at the end of the size line
	csData                           // chunk payload, remain bytes left
	csDataCR                         // expecting CR after the payload
	csDataLF                         // expecting LF after the payload
	csTrailerLine                    // at the start of a trailer line (or of the final CRLF)
	csTrailerName                    // inside a trailer field name
	csTrailerValue                   // inside a trailer field value, until CR
	csTrailerLF                      // CR seen at the end of a trailer line
	csEndLF                          // CR of the final empty line seen
	csDone
	csFailed
)

// ChunkedReader walks a chunked body (RFC 9112 7.1) incrementally over whatever bytes have arrived, so a proxy can
// forward a body of any size without buffering it. The zero value is ready to use; Reset it between bodies.
type ChunkedReader struct {
	state    chunkState
	remain   int64 // payload bytes left in the current chunk, or the size being accumulated
	lineLen  int   // bytes of the current size line
	trailers int   // bytes of the trailer section so far
	err      error // sticky once failed
}

// Reset prepares c for a new body.
func (c *ChunkedReader) Reset() { *c = ChunkedReader{} }

// Done reports whether the whole body, trailers and final CRLF included, has been consumed.
func (c *ChunkedReader) Done() bool { return c.state == csDone }

// Next consumes a prefix of buf and returns how many bytes it took, the chunk payload within that prefix (a
// subslice of buf, possibly empty when only framing was consumed) and whether the body is complete. Unless it
// returns an error or done, it consumes at least one byte of a non-empty buf. It stops after one contiguous run of
// payload, so call it again with buf[consumed:]. The consumed bytes, framing included, are what a proxy forwards
// verbatim to an HTTP/1 peer. Bytes after the end of the body are left alone. Errors are *Error{400} and sticky.
func (c *ChunkedReader) Next(buf []byte) (consumed int, data []byte, done bool, err error) {
	switch c.state {
	case csDone:
		return 0, nil, true, nil
	case csFailed:
		return 0, nil, false, c.err
	}
	dataStart, dataEnd := -1, -1
	i := 0
	for i < len(buf) {
		if c.state == csData {
			if dataStart >= 0 {
				// A second run of payload would not be contiguous with the first: let the caller come back.
				return i, buf[dataStart:dataEnd], false, nil
			}
			n := len(buf) - i
			if int64(n) > c.remain {
				n = int(c.remain)
			}
			dataStart, dataEnd = i, i+n
			i += n
			c.remain -= int64(n)
			if c.remain == 0 {
				c.state = csDataCR
			}
			continue
		}
		b := buf[i]
		i++
		switch c.state {
		case csSize, csSizeDigits:
			c.lineLen++
			if d := unhex(b); d < 16 {
				if c.remain > maxChunkSize {
					return c.fail(errChunkSize)
				}
				c.remain = c.remain<<4 | int64(d)
				c.state = csSizeDigits
				break
			}
			if c.state == csSize {
				return c.fail(errChunkSize)
			}
			switch b {
			case '\r':
				c.state = csSizeLF
			case ';':
				c.state = csExt
			case ' ', '\t':
				c.state = csSizeWS
			default:
				return c.fail(errChunkSize)
			}
		case csSizeWS:
			c.lineLen++
			switch b {
			case ' ', '\t':
			case ';':
				c.state = csExt
			default:
				return c.fail(errChunkSize)
			}
		case csExt:
			// Extensions are skipped, not interpreted; only bytes that could end or break the line are refused.
			c.lineLen++
			if b == '\r' {
				c.state = csSizeLF
			} else if (b < 0x20 && b != '\t') || b == 0x7f {
				return c.fail(errChunkExt)
			}
		case csSizeLF:
			if b != '\n' {
				return c.fail(errChunkSize)
			}
			c.lineLen = 0
			if c.remain == 0 {
				c.state = csTrailerLine
			} else {
				c.state = csData
			}
			continue
		case csDataCR:
			if b != '\r' {
				return c.fail(errChunkCRLF)
			}
			c.state = csDataLF
		case csDataLF:
			if b != '\n' {
				return c.fail(errChunkCRLF)
			}
			c.state = csSize
		case csTrailerLine:
			c.trailers++
			switch {
			case b == '\r':
				c.state = csEndLF
			case isToken[b]:
				c.state = csTrailerName
			default:
				// Includes obs-fold (SP/HTAB) and an empty field name.
				return c.fail(errTrailer)
			}
		case csTrailerName:
			c.trailers++
			if b == ':' {
				c.state = csTrailerValue
			} else if !isToken[b] {
				return c.fail(errTrailer)
			}
		case csTrailerValue:
			c.trailers++
			if b == '\r' {
				c.state = csTrailerLF
			} else if (b < 0x20 && b != '\t') || b == 0x7f {
				return c.fail(errTrailer)
			}
		case csTrailerLF:
			c.trailers++
			if b != '\n' {
				return c.fail(errTrailer)
			}
			c.state = csTrailerLine
		case csEndLF:
			c.trailers++
			if b != '\n' {
				return c.fail(errTrailer)
			}
			c.state = csDone
			return i, c.payload(buf, dataStart, dataEnd), true, nil
		}
		if c.lineLen > MaxChunkSizeLine {
			return c.fail(errChunkSizeLine)
		}
		if c.trailers > MaxTrailerBytes {
			return c.fail(errTrailerSize)
		}
	}
	return i, c.payload(buf, dataStart, dataEnd), false, nil
}

func (c *ChunkedReader) payload(buf []byte, start, end int) []byte {
	if start < 0 {
		return nil
	}
	return buf[start:end]
}

func (c *ChunkedReader) fail(err *Error) (int, []byte, bool, error) {
	c.state, c.err = csFailed, err
	return 0, nil, false, err
}

// unhex returns the value of a hex digit, or 16 for any other byte.
func unhex(b byte) byte {
	switch {
	case b-'0' < 10:
		return b - '0'
	case lower(b)-'a' < 6:
		return lower(b) - 'a' + 10
	}
	return 16
}
