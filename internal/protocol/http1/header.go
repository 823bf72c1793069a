package http1

import (
	"encoding/binary"
	"math/bits"
)

// Header is one header field as it appeared on the wire. Both slices are views into the buffer the message was parsed
// from (or whatever the caller pointed them at when building a message by hand); Value has its leading and trailing
// optional whitespace removed.
type Header struct{ Name, Value []byte }

// isToken reports which bytes may appear in a token (RFC 9110 5.6.2 tchar): methods and field names. A table turns
// the per-byte check in the name loops into one load. It is filled once and only read afterwards.
var isToken = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// lowerTable maps A-Z to a-z and every other byte to itself: one load instead of a compare and branch per byte.
var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = byte(c) + 'a' - 'A'
	}
	return t
}()

// lower folds an ASCII upper-case letter to lower case and leaves every other byte alone.
func lower(c byte) byte { return lowerTable[c] }

// equalFold reports whether b and s are equal under ASCII case folding. Comparing against a string argument (not a
// []byte) lets callers pass any name without a conversion, so lookups never allocate.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerTable[b[i]] != lowerTable[s[i]] {
			return false
		}
	}
	return true
}

// equalFoldLower is equalFold for a lower-case s (the header names and tokens the codec itself looks for): only
// b's bytes need folding.
func equalFoldLower(b []byte, lowerS string) bool {
	if len(b) != len(lowerS) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerTable[b[i]] != lowerS[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes is equalFold for two byte slices.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerTable[a[i]] != lowerTable[b[i]] {
			return false
		}
	}
	return true
}

// lookup returns the value of the first header named name (ASCII case-insensitive).
func lookup(hs []Header, name string) ([]byte, bool) {
	for i := range hs {
		if equalFold(hs[i].Name, name) {
			return hs[i].Value, true
		}
	}
	return nil, false
}

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextListElement splits the first element off a comma-separated field value (RFC 9110 5.6.1), trimmed of OWS.
// It returns the element and the rest after the comma; ok is false once list is exhausted.
func nextListElement(list []byte) (elem, rest []byte, ok bool) {
	if len(list) == 0 {
		return nil, nil, false
	}
	for i := 0; i < len(list); i++ {
		if list[i] == ',' {
			return trimOWS(list[:i]), list[i+1:], true
		}
	}
	return trimOWS(list), nil, true
}

// hasToken reports whether the comma-separated list contains tok (ASCII case-insensitive), e.g. "close" in a
// Connection value.
func hasToken(list []byte, tok string) bool {
	for {
		e, rest, ok := nextListElement(list)
		if !ok {
			return false
		}
		if equalFold(e, tok) {
			return true
		}
		list = rest
	}
}

// SWAR constants: a byte-wise test over 8 bytes at a time. For x loaded little-endian, (x - lo*n) & ^x & hi is
// non-zero exactly when some byte of x is below n (n <= 0x80); XOR with 0x7f.. turns a DEL byte into zero, which the
// same test with n = 1 finds.
const (
	swarLo  = 0x0101010101010101
	swarHi  = 0x8080808080808080
	swarDEL = 0x7f7f7f7f7f7f7f7f
)

// hasCTL8 reports whether any of the 8 bytes in x is a CTL (0x00-0x1f or 0x7f).
func hasCTL8(x uint64) bool {
	y := x ^ swarDEL
	return ((x-swarLo*0x20)&^x|(y-swarLo)&^y)&swarHi != 0
}

// validFieldValue reports whether b holds no CTL except HTAB: field-vchar, obs-text, SP and HTAB only (RFC 9110
// 5.5). CR and LF count as CTLs, which is how a bare CR inside a line is refused. Eight bytes are tested per step
// because values (cookies, user agents) are the bulk of a head.
func validFieldValue(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if hasCTL8(binary.LittleEndian.Uint64(b[i:])) {
			break
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validTarget reports whether a request-target holds no CTL (HTAB included). Bytes >= 0x80 are let through: they
// are not valid URI characters but are common in the wild and cannot change how the message is framed.
func validTarget(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if hasCTL8(binary.LittleEndian.Uint64(b[i:])) {
			return false
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// indexCTL returns the index of the first CTL (0x00-0x1f or 0x7f) in b at or after i, or len(b) when there is none.
// The lowest flagged byte of the SWAR test is always a true hit (borrows only run upwards), so the trailing-zero
// count locates it exactly.
func indexCTL(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		y := x ^ swarDEL
		if m := ((x-swarLo*0x20)&^x | (y-swarLo)&^y) & swarHi; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == 0x7f {
			return i
		}
	}
	return len(b)
}

// EqualFold reports whether the header name b equals s under ASCII case
// folding, without allocating: for callers matching header names (the
// proxy's header edits).
func EqualFold(b []byte, s string) bool { return equalFold(b, s) }
