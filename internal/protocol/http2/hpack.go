package http2

import (
	"golang.org/x/net/http2/hpack"
)

// staticTable is RFC 7541 Appendix A; index i+1 is staticTable[i].
var staticTable = [61][2]string{
	{":authority", ""},
	{":method", "GET"},
	{":method", "POST"},
	{":path", "/"},
	{":path", "/index.html"},
	{":scheme", "http"},
	{":scheme", "https"},
	{":status", "200"},
	{":status", "204"},
	{":status", "206"},
	{":status", "304"},
	{":status", "400"},
	{":status", "404"},
	{":status", "500"},
	{"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"},
	{"accept-language", ""},
	{"accept-ranges", ""},
	{"accept", ""},
	{"access-control-allow-origin", ""},
	{"age", ""},
	{"allow", ""},
	{"authorization", ""},
	{"cache-control", ""},
	{"content-disposition", ""},
	{"content-encoding", ""},
	{"content-language", ""},
	{"content-length", ""},
	{"content-location", ""},
	{"content-range", ""},
	{"content-type", ""},
	{"cookie", ""},
	{"date", ""},
	{"etag", ""},
	{"expect", ""},
	{"expires", ""},
	{"from", ""},
	{"host", ""},
	{"if-match", ""},
	{"if-modified-since", ""},
	{"if-none-match", ""},
	{"if-range", ""},
	{"if-unmodified-since", ""},
	{"last-modified", ""},
	{"link", ""},
	{"location", ""},
	{"max-forwards", ""},
	{"proxy-authenticate", ""},
	{"proxy-authorization", ""},
	{"range", ""},
	{"referer", ""},
	{"refresh", ""},
	{"retry-after", ""},
	{"server", ""},
	{"set-cookie", ""},
	{"strict-transport-security", ""},
	{"transfer-encoding", ""},
	{"user-agent", ""},
	{"vary", ""},
	{"via", ""},
	{"www-authenticate", ""},
}

// staticByName maps a name to its first static index; entries with one name
// are adjacent, so the encoder scans forward from there for a value match.
var staticByName = func() map[string]int {
	m := make(map[string]int, len(staticTable))
	for i := len(staticTable) - 1; i >= 0; i-- {
		m[staticTable[i][0]] = i + 1
	}
	return m
}()

// entryOverhead is the per-entry size RFC 7541 §4.1 adds to name and value.
const entryOverhead = 32

// tableEntry keeps name and value in one buffer that is reused when the
// slot is recycled, so a warm table adds entries without allocating.
type tableEntry struct {
	buf     []byte
	nameLen int
}

func (e *tableEntry) name() []byte  { return e.buf[:e.nameLen] }
func (e *tableEntry) value() []byte { return e.buf[e.nameLen:] }
func (e *tableEntry) size() uint32  { return uint32(len(e.buf)) + entryOverhead }

// dynTable is an HPACK dynamic table: a ring of entries, newest last.
type dynTable struct {
	ring    []tableEntry
	start   int // oldest entry
	n       int
	size    uint32
	maxSize uint32
}

// at returns dynamic entry k, 0 being the newest (HPACK index 62).
func (t *dynTable) at(k int) *tableEntry {
	return &t.ring[(t.start+t.n-1-k)%len(t.ring)]
}

func (t *dynTable) evictTo(limit uint32) {
	for t.n > 0 && t.size > limit {
		e := &t.ring[t.start]
		t.size -= e.size()
		t.start = (t.start + 1) % len(t.ring)
		t.n--
	}
}

func (t *dynTable) setMaxSize(v uint32) {
	t.maxSize = v
	t.evictTo(v)
}

// add inserts an entry; one larger than the table empties it (RFC 7541 §4.4).
func (t *dynTable) add(name, value []byte) {
	sz := uint32(len(name)+len(value)) + entryOverhead
	if sz > t.maxSize {
		t.evictTo(0)
		return
	}
	t.evictTo(t.maxSize - sz)
	if t.n == len(t.ring) {
		t.grow()
	}
	e := &t.ring[(t.start+t.n)%len(t.ring)]
	e.buf = append(append(e.buf[:0], name...), value...)
	e.nameLen = len(name)
	t.n++
	t.size += sz
}

func (t *dynTable) grow() {
	nr := make([]tableEntry, max(8, 2*len(t.ring)))
	for i := 0; i < t.n; i++ { // only called when full: every slot is an entry
		nr[i] = t.ring[(t.start+i)%len(t.ring)]
	}
	t.ring = nr
	t.start = 0
}

