package bench

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"time"
)

// newHTTPProtocol serves http:// and https:// targets: HTTP/1.1, or HTTP/2
// (h2 over TLS with ALPN, h2c with prior knowledge) with --h2.
func newHTTPProtocol(cfg *Config, t []target, reqs []Request) (protocol, error) {
	d := &dialer{addr: t[0].addr, timeout: cfg.Timeout}
	if t[0].scheme == "https" {
		d.tls = cfg.TLS.Clone()
		if cfg.H2 {
			d.tls.NextProtos = []string{"h2"}
		} else {
			d.tls.NextProtos = []string{"http/1.1"}
		}
	}
	for i := range reqs {
		if reqs[i].Method == "" {
			return nil, usageErrorf("replayed request %d is not HTTP", i+1)
		}
	}
	if cfg.H2 {
		return newH2Protocol(cfg, d, reqs)
	}
	p := &h1Protocol{d: d}
	for _, r := range reqs {
		p.reqs = append(p.reqs, encodeHTTP1(r))
		p.head = append(p.head, r.Method == "HEAD")
	}
	return p, nil
}

// encodeHTTP1 renders a request once; every send writes these bytes.
func encodeHTTP1(r Request) []byte {
	var b bytes.Buffer
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(r.Path)
	b.WriteString(" HTTP/1.1\r\n")
	has := func(name string) bool {
		for _, h := range r.Headers {
			if strings.EqualFold(h[0], name) {
				return true
			}
		}
		return false
	}
	if !has("Host") {
		b.WriteString("Host: " + r.Host + "\r\n")
	}
	if !has("User-Agent") {
		b.WriteString("User-Agent: mosnctl-bench\r\n")
	}
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], "Content-Length") || strings.EqualFold(h[0], "Transfer-Encoding") {
			continue // framing is ours: the body below decides it
		}
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	if len(r.Body) > 0 || r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.Body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes()
}

type h1Protocol struct {
	d    *dialer
	reqs [][]byte
	head []bool
}

func (p *h1Protocol) dial(ctx context.Context) (clientConn, error) {
	nc, err := p.d.dial(ctx)
	if err != nil {
		return nil, err
	}
	return &h1Conn{p: p, nc: nc, rb: newReadBuf(64 << 10)}, nil
}

// body framing of the response being read
const (
	h1Head = iota
	h1Length
	h1Chunked
	h1UntilClose
)

// chunked sub-states
const (
	chSize = iota
	chData
	chDataCRLF
	chTrailer
)

// h1Conn is a keep-alive HTTP/1.1 connection with one request in flight.
// The response head is parsed in place from the read buffer and bodies are
// skipped, so a request costs one write and (usually) one read, and no
// allocation.
type h1Conn struct {
	p      *h1Protocol
	nc     net.Conn
	rb     readBuf
	req    int
	state  int
	chunk  int
	remain int64
	status int
	bytes  int64
	closed bool // the server said Connection: close (or HTTP/1.0)
}

func (c *h1Conn) send(req int) (uint32, error) {
	c.req = req
	c.state = h1Head
	c.bytes = 0
	_, err := c.nc.Write(c.p.reqs[req])
	return 0, err
}

func (c *h1Conn) flush() error                      { return nil }
func (c *h1Conn) setReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }
func (c *h1Conn) maxStreams() int                   { return 1 }
func (c *h1Conn) usable() bool                      { return !c.closed }
func (c *h1Conn) abandon(uint32) bool               { return false }
func (c *h1Conn) close()                            { c.nc.Close() }

func (c *h1Conn) recv(res *response) error {
	for {
		done, err := c.parse()
		if err != nil {
			return err
		}
		if done {
			res.id = 0
			res.status = c.status
			res.bytes = c.bytes
			res.fail = statusKind(c.status)
			return nil
		}
		if _, err := c.rb.fill(c.nc); err != nil {
			if c.state == h1UntilClose && isEOF(err) {
				c.closed = true
				res.id, res.status, res.bytes, res.fail = 0, c.status, c.bytes, statusKind(c.status)
				return nil
			}
			return err
		}
	}
}

func statusKind(code int) errKind {
	switch {
	case code >= 500:
		return errStatus5xx
	case code >= 400:
		return errStatus4xx
	}
	return errNone
}

