package bench

import (
	"bytes"
	"encoding/binary"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

var update = flag.Bool("update", false, "rewrite the capture files in testdata")

// segment is one TCP segment of a made-up capture.
type segment struct {
	conn    int  // connection number: client port 40000+conn
	toSrv   bool // client -> server
	seqOff  int  // offset of the payload in its direction's stream
	payload string
	syn     bool
}

// writeCapture renders segments as Ethernet/IPv4/TCP packets, one
// millisecond apart, as pcap (ng=false) or pcapng.
func writeCapture(t *testing.T, path string, ng bool, serverPort int, segs []segment) {
	t.Helper()
	var buf bytes.Buffer
	var write func(ci gopacket.CaptureInfo, data []byte) error
	if ng {
		w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { w.Flush(); os.WriteFile(path, buf.Bytes(), 0o644) }()
		write = w.WritePacket
	} else {
		w := pcapgo.NewWriter(&buf)
		w.WriteFileHeader(65535, layers.LinkTypeEthernet)
		defer func() { os.WriteFile(path, buf.Bytes(), 0o644) }()
		write = w.WritePacket
	}
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i, s := range segs {
		src, dst := net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 0, 2)
		sport, dport := layers.TCPPort(40000+s.conn), layers.TCPPort(serverPort)
		isn := uint32(1000 * (s.conn + 1))
		if !s.toSrv {
			src, dst, sport, dport = dst, src, dport, sport
			isn += 500000
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: isn + 1 + uint32(s.seqOff), ACK: true, PSH: true, Window: 65535}
		if s.syn {
			tcp.Seq, tcp.ACK, tcp.PSH = isn, false, false
		}
		tcp.SetNetworkLayerForChecksum(ip)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
			t.Fatal(err)
		}
		data := sb.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data), InterfaceIndex: 0}
		if err := write(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}

// httpSegments: two connections, requests interleaved in time, a request
// split over segments that arrive out of order, a retransmission, a
// chunked POST and the server's responses (which replay ignores).
func httpSegments() []segment {
	r1 := "GET /one HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n"
	r2 := "POST /two?x=1 HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
	r3 := "GET /three HTTP/1.1\r\nHost: api.example\r\nX-Trace: 7\r\n\r\n"
	r4 := "DELETE /four HTTP/1.1\r\nHost: api.example\r\nContent-Length: 3\r\n\r\nxyz"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	return []segment{
		{conn: 0, toSrv: true, syn: true},
		{conn: 1, toSrv: true, syn: true},
		{conn: 0, toSrv: false, syn: true},
		{conn: 1, toSrv: false, syn: true},
		{conn: 0, toSrv: true, seqOff: 0, payload: r1},
		{conn: 0, toSrv: false, seqOff: 0, payload: resp},
		{conn: 1, toSrv: true, seqOff: 0, payload: r3},
		// r2 in two pieces, the second captured first, then a duplicate
		{conn: 0, toSrv: true, seqOff: len(r1) + 20, payload: r2[20:]},
		{conn: 0, toSrv: true, seqOff: len(r1), payload: r2[:20]},
		{conn: 0, toSrv: true, seqOff: len(r1), payload: r2[:20]},
		{conn: 1, toSrv: false, seqOff: 0, payload: resp},
		{conn: 1, toSrv: true, seqOff: len(r3), payload: r4},
		{conn: 0, toSrv: false, seqOff: len(resp), payload: resp},
		// a request cut off by the end of the capture is dropped
		{conn: 1, toSrv: true, seqOff: len(r3) + len(r4), payload: "GET /cut HTTP/1.1\r\nHo"},
	}
}

func boltRequest(id uint32, method string, content string, typ byte) string {
	var hdr []byte
	hdr = bolt.AppendHeader(hdr, bolt.HeaderService, "com.example.Echo:1.0")
	hdr = bolt.AppendHeader(hdr, bolt.HeaderMethod, method)
	cmd := bolt.CmdRequest
	if method == "" {
		cmd, hdr = bolt.CmdHeartbeat, nil
	}
	f := bolt.Frame{Type: typ, CmdCode: cmd, Version: 1, RequestID: id, Codec: bolt.CodecHessian2, Timeout: 3000,
		Class: []byte(bolt.ClassRequest), Header: hdr, Content: []byte(content)}
	if method == "" {
		f.Class = nil
	}
	return string(bolt.AppendFrame(nil, &f))
}

func boltSegments() []segment {
	a := boltRequest(1, "echo", "first", bolt.TypeRequest)
	hb := boltRequest(2, "", "", bolt.TypeRequest)
	ow := boltRequest(3, "fire", "forget", bolt.TypeOneway)
	b := boltRequest(4, "echo", "second", bolt.TypeRequest)
	return []segment{
		{conn: 0, toSrv: true, syn: true},
		{conn: 0, toSrv: true, seqOff: 0, payload: a[:10]},
		{conn: 0, toSrv: true, seqOff: 10, payload: a[10:] + hb + ow},
		{conn: 0, toSrv: true, seqOff: len(a) + len(hb) + len(ow), payload: b},
	}
}