// appendVarInt appends an HPACK integer with an n-bit prefix; first holds
// the representation's flag bits (RFC 7541 §5.1).
func appendVarInt(dst []byte, first byte, n uint, v uint64) []byte {
	k := uint64(1)<<n - 1
	if v < k {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(k))
	v -= k
	for v >= 128 {
		dst = append(dst, byte(v&0x7f|0x80))
		v >>= 7
	}
	return append(dst, byte(v))
}

// readVarInt reads an HPACK integer with an n-bit prefix from p.
func readVarInt(n uint, p []byte) (uint64, []byte, bool) {
	if len(p) == 0 {
		return 0, p, false
	}
	k := uint64(1)<<n - 1
	v := uint64(p[0]) & k
	if v < k {
		return v, p[1:], true
	}
	p = p[1:]
	var m uint
	for len(p) > 0 {
		b := p[0]
		p = p[1:]
		v += uint64(b&0x7f) << m
		if b&0x80 == 0 {
			return v, p, true
		}
		m += 7
		if m >= 63 { // no legitimate integer is this long
			return 0, nil, false
		}
	}
	return 0, nil, false
}

// hpackDecoder decodes header blocks into an arena of bytes it owns, so
// fields are byte views that cost no allocation once the arena is warm.
type hpackDecoder struct {
	table      dynTable
	allowedMax uint32 // largest table size the peer may ask for (our SETTINGS)
	arena      arena
}

// arena is an append-only byte buffer reset per header block.
type arena struct{ b []byte }

func (a *arena) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// fieldRef locates a decoded field in the arena.
type fieldRef struct {
	name, value [2]int
	sensitive   bool
}

// decode decodes one complete header block, appending fields to refs.
// Once the decoded list grows past maxList, fields are no longer copied but
// the block is still walked so the dynamic table stays in step with the
// peer's; over reports that. err is a COMPRESSION_ERROR.
func (d *hpackDecoder) decode(p []byte, refs []fieldRef, maxList uint32) (_ []fieldRef, over bool, err error) {
	d.arena.b = d.arena.b[:0]
	var listSize uint64
	first := true
	for len(p) > 0 {
		b := p[0]
		if b&0xe0 != 0x20 {
			first = false
		}
		switch {
		case b&0x80 != 0: // indexed field
			idx, rest, ok := readVarInt(7, p)
			if !ok || idx == 0 {
				return refs, over, errCompression
			}
			p = rest
			name, value, ok := d.lookup(idx)
			if !ok {
				return refs, over, errCompression
			}
			listSize += uint64(len(name)+len(value)) + entryOverhead
			if listSize > uint64(maxList) {
				over = true
				continue
			}
			refs = append(refs, d.copyField(name, value, false))
		case b&0xe0 == 0x20: // dynamic table size update
			if !first {
				return refs, over, errCompression
			}
			v, rest, ok := readVarInt(5, p)
			if !ok || v > uint64(d.allowedMax) {
				return refs, over, errCompression
			}
			p = rest
			d.table.setMaxSize(uint32(v))
		default:
			var n uint = 4
			indexing := false
			sensitive := false
			switch {
			case b&0xc0 == 0x40:
				n, indexing = 6, true
			case b&0xf0 == 0x10:
				sensitive = true
			}
			idx, rest, ok := readVarInt(n, p)
			if !ok {
				return refs, over, errCompression
			}
			p = rest
			start := len(d.arena.b)
			if idx == 0 {
				if p, ok = d.readString(p); !ok {
					return refs, over, errCompression
				}
			} else {
				name, _, ok := d.lookup(idx)
				if !ok {
					return refs, over, errCompression
				}
				d.arena.b = append(d.arena.b, name...)
			}
			mid := len(d.arena.b)
			if p, ok = d.readString(p); !ok {
				return refs, over, errCompression
			}
			end := len(d.arena.b)
			if indexing {
				d.table.add(d.arena.b[start:mid], d.arena.b[mid:end])
			}
			listSize += uint64(end-start) + entryOverhead
			if listSize > uint64(maxList) {
				over = true
				d.arena.b = d.arena.b[:start]
			} else {
				refs = append(refs, fieldRef{name: [2]int{start, mid}, value: [2]int{mid, end}, sensitive: sensitive})
			}
		}
	}
	return refs, over, nil
}

func (d *hpackDecoder) copyField(name, value []byte, sensitive bool) fieldRef {
	s := len(d.arena.b)
	d.arena.b = append(d.arena.b, name...)
	m := len(d.arena.b)
	d.arena.b = append(d.arena.b, value...)
	return fieldRef{name: [2]int{s, m}, value: [2]int{m, len(d.arena.b)}, sensitive: sensitive}
}

