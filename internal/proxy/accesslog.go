package proxy

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
)

// AccessLogger writes one line per request; the forwarding loop calls it
// once a request ended.
type AccessLogger interface {
	Log(e *AccessEntry)
}

// AccessLogs is every access log of a listener, each given every entry.
type AccessLogs []AccessLogger

// Log implements AccessLogger.
func (ls AccessLogs) Log(e *AccessEntry) {
	for _, l := range ls {
		l.Log(e)
	}
}

// AccessLog writes one JSON object per request. On a TLS connection the
// line also has the version, the cipher and the verified client
// certificate's identity.
type AccessLog struct {
	out  *logFile
	line []byte // guarded by out.mu
}

// AccessEntry is what one line records.
type AccessEntry struct {
	Start     time.Time
	Duration  time.Duration
	Listener  string
	Protocol  string
	Remote    string
	Method    []byte
	Path      []byte
	Status    int
	BytesIn   int64
	BytesOut  int64
	Cluster   string
	Upstream  string
	RequestID uint32
	Service   []byte
	Flags     string // why the proxy answered itself: no_route, no_healthy_upstream, connect_failure, timeout, upstream_error
	// TLS is the downstream connection's TLS state; nil: plaintext.
	TLS *mosntls.State
	// Conn is the downstream connection (its local address); nil: unknown.
	Conn *network.Conn
}

// OpenAccessLog opens path for appending ("stdout" and "stderr" are allowed).
func OpenAccessLog(path string) (*AccessLog, error) {
	out, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	return &AccessLog{out: out}, nil
}

// Close flushes and closes the log.
func (l *AccessLog) Close() error { return l.out.close() }

// logFile is where an access log's lines go: buffered, and flushed every
// 100ms (and on close) so logging costs no syscall per request. Lines are
// written whole: the buffer is flushed before a line it cannot take, so
// logs sharing a file (O_APPEND) do not cut into each other's lines.
type logFile struct {
	mu   sync.Mutex
	w    *bufio.Writer
	f    io.Closer
	stop chan struct{}
	done chan struct{}
}

func openLogFile(path string) (*logFile, error) {
	var out io.Writer
	var closer io.Closer
	switch path {
	case "stdout", "/dev/stdout":
		out = os.Stdout
	case "stderr", "/dev/stderr":
		out = os.Stderr
	default:
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		out, closer = f, f
	}
	l := newLogFile(out, closer)
	go l.flusher()
	return l, nil
}

func newLogFile(out io.Writer, closer io.Closer) *logFile {
	return &logFile{w: bufio.NewWriterSize(out, 64<<10), f: closer, stop: make(chan struct{}), done: make(chan struct{})}
}

func (l *logFile) flusher() {
	defer close(l.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			l.w.Flush()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

// write buffers one line; l.mu is held.
func (l *logFile) write(line []byte) {
	if len(line) > l.w.Available() && l.w.Buffered() > 0 {
		l.w.Flush()
	}
	l.w.Write(line)
}

func (l *logFile) close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Log appends one entry.
func (l *AccessLog) Log(e *AccessEntry) {
	l.out.mu.Lock()
	b := l.line[:0]
	b = append(b, `{"start_time":"`...)
	b = e.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.Duration.Microseconds())/1000, 'f', 3, 64)
	b = appendField(b, "listener", e.Listener)
	b = appendField(b, "protocol", e.Protocol)
	b = appendField(b, "downstream", e.Remote)
	if e.Method != nil {
		b = appendField(b, "method", e.Method)
		b = appendField(b, "path", e.Path)
	}
	if e.Service != nil {
		b = appendField(b, "service", e.Service)
		b = append(b, `,"request_id":`...)
		b = strconv.AppendUint(b, uint64(e.RequestID), 10)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	if e.Cluster != "" {
		b = appendField(b, "cluster", e.Cluster)
	}
	if e.Upstream != "" {
		b = appendField(b, "upstream_host", e.Upstream)
	}
	if e.Flags != "" {
		b = appendField(b, "flags", e.Flags)
	}
	if t := e.TLS; t != nil {
		// Named after Envoy's access log variables (%DOWNSTREAM_TLS_VERSION%...).
		b = appendField(b, "downstream_tls_version", t.Version)
		b = appendField(b, "downstream_tls_cipher", t.Cipher)
		if t.Verified() {
			b = appendField(b, "downstream_peer_subject", t.PeerSubject)
			if t.PeerURI != nil {
				b = appendField(b, "downstream_peer_uri_san", t.PeerURI)
			}
			if t.PeerDNS != nil {
				b = appendField(b, "downstream_peer_dns_san", t.PeerDNS)
			}
		}
	}
	b = append(b, "}\n"...)
	l.out.write(b)
	l.line = b
	l.out.mu.Unlock()
}

// appendField appends ,"key":"value" with JSON string escaping; generic so
// string fields are not converted (copied) to []byte per line.
func appendField[T string | []byte](b []byte, key string, v T) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