func TestCaptureFiles(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata captures")
	}
	writeCapture(t, "testdata/http1.pcap", false, 8080, httpSegments())
	writeCapture(t, "testdata/bolt.pcapng", true, 12200, boltSegments())
	for _, name := range []string{"http1.pcap", "bolt.pcapng"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		dir := "testdata/fuzz/FuzzReadReplay"
		os.MkdirAll(dir, 0o755)
		var q strings.Builder
		for _, c := range b {
			q.WriteString("\\x")
			q.WriteString(strings.ToLower(string("0123456789ABCDEF"[c>>4]) + string("0123456789ABCDEF"[c&15])))
		}
		os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n[]byte(\""+q.String()+"\")\n"), 0o644)
	}
}

func TestReadReplayHTTP(t *testing.T) {
	reqs, err := ReadReplay("testdata/http1.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reqs {
		got = append(got, r.Method+" "+r.Path+" "+r.Host+" "+string(r.Body))
	}
	want := []string{"GET /one shop.example ", "GET /three api.example ", "POST /two?x=1 shop.example abcdef", "DELETE /four api.example xyz"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("requests\n%q\nwant\n%q", got, want)
	}
	if h := reqs[1].Headers; len(h) != 1 || h[0] != [2]string{"X-Trace", "7"} {
		t.Errorf("headers of /three: %v", h)
	}
}

func TestReplayHTTPAgainstOrigin(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	u := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(bytes.Buffer)
		b.ReadFrom(r.Body)
		mu.Lock()
		seen[r.Method+" "+r.URL.RequestURI()+" "+r.Host+" "+b.String()]++
		mu.Unlock()
	}))
	reqs, err := ReadReplay("testdata/http1.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for _, h2 := range []bool{false, true} {
		mu.Lock()
		clear(seen)
		mu.Unlock()
		res := run(t, Config{Targets: []string{u}, Conns: 2, Replay: reqs, H2: h2})
		if res.Requests != 4 || res.Responses != 4 || res.Errors.Total != 0 {
			t.Fatalf("h2=%v: requests %d responses %d errors %+v", h2, res.Requests, res.Responses, res.Errors)
		}
		mu.Lock()
		for _, k := range []string{"GET /one shop.example ", "POST /two?x=1 shop.example abcdef", "GET /three api.example ", "DELETE /four api.example xyz"} {
			if seen[k] != 1 {
				t.Errorf("h2=%v: origin saw %q %d times (all: %v)", h2, k, seen[k], seen)
			}
		}
		mu.Unlock()
	}
	// -n cycles through the capture.
	res := run(t, Config{Targets: []string{u}, Conns: 3, Replay: reqs, Requests: 40})
	if res.Responses != 40 {
		t.Fatalf("responses %d", res.Responses)
	}
}

func TestReplayBolt(t *testing.T) {
	reqs, err := ReadReplay("testdata/bolt.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || binary.BigEndian.Uint32(reqs[0].Raw[5:]) != 1 || binary.BigEndian.Uint32(reqs[1].Raw[5:]) != 4 {
		t.Fatalf("got %d requests (heartbeat and one-way must be skipped)", len(reqs))
	}
	var mu sync.Mutex
	var contents []string
	u := startBolt(t, func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		mu.Lock()
		contents = append(contents, string(req.Content))
		mu.Unlock()
		return bolt.StatusSuccess, nil, req.Content
	})
	res := run(t, Config{Targets: []string{u}, Conns: 1, Streams: 4, Replay: reqs, Requests: 10})
	if res.Responses != 10 || res.Errors.Total != 0 {
		t.Fatalf("responses %d errors %+v", res.Responses, res.Errors)
	}
	// Sent alternately; the server answers each in its own goroutine, so
	// only the counts are certain.
	count := map[string]int{}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range contents {
		count[c]++
	}
	if count["first"] != 5 || count["second"] != 5 {
		t.Fatalf("server saw %v", contents)
	}
}

func TestReadReplayErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pcap")
	writeCapture(t, empty, false, 80, []segment{{conn: 0, toSrv: true, syn: true}})
	junk := filepath.Join(dir, "junk.pcap")
	os.WriteFile(junk, []byte("not a capture at all"), 0o644)
	for _, path := range []string{empty, junk, filepath.Join(dir, "missing.pcap")} {
		if _, err := ReadReplay(path); err == nil || !IsUsage(err) {
			t.Errorf("%s: err %v, want a usage error", filepath.Base(path), err)
		}
	}
}

func FuzzReadReplay(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		readReplay(bytes.NewReader(data))
	})
}
