package bolt

import "encoding/binary"

// The header map is a sequence of entries, each `keyLen(4) key valueLen(4)
// value` with signed big-endian lengths. SOFARPC writes a negative length
// (-1) for a null string and skips entries whose key or value is null when
// it reads the map; Get and Range skip them the same way.

// readString reads one length-prefixed string at h[i:]. null is true for a
// negative length. ok is false when the bytes do not hold a whole string.
func readString(h []byte, i int) (s []byte, next int, null, ok bool) {
	if len(h)-i < 4 {
		return nil, i, false, false
	}
	n := int32(binary.BigEndian.Uint32(h[i:]))
	i += 4
	if n < 0 {
		return nil, i, true, true
	}
	if int64(n) > int64(len(h)-i) {
		return nil, i, false, false
	}
	end := i + int(n)
	return h[i:end:end], end, false, true
}

// nextEntry reads the entry at h[i:]. skip is true for an entry with a null
// key or value.
func nextEntry(h []byte, i int) (key, value []byte, next int, skip, ok bool) {
	key, i, keyNull, ok := readString(h, i)
	if !ok {
		return nil, nil, i, false, false
	}
	value, i, valueNull, ok := readString(h, i)
	if !ok {
		return nil, nil, i, false, false
	}
	return key, value, i, keyNull || valueNull, true
}

// checkHeaderMap verifies that the entries of h exactly fill it.
func checkHeaderMap(h []byte) error {
	for i := 0; i < len(h); {
		start := i
		var ok bool
		_, _, i, _, ok = nextEntry(h, i)
		if !ok {
			return errorf("bolt: header map entry at offset %d does not fit the %d-byte header map", start, len(h))
		}
	}
	return nil
}

// Get returns the value of the first entry of the header map named key.
// The value aliases the frame's buffer. It allocates nothing.
func (f *Frame) Get(key string) ([]byte, bool) {
	h := f.Header
	for i := 0; i < len(h); {
		k, v, next, skip, ok := nextEntry(h, i)
		if !ok {
			return nil, false
		}
		if !skip && string(k) == key {
			return v, true
		}
		i = next
	}
	return nil, false
}

// Range calls fn for each entry of the header map in wire order until fn
// returns false. key and value alias the frame's buffer. Entries with a null
// key or value are skipped; a malformed tail (possible only in a Frame built
// by hand) ends the walk.
func (f *Frame) Range(fn func(key, value []byte) bool) {
	h := f.Header
	for i := 0; i < len(h); {
		k, v, next, skip, ok := nextEntry(h, i)
		if !ok {
			return
		}
		if !skip && !fn(k, v) {
			return
		}
		i = next
	}
}

// AppendHeader appends one entry of the header map encoding to dst. Build a
// Frame's Header by appending entries to an empty (reused) slice.
func AppendHeader(dst []byte, key, value string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(key)))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// AppendHeaderBytes is AppendHeader for byte slices, for copying entries
// from a decoded frame without converting them to strings.
func AppendHeaderBytes(dst []byte, key, value []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(key)))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}
