package router

import (
	"bytes"
	"regexp"
)

// pathKind is the path rule of a route.
type pathKind uint8

const (
	pathAny    pathKind = iota // no path rule: only the header matchers decide
	pathPrefix                 // "prefix"
	pathExact                  // "path"
	pathRegex                  // "regex", anchored to the whole path
)

// headerKind says how a header matcher compares the request's value.
//
// MOSN's header matcher (pkg/router: NewKeyValueData / StringMatch) compares
// the configured value byte for byte when "regex" is absent or false, and
// compiles it as a regular expression only when "regex" is true. So a value
// of ".*" without the flag is, in general, the literal two characters.
//
// The one exception is MOSN's RPC rule (CreateRPCRule, kept for old SOFA
// configs): a route with no prefix/path/regex whose only header matcher is
// named "service" uses a "fast match": it matches when the request's
// "service" header is present and non-empty and either equals the value or the
// value is ".*". That is what the sofarpc samples'
// {"headers":[{"name":"service","value":".*"}]} relies on, and we keep it for
// exactly that shape (headerNonEmpty below).
//
// Two deliberate differences from MOSN, both toward the documented config
// contract: a regex must match the whole value (MOSN's MatchString also
// accepts a match anywhere in it), and a "service" matcher with "regex": true
// is a real regex (MOSN's fast match ignores the flag).
type headerKind uint8

const (
	headerExact    headerKind = iota // value == configured value
	headerRegex                      // configured regex matches the whole value
	headerNonEmpty                   // present with a non-empty value (SOFA ".*")
	// Regexes ".*" and ".+" skip the regexp engine: config.ApplyDefaults
	// rewrites the SOFA ".*" into ".+", which would otherwise run a regexp on
	// every Bolt request. "." does not match a newline, and neither do these.
	headerDotStar // any value without '\n'
	headerDotPlus // a non-empty value without '\n'
)

// sofaServiceKey is the Bolt/SOFA header MOSN's RPC rule keys on.
const sofaServiceKey = "service"

type headerMatcher struct {
	name   string // as configured: HTTP views fold case, Bolt keys are exact
	kind   headerKind
	value  string
	re     *regexp.Regexp
	method bool // name is "method" or ":method": ask for ":method" first
}

func (m *headerMatcher) match(req Request) bool {
	var v []byte
	ok := false
	if m.method {
		// HTTP views answer ":method" with the request method; others
		// (Bolt) are asked for a header of the matcher's name.
		v, ok = req.Header(":method")
	}
	if !ok {
		if v, ok = req.Header(m.name); !ok {
			return false
		}
	}
	switch m.kind {
	case headerExact:
		return string(v) == m.value
	case headerRegex:
		return m.re.Match(v)
	case headerNonEmpty:
		return len(v) > 0
	case headerDotStar:
		return bytes.IndexByte(v, '\n') < 0
	default:
		return len(v) > 0 && bytes.IndexByte(v, '\n') < 0
	}
}

// compiledRoute is one route of a virtual host: its matchers and the action.
type compiledRoute struct {
	kind            pathKind
	pattern         string // prefix or exact path
	caseInsensitive bool
	re              *regexp.Regexp
	headers         []headerMatcher
	route           Route
}

// matchPath reports whether path satisfies the route's path rule. An empty
// path (Bolt and other RPC requests carry none) is matched as "/": a prefix
// "/" route therefore matches them, as does a route without a path rule.
func (r *compiledRoute) matchPath(path []byte) bool {
	switch r.kind {
	case pathAny:
		return true
	case pathPrefix:
		if len(path) == 0 {
			return r.pattern == "/" || r.pattern == ""
		}
		if len(path) < len(r.pattern) {
			return false
		}
		if r.caseInsensitive {
			return equalFoldASCII(path[:len(r.pattern)], r.pattern)
		}
		return string(path[:len(r.pattern)]) == r.pattern
	case pathExact:
		if len(path) == 0 {
			return r.pattern == "/"
		}
		if r.caseInsensitive {
			return len(path) == len(r.pattern) && equalFoldASCII(path, r.pattern)
		}
		return string(path) == r.pattern
	default:
		if len(path) == 0 {
			return r.re.MatchString("/")
		}
		return r.re.Match(path)
	}
}

func (r *compiledRoute) match(path []byte, req Request) bool {
	if !r.matchPath(path) {
		return false
	}
	for i := range r.headers {
		if !r.headers[i].match(req) {
			return false
		}
	}
	return true
}

// equalFoldASCII compares b and s ignoring ASCII case; len(b) must equal
// len(s). Paths and domains are ASCII on the wire (anything else is
// percent-encoded or punycode), so Unicode folding would only cost time.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
