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
	// ":method"/"method" for the method), Bolt header-map keys as they are.
	router.Request
	// Cluster is the cluster the route chose; "" for a direct response.
	Cluster() string
}

// Verdict is what the chain decides for a request. The zero Verdict lets
// it go on.
type Verdict struct {
	// Status, when set, answers the request locally with this HTTP status
	// (Bolt answers its nearest status); no upstream is asked.
	Status int
	Body   []byte
	// Delay holds the request this long before it goes on (or before the
	// local answer).
	Delay time.Duration
}

// StreamFilter is one configured filter. The proxy calls it for every
// request, from many connections at once.
type StreamFilter interface {
	OnRequest(r Request) Verdict
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

// Chain is a listener's stream filters, in config order.
type Chain []StreamFilter

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
			return nil, fmt.Errorf("%s.type: unknown stream filter %q (known: %s)", fp, f.Type, strings.Join(Types(), ", "))
		}
		sf, err := factory(f, fp)
		if err != nil {
			return nil, err
		}
		c = append(c, sf)
	}
	return c, nil
}

// OnRequest runs the filters in order. Their delays add up; the first local
// answer ends the chain.
func (c Chain) OnRequest(r Request) Verdict {
	var v Verdict
	for _, f := range c {
		fv := f.OnRequest(r)
		v.Delay += fv.Delay
		if fv.Status != 0 {
			v.Status, v.Body = fv.Status, fv.Body
			return v
		}
	}
	return v
}
