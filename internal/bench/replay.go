package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/google/gopacket/tcpassembly"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// maxReplayRequests bounds what a capture may hold, so a huge or hostile
// file cannot exhaust memory before the run starts.
const maxReplayRequests = 1 << 20

// Limits on what a capture may claim.
const (
	maxCaptureBytes = 256 << 20
	maxPacketBytes  = 256 << 10
)

// checkNgBlocks walks the blocks of a pcapng file and refuses lengths that
// run past the block or the file.
func checkNgBlocks(b []byte) error {
	var order binary.ByteOrder = binary.LittleEndian
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			return errors.New("truncated block")
		}
		typ := order.Uint32(b[off:])
		if typ == 0x0a0d0d0a {
			switch magic := b[off+8 : off+12]; {
			case binary.BigEndian.Uint32(magic) == 0x1a2b3c4d:
				order = binary.BigEndian
			case binary.LittleEndian.Uint32(magic) == 0x1a2b3c4d:
				order = binary.LittleEndian
			default:
				return errors.New("bad byte-order magic")
			}
		}
		n := int(order.Uint32(b[off+4:]))
		if n < 12 || n > len(b)-off {
			return fmt.Errorf("block length %d out of range", n)
		}
		switch typ {
		case 6: // enhanced packet: captured length at +20
			if n < 32 || int(order.Uint32(b[off+20:])) > n-32 {
				return errors.New("packet longer than its block")
			}
		case 3: // simple packet: original length at +8
			if n < 16 || int(order.Uint32(b[off+8:])) > n-16 {
				return errors.New("packet longer than its block")
			}
		}
		off += n
	}
	return nil
}

// ReadReplay reads the requests of a pcap or pcapng capture (see
// readReplay); errors are usage errors naming the file.
func ReadReplay(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("replay: %v", err)
	}
	defer f.Close()
	reqs, err := readReplay(f)
	if err != nil {
		return nil, usageErrorf("replay %s: %v", path, err)
	}
	return reqs, nil
}

