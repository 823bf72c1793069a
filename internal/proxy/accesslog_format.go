package proxy

import (
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

// FormatLog writes one line per request in a MOSN access log format: the
// format's literal text with its variables filled in, "-" for a value the
// request has none of (no upstream host on a direct response), as MOSN
// prints. The format is compiled once (config.ParseLogFormat); a line
// costs appends into a reused buffer and its buffered write.
type FormatLog struct {
	out    *logFile
	pieces []config.LogPiece
	line   []byte // guarded by out.mu
}

// OpenFormatLog opens path for appending ("stdout" and "stderr" are
// allowed) to write lines made of pieces.
func OpenFormatLog(path string, pieces []config.LogPiece) (*FormatLog, error) {
	out, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	return &FormatLog{out: out, pieces: pieces}, nil
}

// Log implements AccessLogger.
func (l *FormatLog) Log(e *AccessEntry) {
	l.out.mu.Lock()
	l.line = appendFormatLine(l.line[:0], l.pieces, e)
	l.out.write(l.line)
	l.out.mu.Unlock()
}

// Close flushes and closes the log.
func (l *FormatLog) Close() error { return l.out.close() }

// appendFormatLine appends e as the pieces say, and a newline.
func appendFormatLine(b []byte, pieces []config.LogPiece, e *AccessEntry) []byte {
	for i := range pieces {
		p := &pieces[i]
		switch p.Var {
		case config.LogText:
			b = append(b, p.Text...)
		case config.LogStartTime:
			b = appendStartTime(b, e.Start)
		case config.LogDuration, config.LogRequestFinishedDuration:
			b = appendDuration(b, e.Duration)
		case config.LogBytesSent:
			b = strconv.AppendInt(b, e.BytesOut, 10)
		case config.LogBytesReceived:
			b = strconv.AppendInt(b, e.BytesIn, 10)
		case config.LogProtocol:
			b = appendOr(b, mosnProtocol(e.Protocol))
		case config.LogResponseCode:
			b = strconv.AppendInt(b, int64(e.Status), 10)
		case config.LogResponseFlag:
			b = strconv.AppendBool(b, e.Flags != "")
		case config.LogUpstreamHost:
			b = appendOr(b, e.Upstream)
		case config.LogUpstreamCluster:
			b = appendOr(b, e.Cluster)
		case config.LogDownstreamLocalAddress:
			if e.Conn == nil {
				b = append(b, '-')
			} else {
				b = appendAddr(b, e.Conn.LocalAddr())
			}
		case config.LogDownstreamRemoteAddress:
			b = appendOr(b, e.Remote)
		case config.LogListenerName:
			b = appendOr(b, e.Listener)
		case config.LogHTTP1Method, config.LogHTTP1URI, config.LogHTTP2Method, config.LogHTTP2URI:
			b = appendRequestField(b, p.Var, e)
		}
	}
	return append(b, '\n')
}

// appendRequestField appends a method or URI variable: the request's when
// it is of the variable's protocol, else "-".
func appendRequestField(b []byte, v config.LogVar, e *AccessEntry) []byte {
	want := "HTTP/1.1"
	if v == config.LogHTTP2Method || v == config.LogHTTP2URI {
		want = "HTTP/2"
	}
	if e.Protocol != want {
		return append(b, '-')
	}
	if v == config.LogHTTP1Method || v == config.LogHTTP2Method {
		return appendClean(b, e.Method)
	}
	return appendClean(b, e.Path)
}

// appendClean appends what the client sent, control bytes as \xHH: a
// line of the log is never split or rewritten by a request.
func appendClean(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	const hex = "0123456789abcdef"
	for _, c := range v {
		if c < 0x20 || c == 0x7f || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

// mosnProtocol is MOSN's name of a protocol.
func mosnProtocol(p string) string {
	switch p {
	case "HTTP/1.1":
		return "Http1"
	case "HTTP/2":
		return "Http2"
	}
	return p
}

func appendOr(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

// appendAddr appends a socket address as its String method would, without
// building the string.
func appendAddr(b []byte, a net.Addr) []byte {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(b)
	case *net.UnixAddr:
		return appendOr(b, a.Name)
	case nil:
		return append(b, '-')
	}
	return append(b, a.String()...)
}

// appendStartTime appends t in local time as MOSN logs it, 2006/01/02
// 15:04:05.000; by hand: a layout is parsed on every AppendFormat.
func appendStartTime(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append(appendDigits(b, y, 4), '/')
	b = append(appendDigits(b, int(mo), 2), '/')
	b = append(appendDigits(b, d, 2), ' ')
	b = append(appendDigits(b, h, 2), ':')
	b = append(appendDigits(b, mi, 2), ':')
	b = append(appendDigits(b, s, 2), '.')
	return appendDigits(b, t.Nanosecond()/1e6, 3)
}

// appendDigits appends v (not negative) zero-padded to n digits.
func appendDigits(b []byte, v, n int) []byte {
	var buf [20]byte
	i := len(buf)
	for ; v > 0 || n > 0; n-- {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[i:]...)
}

// appendDuration appends d as d.String() prints it (MOSN logs durations
// so), without building the string: "0s", "850ns", "1.5µs", "12.345ms",
// "2m3.5s", "1h0m0s".
func appendDuration(b []byte, d time.Duration) []byte {
	if d == 0 {
		return append(b, "0s"...)
	}
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	switch {
	case u < uint64(time.Microsecond):
		return append(strconv.AppendUint(b, u, 10), "ns"...)
	case u < uint64(time.Millisecond):
		return append(appendFixed(b, u, 3), "µs"...)
	case u < uint64(time.Second):
		return append(appendFixed(b, u, 6), "ms"...)
	}
	if h := u / uint64(time.Hour); h > 0 {
		b = append(strconv.AppendUint(b, h, 10), 'h')
	}
	if u >= uint64(time.Minute) {
		b = append(strconv.AppendUint(b, u/uint64(time.Minute)%60, 10), 'm')
	}
	return append(appendFixed(b, u%uint64(time.Minute), 9), 's')
}

// appendFixed appends v / 10^scale with its fraction, trailing zeros
// dropped (no point when the fraction is zero).
func appendFixed(b []byte, v uint64, scale int) []byte {
	pow := uint64(1)
	for range scale {
		pow *= 10
	}
	b = strconv.AppendUint(b, v/pow, 10)
	frac := v % pow
	if frac == 0 {
		return b
	}
	for frac%10 == 0 {
		frac /= 10
		scale--
		pow /= 10
	}
	b = append(b, '.')
	for pow /= 10; pow > 0; pow /= 10 {
		b = append(b, byte('0'+frac/pow%10))
	}
	return b
}
