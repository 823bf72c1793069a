package admin

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// StreamInfo describes one stream in flight.
type StreamInfo struct {
	ID         uint64    `json:"id"`
	Protocol   string    `json:"protocol"`
	Listener   string    `json:"listener"`
	Downstream string    `json:"downstream"`
	RequestID  uint32    `json:"request_id,omitempty"` // Bolt's downstream request id
	Service    string    `json:"service,omitempty"`    // Bolt's service header
	Route      string    `json:"route"`
	Cluster    string    `json:"cluster"`
	Host       string    `json:"host"`
	State      string    `json:"state"`
	Start      time.Time `json:"start"`
	AgeMs      float64   `json:"age_ms"`
	BytesIn    int64     `json:"bytes_in"`  // request body bytes read (Bolt: the whole frame)
	BytesOut   int64     `json:"bytes_out"` // response bytes written downstream
	// A TLS connection's version ("TLSv1.3") and cipher suite (Go's name),
	// and the client certificate's identity when one verified (mTLS).
	TLSVersion  string `json:"tls_version,omitempty"`
	TLSCipher   string `json:"tls_cipher,omitempty"`
	PeerURI     string `json:"peer_uri,omitempty"`     // first URI SAN (a SPIFFE id)
	PeerDNS     string `json:"peer_dns,omitempty"`     // first DNS SAN
	PeerSubject string `json:"peer_subject,omitempty"` // subject DN
}

// StreamQuery selects streams; zero fields select everything.
type StreamQuery struct {
	Listener string
	Cluster  string
	Host     string
	Protocol string
	State    string
	MinAge   time.Duration
	Now      time.Time // ages are measured against it
}

// StreamList is the answer of /api/v1/streams: the selected streams, sorted
// (oldest first unless asked otherwise) and cut to the limit; Total counts
// them before the cut.
type StreamList struct {
	Time    time.Time    `json:"time"`
	Total   int          `json:"total"`
	Sort    string       `json:"sort"`
	Streams []StreamInfo `json:"streams"`
}

// StreamStates are the states a listed stream can be in, in the order a
// request goes through them (the proxy names them; a server test keeps the
// two lists equal).
var StreamStates = []string{"routing", "connecting", "waiting", "responding"}

// Limits of /api/v1/streams.
const (
	DefaultStreamLimit = 100
	MaxStreamLimit     = 10000
)

// parseStreamQuery reads limit, sort and the filters of /api/v1/streams.
func parseStreamQuery(v url.Values, now time.Time) (q StreamQuery, limit int, sortBy string, err error) {
	q = StreamQuery{Listener: v.Get("listener"), Cluster: v.Get("cluster"), Host: v.Get("host"),
		Protocol: v.Get("protocol"), State: v.Get("state"), Now: now}
	limit = DefaultStreamLimit
	if s := v.Get("limit"); s != "" {
		limit, err = strconv.Atoi(s)
		if err != nil || limit < 1 || limit > MaxStreamLimit {
			return q, 0, "", fmt.Errorf("limit %q: want a number from 1 to %d", s, MaxStreamLimit)
		}
	}
	if s := v.Get("min_age"); s != "" {
		// A duration ("1.5s") or, like the JSON's age_ms, milliseconds.
		d, derr := time.ParseDuration(s)
		if derr != nil {
			ms, merr := strconv.ParseFloat(s, 64)
			// !(ms >= 0) also refuses NaN; the cap keeps the conversion
			// from overflowing into a negative duration.
			if merr != nil || !(ms >= 0) || ms > float64(math.MaxInt64/int64(time.Millisecond)) {
				return q, 0, "", fmt.Errorf("min_age %q: want a duration (500ms, 2s) or milliseconds", s)
			}
			d = time.Duration(ms * float64(time.Millisecond))
		}
		if d < 0 {
			return q, 0, "", fmt.Errorf("min_age %q: must not be negative", s)
		}
		q.MinAge = d
	}
	if q.State != "" && !slices.Contains(StreamStates, q.State) {
		return q, 0, "", fmt.Errorf("state %q: want one of %s", q.State, strings.Join(StreamStates, ", "))
	}
	sortBy = v.Get("sort")
	switch sortBy {
	case "":
		sortBy = "age"
	case "age", "bytes", "bytes_in", "bytes_out":
	default:
		return q, 0, "", fmt.Errorf("sort %q: want age, bytes, bytes_in or bytes_out", sortBy)
	}
	return q, limit, sortBy, nil
}

// SortStreams orders streams by key, the most interesting first: the
// oldest, or the most bytes; ties by id.
func SortStreams(ss []StreamInfo, key string) {
	less := func(a, b *StreamInfo) bool {
		switch key {
		case "bytes":
			if x, y := a.BytesIn+a.BytesOut, b.BytesIn+b.BytesOut; x != y {
				return x > y
			}
		case "bytes_in":
			if a.BytesIn != b.BytesIn {
				return a.BytesIn > b.BytesIn
			}
		case "bytes_out":
			if a.BytesOut != b.BytesOut {
				return a.BytesOut > b.BytesOut
			}
		default:
			if !a.Start.Equal(b.Start) {
				return a.Start.Before(b.Start)
			}
		}
		return a.ID < b.ID
	}
	sort.Slice(ss, func(i, j int) bool { return less(&ss[i], &ss[j]) })
}

// streams lists the streams in flight: /api/v1/streams?limit=N&listener=
// &cluster=&host=&protocol=&state=&min_age=&sort=age|bytes|bytes_in|bytes_out.
func (s *Server) streams(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	q, limit, sortBy, err := parseStreamQuery(r.URL.Query(), now)
	if err != nil {
		http.Error(w, "streams: "+err.Error()+"\n", http.StatusBadRequest)
		return
	}
	ss := s.state.Streams(q)
	SortStreams(ss, sortBy)
	list := StreamList{Time: now, Total: len(ss), Sort: sortBy, Streams: ss[:min(len(ss), limit)]}
	if list.Streams == nil {
		list.Streams = []StreamInfo{}
	}
	writeJSON(w, list)
}
