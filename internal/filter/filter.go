// Package filter holds the stream filter interface, the registry of filter
// types and the chain a listener runs: a listener's stream_filters are built
// once per config snapshot, and the proxy runs the chain on every request
// after its route is known, before any upstream is asked. A listener without
// filters has a nil chain and pays nothing.
//
// It is a side package: it imports config and router, never a layer of the
// data path.
package filter

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/router"
)

// Request is what a stream filter sees of a request, whatever its protocol.
type Request interface {
	// Header returns a header: HTTP fields by case-insensitive name (and
	// the pseudo-headers ":method", ":path", ":authority"), Bolt
	// header-map keys as they are.
	router.Request
	// Cluster is the cluster the route chose; "" for a direct response.
	Cluster() string
}

// Response is a response head as encode-side filters see it: its status in
// HTTP terms (Bolt's mapped) and its headers, which they may edit.
type Response interface {
	Status() int
	Header(name string) ([]byte, bool)
	DelHeader(name []byte)
	AddHeader(name, value []byte)
}

// Verdict is what a filter decides in one phase. The zero Verdict lets the
// stream go on.
type Verdict struct {
	// Status, when set, stops the stream and answers it locally with this
	// HTTP status (Bolt answers its nearest status) if no response has
	// begun; a response already under way is cut (its connection closes).
	Status int
	Body   []byte
	// Delay pauses the stream this long before it goes on (or before the
	// local answer). It holds no goroutine and no event loop.
	Delay time.Duration
}

// StreamFilter is one configured filter. Every filter sees request heads;
// it implements any of DataDecoder, HeadersEncoder and DataEncoder to see
// more. The proxy calls a filter from many streams at once, and the decode
// side of one stream (its body pump) concurrently with its encode side.
type StreamFilter interface {
	DecodeHeaders(r Request) Verdict
}

// DataDecoder sees each chunk of a request body as it goes upstream; end
// marks the last.
type DataDecoder interface {
	DecodeData(r Request, p []byte, end bool) Verdict
}

// HeadersEncoder sees, and may edit, each response head before it goes
// downstream; a Status answers instead of the upstream's response.
type HeadersEncoder interface {
	EncodeHeaders(r Request, resp Response) Verdict
}

// DataEncoder sees each chunk of a response body before it goes
// downstream; end marks the last.
type DataEncoder interface {
	EncodeData(r Request, p []byte, end bool) Verdict
}

// Factory builds a filter from its config block; path is the filter's path
// in the config, for errors.
type Factory func(f config.Filter, path string) (StreamFilter, error)

// factories is the registry, filled by init functions and read-only after.
var factories = map[string]Factory{}

// Register adds a filter type; call it from an init function.
func Register(name string, f Factory) {
	if _, dup := factories[name]; dup {
		panic("filter: " + name + " registered twice")
	}
	factories[name] = f
	config.AddStreamFilterType(name)
}

// Types lists the registered filter types, sorted.
func Types() []string {
	out := make([]string, 0, len(factories))
	for name := range factories {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Chain is a listener's stream filters, in config order, split by phase
// once when it is built: a phase no filter has costs a length check. The
// zero Chain has no filters.
type Chain struct {
	decodeHeaders []StreamFilter
	decodeData    []DataDecoder
	encodeHeaders []HeadersEncoder
	encodeData    []DataEncoder
}

// Empty reports whether the chain has no filters.
func (c *Chain) Empty() bool { return len(c.decodeHeaders) == 0 }

// DecodesData, EncodesHeaders and EncodesData report whether any filter
// has that phase.
func (c *Chain) DecodesData() bool    { return len(c.decodeData) > 0 }
func (c *Chain) EncodesHeaders() bool { return len(c.encodeHeaders) > 0 }
func (c *Chain) EncodesData() bool    { return len(c.encodeData) > 0 }

// Streams reports whether a filter sees the stream past its request head
// (a body, the response): the request must then stay readable after the
// protocol's read buffer has moved on.
func (c *Chain) Streams() bool {
	return len(c.decodeData)+len(c.encodeHeaders)+len(c.encodeData) > 0
}

func (c *Chain) add(f StreamFilter) {
	c.decodeHeaders = append(c.decodeHeaders, f)
	if d, ok := f.(DataDecoder); ok {
		c.decodeData = append(c.decodeData, d)
	}
	if e, ok := f.(HeadersEncoder); ok {
		c.encodeHeaders = append(c.encodeHeaders, e)
	}
	if e, ok := f.(DataEncoder); ok {
		c.encodeData = append(c.encodeData, e)
	}
}

// Build builds a listener's stream filters; path is the listener's path.
// Filter types mosnctl accepts and ignores (config warns about them) are
// skipped.
func Build(fs []config.Filter, path string) (Chain, error) {
	var c Chain
	for i, f := range fs {
		fp := fmt.Sprintf("%s.stream_filters[%d]", path, i)
		factory := factories[f.Type]
		if factory == nil {
			if config.IsIgnoredStreamFilter(f.Type) {
				continue
			}
			return Chain{}, fmt.Errorf("%s.type: unknown stream filter %q (known: %s)", fp, f.Type, strings.Join(Types(), ", "))
		}
		sf, err := factory(f, fp)
		if err != nil {
			return Chain{}, err
		}
		c.add(sf)
	}
	return c, nil
}

// run runs one phase's filters in order: their delays add up, and the
// first stop ends the phase.
func run[F any](fs []F, call func(F) Verdict) Verdict {
	var v Verdict
	for _, f := range fs {
		fv := call(f)
		v.Delay += fv.Delay
		if fv.Status != 0 {
			v.Status, v.Body = fv.Status, fv.Body
			return v
		}
	}
	return v
}

// DecodeHeaders runs the request-head phase.
func (c *Chain) DecodeHeaders(r Request) Verdict {
	return run(c.decodeHeaders, func(f StreamFilter) Verdict { return f.DecodeHeaders(r) })
}

// DecodeData runs the request-body phase on one chunk.
func (c *Chain) DecodeData(r Request, p []byte, end bool) Verdict {
	return run(c.decodeData, func(f DataDecoder) Verdict { return f.DecodeData(r, p, end) })
}

// EncodeHeaders runs the response-head phase.
func (c *Chain) EncodeHeaders(r Request, resp Response) Verdict {
	return run(c.encodeHeaders, func(f HeadersEncoder) Verdict { return f.EncodeHeaders(r, resp) })
}

// EncodeData runs the response-body phase on one chunk.
func (c *Chain) EncodeData(r Request, p []byte, end bool) Verdict {
	return run(c.encodeData, func(f DataEncoder) Verdict { return f.EncodeData(r, p, end) })
}