// packetReader is what pcapgo's pcap and pcapng readers share.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// readReplay decodes the capture with gopacket's pure-Go readers,
// reassembles every TCP stream, and returns the HTTP/1.x and Bolt requests
// found in client-to-server streams, ordered by the time their first byte
// was captured.
func readReplay(r io.Reader) (reqs []Request, err error) {
	// gopacket's readers and decoders panic on some malformed input (a
	// zero timestamp resolution divides by zero): a bad file is an error.
	defer func() {
		if p := recover(); p != nil {
			reqs, err = nil, fmt.Errorf("malformed capture (%v)", p)
		}
	}()
	// The whole file is read first: pcapgo sizes packet buffers from the
	// lengths a file claims, so they are checked against the bytes there.
	file, err := io.ReadAll(io.LimitReader(r, maxCaptureBytes+1))
	if err != nil {
		return nil, err
	}
	if len(file) > maxCaptureBytes {
		return nil, fmt.Errorf("capture larger than %d MiB", maxCaptureBytes>>20)
	}
	if len(file) < 4 {
		return nil, errors.New("not a capture: too short")
	}
	var pr packetReader
	if bytes.Equal(file[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		if err := checkNgBlocks(file); err != nil {
			return nil, fmt.Errorf("not a pcapng file: %w", err)
		}
		pr, err = pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
	} else {
		var pc *pcapgo.Reader
		pc, err = pcapgo.NewReader(bytes.NewReader(file))
		if err == nil {
			pc.SetSnaplen(min(pc.Snaplen(), maxPacketBytes))
			pr = pc
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	factory := &captureFactory{}
	asm := tcpassembly.NewAssembler(tcpassembly.NewStreamPool(factory))
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read packet: %w", err)
		}
		pkt := gopacket.NewPacket(data, pr.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		nl := pkt.NetworkLayer()
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if nl == nil || !ok {
			continue
		}
		asm.AssembleWithTimestamp(nl.NetworkFlow(), tcp, ci.Timestamp)
	}
	asm.FlushAll()

	var out []timedRequest
	for _, s := range factory.streams {
		reqs, err := s.requests()
		if err != nil {
			return nil, err
		}
		out = append(out, reqs...)
		if len(out) > maxReplayRequests {
			return nil, fmt.Errorf("more than %d requests", maxReplayRequests)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no HTTP/1 or Bolt requests found")
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	kind := out[0].req.Raw != nil
	reqs = make([]Request, len(out))
	for i, tr := range out {
		if (tr.req.Raw != nil) != kind {
			return nil, errors.New("the capture mixes HTTP and Bolt requests")
		}
		reqs[i] = tr.req
	}
	return reqs, nil
}

type timedRequest struct {
	at  time.Time
	req Request
}

// captureFactory collects each TCP direction's bytes.
type captureFactory struct{ streams []*captureStream }

func (f *captureFactory) New(_, _ gopacket.Flow) tcpassembly.Stream {
	s := &captureStream{}
	f.streams = append(f.streams, s)
	return s
}

// captureStream is one direction of a TCP connection: its bytes and when
// each piece was seen, so a request can be dated by its first byte.
type captureStream struct {
	data  []byte
	marks []mark
	gap   bool // bytes were lost: parsing stops there
}

type mark struct {
	off int
	at  time.Time
}

func (s *captureStream) Reassembled(rs []tcpassembly.Reassembly) {
	for _, r := range rs {
		if s.gap {
			return
		}
		if r.Skip > 0 || (r.Skip < 0 && len(s.data) > 0) {
			s.gap = true
			return
		}
		if len(r.Bytes) == 0 {
			continue
		}
		if len(s.data)+len(r.Bytes) > 256<<20 {
			s.gap = true
			return
		}
		s.marks = append(s.marks, mark{off: len(s.data), at: r.Seen})
		s.data = append(s.data, r.Bytes...)
	}
}

func (s *captureStream) ReassemblyComplete() {}

func (s *captureStream) timeAt(off int) time.Time {
	i := sort.Search(len(s.marks), func(i int) bool { return s.marks[i].off > off })
	if i == 0 {
		return time.Time{}
	}
	return s.marks[i-1].at
}

var httpMethods = []string{"GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH ", "TRACE ", "CONNECT "}

// requests parses the stream if it is the client side of HTTP/1 or Bolt;
// other streams (responses, other protocols) give nothing. A request cut
// off by the end of the capture or a gap is dropped.
func (s *captureStream) requests() ([]timedRequest, error) {
	d := s.data
	for _, m := range httpMethods {
		if bytes.HasPrefix(d, []byte(m)) {
			return s.httpRequests(), nil
		}
	}
	if len(d) >= bolt.RequestHeaderLen && d[0] == bolt.ProtocolCode && (d[1] == bolt.TypeRequest || d[1] == bolt.TypeOneway) {
		return s.boltRequests(), nil
	}
	return nil, nil
}

func (s *captureStream) httpRequests() []timedRequest {
	rd := bytes.NewReader(s.data)
	br := bufio.NewReader(rd)
	var out []timedRequest
	for {
		off := len(s.data) - rd.Len() - br.Buffered()
		req, err := http.ReadRequest(br)
		if err != nil {
			return out
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return out
		}
		r := Request{Method: req.Method, Path: req.RequestURI, Host: req.Host, Body: body}
		names := make([]string, 0, len(req.Header))
		for name := range req.Header {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			switch strings.ToLower(name) {
			case "content-length", "transfer-encoding", "connection", "keep-alive", "te", "upgrade", "trailer":
				continue // framing and hop-by-hop: the client sets its own
			}
			for _, v := range req.Header[name] {
				r.Headers = append(r.Headers, [2]string{name, v})
			}
		}
		out = append(out, timedRequest{at: s.timeAt(off), req: r})
	}
}

func (s *captureStream) boltRequests() []timedRequest {
	var out []timedRequest
	var f bolt.Frame
	for off := 0; off < len(s.data); {
		n, err := bolt.Decode(s.data[off:], &f, 0)
		if err != nil {
			return out
		}
		// One-way requests get no answer and heartbeats are not load.
		if f.IsRequest() && !f.IsOneway() && !f.IsHeartbeat() {
			raw := append([]byte(nil), s.data[off:off+n]...)
			out = append(out, timedRequest{at: s.timeAt(off), req: Request{Raw: raw}})
		}
		off += n
	}
	return out
}