func (d *hpackDecoder) lookup(idx uint64) (name, value []byte, ok bool) {
	if idx == 0 {
		return nil, nil, false
	}
	if idx <= uint64(len(staticTable)) {
		e := &staticTable[idx-1]
		return strBytes(e[0]), strBytes(e[1]), true
	}
	k := idx - uint64(len(staticTable)) - 1
	if k >= uint64(d.table.n) {
		return nil, nil, false
	}
	e := d.table.at(int(k))
	return e.name(), e.value(), true
}

// readString appends one string literal from p to the arena.
func (d *hpackDecoder) readString(p []byte) ([]byte, bool) {
	if len(p) == 0 {
		return nil, false
	}
	huff := p[0]&0x80 != 0
	n, rest, ok := readVarInt(7, p)
	if !ok || n > uint64(len(rest)) {
		return nil, false
	}
	s := rest[:n]
	if huff {
		if _, err := hpack.HuffmanDecode(&d.arena, s); err != nil {
			return nil, false
		}
	} else {
		d.arena.b = append(d.arena.b, s...)
	}
	return rest[n:], true
}

// hpackEncoder writes header blocks. It keeps its own dynamic table (the
// peer's decoder mirrors it) and copies what it indexes, so callers may
// reuse their field buffers as soon as a write returns.
type hpackEncoder struct {
	table dynTable
	// A size change waits for the next block; minSize is the smallest size
	// seen since, which must be signalled first (RFC 7541 §4.2).
	pendingResize bool
	minSize       uint32
	lower         []byte
}

func (e *hpackEncoder) setMaxSize(v uint32) {
	if !e.pendingResize || v < e.minSize {
		e.minSize = v
	}
	e.pendingResize = true
	e.table.setMaxSize(v)
}

// neverIndex lists fields whose values change per message: indexing them
// would only evict entries that do repeat.
func neverIndex(name []byte) bool {
	switch string(name) {
	case "content-length", "date", "etag", "last-modified", "if-modified-since",
		"if-none-match", "location", "set-cookie", "age", "expires", "grpc-timeout",
		"x-request-id", "authorization", "cookie":
		return true
	}
	return false
}

// appendField appends one field's representation to dst.
func (e *hpackEncoder) appendField(dst []byte, name, value []byte, sensitive bool) []byte {
	if e.pendingResize {
		e.pendingResize = false
		if e.minSize < e.table.maxSize {
			// The table shrank and grew again. x/net's decoder (grpc-go's)
			// takes a second update only on an empty table, so signal 0
			// and empty ours too: both sides still evict alike.
			e.table.evictTo(0)
			dst = appendVarInt(dst, 0x20, 5, 0)
		}
		dst = appendVarInt(dst, 0x20, 5, uint64(e.table.maxSize))
	}
	nameIdx := 0
	if si, ok := staticByName[string(name)]; ok {
		nameIdx = si
		if !sensitive {
			for i := si; i <= len(staticTable) && staticTable[i-1][0] == string(name); i++ {
				if staticTable[i-1][1] == string(value) {
					return appendVarInt(dst, 0x80, 7, uint64(i))
				}
			}
		}
	}
	if !sensitive {
		for k := 0; k < e.table.n; k++ {
			ent := e.table.at(k)
			if string(ent.name()) != string(name) {
				continue
			}
			if string(ent.value()) == string(value) {
				return appendVarInt(dst, 0x80, 7, uint64(len(staticTable)+1+k))
			}
			if nameIdx == 0 {
				nameIdx = len(staticTable) + 1 + k
			}
		}
	}
	index := false
	switch {
	case sensitive:
		dst = appendVarInt(dst, 0x10, 4, uint64(nameIdx))
	case neverIndex(name) || uint32(len(name)+len(value))+entryOverhead > e.table.maxSize*3/4:
		dst = appendVarInt(dst, 0x00, 4, uint64(nameIdx))
	default:
		dst = appendVarInt(dst, 0x40, 6, uint64(nameIdx))
		index = true
	}
	if nameIdx == 0 {
		dst = appendString(dst, name)
	}
	dst = appendString(dst, value)
	if index {
		// Added after the name index was resolved, as the peer's decoder does.
		e.table.add(name, value)
	}
	return dst
}

// appendString appends a string literal, Huffman-coded when that is shorter.
func appendString(dst, s []byte) []byte {
	str := bytesStr(s)
	if hl := hpack.HuffmanEncodeLength(str); hl < uint64(len(s)) {
		dst = appendVarInt(dst, 0x80, 7, hl)
		return hpack.AppendHuffmanString(dst, str)
	}
	dst = appendVarInt(dst, 0, 7, uint64(len(s)))
	return append(dst, s...)
}
