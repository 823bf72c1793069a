package router

import (
	"bytes"
)

// Table is a compiled route table. It is immutable once New returns it, so
// any number of goroutines may call Match at once.
type Table struct {
	name string

	// Virtual host selection, in Envoy's order: exact domain, longest
	// "*suffix", longest "prefix*", then "*".
	exact         map[string]*virtualHost // lower-case domains
	exactWithPort bool                    // some exact domain names a port: try the host as sent first
	suffixes      []wildcardDomain        // longest first
	prefixes      []wildcardDomain        // longest first
	fallback      *virtualHost            // the "*" virtual host, or nil
	onlyFallback  bool                    // no domain but "*": skip reading the host
}

type virtualHost struct {
	name   string
	routes []compiledRoute
}

// wildcardDomain is a "*suffix" or "prefix*" domain with the "*" cut off.
type wildcardDomain struct {
	part string // lower case
	vh   *virtualHost
}

// maxHostLen bounds the host Match lowers into a stack buffer. A DNS name has
// at most 253 characters; with brackets and a port any valid authority fits.
// A longer host can only match the "*" virtual host.
const maxHostLen = 320

// Name is the table's router_config_name.
func (t *Table) Name() string { return t.name }

// Match returns the first route of the request's virtual host whose path rule
// and header matchers all match, or nil when none does. It allocates nothing.
func (t *Table) Match(req Request) *Route {
	vh := t.fallback
	if !t.onlyFallback {
		vh = t.virtualHost(req.Host())
	}
	if vh == nil {
		return nil
	}
	path := req.Path()
	for i := range vh.routes {
		r := &vh.routes[i]
		if r.match(path, req) {
			return &r.route
		}
	}
	return nil
}

// virtualHost picks the virtual host for a request's authority: the port is
// ignored unless an exact domain names one, and case never matters.
func (t *Table) virtualHost(host []byte) *virtualHost {
	if len(host) > maxHostLen {
		return t.fallback
	}
	var buf [maxHostLen]byte
	full := buf[:len(host)]
	for i, c := range host {
		full[i] = lowerASCII(c)
	}
	h := stripPort(full)
	if t.exactWithPort && len(h) != len(full) {
		if vh, ok := t.exact[string(full)]; ok {
			return vh
		}
	}
	if vh, ok := t.exact[string(h)]; ok {
		return vh
	}
	// A wildcard must stand for at least one character: "*.example.com"
	// matches "a.example.com" and "a.b.example.com" but not "example.com".
	for i := range t.suffixes {
		s := t.suffixes[i].part
		if len(h) > len(s) && string(h[len(h)-len(s):]) == s {
			return t.suffixes[i].vh
		}
	}
	for i := range t.prefixes {
		p := t.prefixes[i].part
		if len(h) > len(p) && string(h[:len(p)]) == p {
			return t.prefixes[i].vh
		}
	}
	return t.fallback
}

// stripPort cuts ":port" off an authority. A bracketed IPv6 literal keeps its
// brackets; an unbracketed one (more than one colon) is returned whole.
func stripPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	i := bytes.LastIndexByte(h, ':')
	if i < 0 || bytes.IndexByte(h[:i], ':') >= 0 {
		return h
	}
	return h[:i]
}
