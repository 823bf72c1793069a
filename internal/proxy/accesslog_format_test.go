package proxy

import (
	"bytes"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/network"
)

// appendDuration prints as time.Duration.String, which MOSN logs.
func TestAppendDuration(t *testing.T) {
	ds := []time.Duration{0, 1, 999, 1000, 1001, 1500, 999999, time.Millisecond, 1234567, 12345678, 999999999,
		time.Second, 1500 * time.Millisecond, time.Minute, 61*time.Second + 5, time.Hour, 90*time.Minute + 1,
		100*time.Hour + 59*time.Minute + 59*time.Second + 999999999, -1, -1500 * time.Microsecond, -time.Hour,
		math.MaxInt64, math.MinInt64}
	for i := time.Duration(1); i < 1<<62; i = i*7 + 3 {
		ds = append(ds, i)
	}
	for _, d := range ds {
		if got, want := string(appendDuration(nil, d)), d.String(); got != want {
			t.Errorf("appendDuration(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func TestAppendStartTime(t *testing.T) {
	for _, tm := range []time.Time{time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.Local), time.Date(999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 12, 5, 0, 0, 0, 0, time.FixedZone("x", 3600))} {
		if got, want := string(appendStartTime(nil, tm)), tm.Format("2006/01/02 15:04:05.000"); got != want {
			t.Errorf("appendStartTime = %q, want %q", got, want)
		}
	}
}

// loopbackConn is the accepted end of a real loopback connection.
func loopbackConn(t testing.TB) *network.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return network.NewConn(s, nil, 0)
}

func formatLine(t *testing.T, format string, e *AccessEntry) string {
	t.Helper()
	pieces, err := config.ParseLogFormat(format)
	if err != nil {
		t.Fatal(err)
	}
	return string(appendFormatLine(nil, pieces, e))
}

func TestFormatLine(t *testing.T) {
	conn := loopbackConn(t)
	start := time.Date(2026, 12, 5, 6, 7, 8, 9e6, time.Local)
	h1 := &AccessEntry{Start: start, Duration: 1234567 * time.Nanosecond, Listener: "web", Protocol: "HTTP/1.1",
		Remote: "127.0.0.1:5000", Method: []byte("GET"), Path: []byte("/a?b=c\n"), Status: 200, BytesIn: 78, BytesOut: 910,
		Cluster: "origin", Upstream: "127.0.0.1:8080", Conn: conn}
	all := "%start_time%|%duration%|%request_finished_duration%|%bytes_sent%|%bytes_received%|%protocol%|" +
		"%response_code%|%response_flag%|%upstream_host%|%upstream_cluster%|%downstream_local_address%|" +
		"%downstream_remote_address%|%listener_name%|%Http1_request_method% %Http1_request_uri%|%Http2_request_method%"
	want := "2026/12/05 06:07:08.009|1.234567ms|1.234567ms|910|78|Http1|200|false|127.0.0.1:8080|origin|" +
		conn.LocalAddr().String() + "|127.0.0.1:5000|web|GET /a?b=c\\x0a|-\n"
	if got := formatLine(t, all, h1); got != want {
		t.Errorf("HTTP/1 line\n got %q\nwant %q", got, want)
	}

	// A local answer: no host, a flag, and no connection known.
	h2 := &AccessEntry{Start: start, Duration: 850, Protocol: "HTTP/2", Method: []byte("POST"), Path: []byte("/x"),
		Status: 404, Flags: flagNoRoute}
	want = "Http2 404 true - - - - POST /x -\n"
	if got := formatLine(t, "%protocol% %response_code% %response_flag% %upstream_host% %upstream_cluster% "+
		"%downstream_local_address% %downstream_remote_address% %Http2_request_method% %Http2_request_uri% %Http1_request_uri%", h2); got != want {
		t.Errorf("HTTP/2 line\n got %q\nwant %q", got, want)
	}
}

// A log's lines reach its file whole, and Close flushes them.
func TestFormatLogFile(t *testing.T) {
	path := t.TempDir() + "/access.log"
	pieces, _ := config.ParseLogFormat("%protocol% %response_code% %bytes_sent%")
	l, err := OpenFormatLog(path, pieces)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l.Log(&AccessEntry{Protocol: "bolt", Status: 200 + i, BytesOut: int64(i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got, want := string(b), "bolt 200 0\nbolt 201 1\nbolt 202 2\n"; got != want {
		t.Errorf("file has %q, want %q", got, want)
	}
	if _, err := OpenFormatLog(t.TempDir()+"/no/such/dir/a.log", pieces); err == nil {
		t.Error("opening a log in a missing directory succeeded")
	}
}

// A line longer than the buffer's space left is written after what is
// buffered, never split around another log's write.
func TestLogFileWholeLines(t *testing.T) {
	var out bytes.Buffer
	w := &countingWriter{w: &out}
	f := newLogFile(w, nil)
	short := []byte(strings.Repeat("a", 40<<10) + "\n")
	f.write(short)
	f.write(short) // does not fit behind the first: flushed first
	f.w.Flush()
	if w.writes != 2 || out.Len() != 2*len(short) {
		t.Errorf("%d writes of %d bytes, want 2 whole lines", w.writes, out.Len())
	}
}

type countingWriter struct {
	w      io.Writer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	if len(p)%(40<<10+1) != 0 {
		return 0, io.ErrShortWrite // a cut line
	}
	return c.w.Write(p)
}

// Logging a line allocates nothing: the format is compiled, the line
// buffer reused, addresses and durations appended in place.
func TestFormatLogAllocs(t *testing.T) {
	l, e := benchFormatLog(t)
	if n := testing.AllocsPerRun(100, func() { l.Log(e) }); n != 0 {
		t.Errorf("%v allocations a line, want 0", n)
	}
}

func benchFormatLog(tb testing.TB) (*FormatLog, *AccessEntry) {
	pieces, err := config.ParseLogFormat("") // MOSN's default, as most users run it
	if err != nil {
		tb.Fatal(err)
	}
	pieces2, _ := config.ParseLogFormat("%upstream_cluster% %Http1_request_method% %Http1_request_uri%")
	pieces = append(pieces, pieces2...)
	l := &FormatLog{out: newLogFile(io.Discard, nil), pieces: pieces}
	e := &AccessEntry{Start: time.Now(), Duration: 1234567, Listener: "web", Protocol: "HTTP/1.1",
		Remote: "127.0.0.1:5000", Method: []byte("GET"), Path: []byte("/index.html"), Status: 200, BytesIn: 78,
		BytesOut: 910, Cluster: "origin", Upstream: "127.0.0.1:8080", Conn: loopbackConn(tb)}
	return l, e
}

func BenchmarkFormatLog(b *testing.B) {
	l, e := benchFormatLog(b)
	b.ReportAllocs()
	for b.Loop() {
		l.Log(e)
	}
}