// parse advances over buffered input; done when the response is complete.
func (c *h1Conn) parse() (bool, error) {
	rb := &c.rb
	for {
		buf := rb.buffered()
		switch c.state {
		case h1Head:
			end := bytes.Index(buf, crlfcrlf)
			if end < 0 {
				return false, nil
			}
			head := buf[:end+4]
			if err := c.parseHead(head); err != nil {
				return false, err
			}
			rb.r += len(head)
			c.bytes += int64(len(head))
			if c.status >= 100 && c.status < 200 && c.status != 101 {
				continue // interim response: the real one follows
			}
			if c.state == h1Head { // no body
				return true, nil
			}
		case h1Length:
			n := int64(len(buf))
			if n > c.remain {
				n = c.remain
			}
			rb.r += int(n)
			c.bytes += n
			c.remain -= n
			if c.remain == 0 {
				c.state = h1Head
				return true, nil
			}
			return false, nil
		case h1UntilClose:
			rb.r += len(buf)
			c.bytes += int64(len(buf))
			return false, nil
		case h1Chunked:
			done, err := c.parseChunked()
			if err != nil || done {
				if done {
					c.state = h1Head
				}
				return done, err
			}
			return false, nil
		}
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// parseHead reads the status line and the framing headers.
func (c *h1Conn) parseHead(head []byte) error {
	if len(head) < 16 || string(head[:7]) != "HTTP/1." || head[8] != ' ' {
		return &protoError{"http1: malformed status line"}
	}
	code := 0
	for _, ch := range head[9:12] {
		if ch < '0' || ch > '9' {
			return &protoError{"http1: malformed status code"}
		}
		code = code*10 + int(ch-'0')
	}
	c.status = code
	if head[7] == '0' {
		c.closed = true
	}
	line := bytes.IndexByte(head, '\n') + 1
	var length int64 = -1
	chunked := false
	for line < len(head)-2 {
		eol := bytes.IndexByte(head[line:], '\n')
		if eol < 0 {
			break
		}
		h := head[line : line+eol]
		line += eol + 1
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return &protoError{"http1: malformed header line"}
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok || (length >= 0 && n != length) {
				return &protoError{"http1: invalid Content-Length"}
			}
			length = n
		case asciiEqualFold(name, "transfer-encoding"):
			if !asciiHasSuffixFold(value, "chunked") {
				return &protoError{"http1: unsupported Transfer-Encoding"}
			}
			chunked = true
		case asciiEqualFold(name, "connection"):
			if asciiContainsFold(value, "close") {
				c.closed = true
			}
		}
	}
	switch {
	case c.p.head[c.req] || code == 204 || code == 304 || (code >= 100 && code < 200):
		c.state = h1Head
	case chunked:
		if length >= 0 {
			return &protoError{"http1: both Content-Length and Transfer-Encoding"}
		}
		c.state, c.chunk = h1Chunked, chSize
	case length == 0:
		c.state = h1Head
	case length > 0:
		c.state, c.remain = h1Length, length
	default:
		c.state, c.closed = h1UntilClose, true
	}
	return nil
}

func (c *h1Conn) parseChunked() (bool, error) {
	rb := &c.rb
	for {
		buf := rb.buffered()
		switch c.chunk {
		case chSize, chTrailer:
			eol := bytes.IndexByte(buf, '\n')
			if eol < 0 {
				if len(buf) > 4096 {
					return false, &protoError{"http1: chunk line too long"}
				}
				return false, nil
			}
			line := bytes.TrimRight(buf[:eol], "\r")
			rb.r += eol + 1
			c.bytes += int64(eol + 1)
			if c.chunk == chTrailer {
				if len(line) == 0 {
					return true, nil
				}
				continue
			}
			if i := bytes.IndexByte(line, ';'); i >= 0 {
				line = line[:i]
			}
			n, ok := parseHex(bytes.TrimSpace(line))
			if !ok {
				return false, &protoError{"http1: invalid chunk size"}
			}
			if n == 0 {
				c.chunk = chTrailer
			} else {
				c.chunk, c.remain = chData, n
			}
		case chData:
			if len(buf) == 0 {
				return false, nil
			}
			n := int64(len(buf))
			if n > c.remain {
				n = c.remain
			}
			rb.r += int(n)
			c.bytes += n
			c.remain -= n
			if c.remain == 0 {
				c.chunk, c.remain = chDataCRLF, 2
			}
		case chDataCRLF:
			for c.remain > 0 && rb.r < rb.w {
				rb.r++
				c.bytes++
				c.remain--
			}
			if c.remain > 0 {
				return false, nil
			}
			c.chunk = chSize
		}
	}
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

func lower(ch byte) byte {
	if ch >= 'A' && ch <= 'Z' {
		return ch + 'a' - 'A'
	}
	return ch
}

// asciiEqualFold compares b with the lower-case s without allocating.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

func asciiHasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && asciiEqualFold(b[len(b)-len(s):], s)
}

func asciiContainsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func isEOF(err error) bool { return classify(err) == errReset }

func (c *h1Conn) conn() *net.Conn { return &c.nc }

func (c *h1Conn) pending() bool { return false }
