// Package bench is the engine behind `mosnctl bench`: a load generator for
// HTTP/1.1, HTTP/2 (TLS and h2c), Bolt and raw TCP echo, with closed-loop
// and open-loop (fixed rate, measured from the intended send time) load,
// log-bucketed latency histograms, CI assertions and baseline comparison.
//
// Each protocol is a client of its own written for this package (no
// net/http on the request path) so that the generator costs less CPU per
// request than the peers it is compared with. It owns no server code and
// imports only protocol codecs below it.
package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Config describes one run.
type Config struct {
	// Targets are the URLs to load; their schemes must agree. Weights, if
	// set, has one entry per target.
	Targets []string
	Weights []int

	Conns    int           // connections (closed loop: also the concurrency)
	Streams  int           // concurrent requests per connection, multiplexed protocols only
	Rate     float64       // requests/s over all connections; 0 = closed loop
	Requests int64         // stop after this many recorded requests; 0 = use Duration
	Duration time.Duration // stop after this long (after warmup)
	Warmup   time.Duration // load, but do not record, for this long first
	Timeout  time.Duration // per request; 0 = none

	// HTTP.
	H2       bool
	Method   string
	Headers  []string // "Name: value"
	Body     []byte
	Insecure bool // skip TLS verification

	// Bolt.
	Service   string
	RPCMethod string

	// Replay holds requests decoded from a capture; when set it replaces
	// the requests built from the fields above.
	Replay []Request

	// IO picks the engine: IOAuto (event loops where they apply: closed
	// loop over plain TCP on Linux) or IOGoroutines (a goroutine per
	// connection everywhere). Threads is the number of event loops
	// (default half of GOMAXPROCS, at least 1).
	IO      string
	Threads int

	// Progress, when set, gets a progress line once a second.
	Progress io.Writer

	// TLS is used for https targets; nil builds one from Insecure.
	TLS *tls.Config

	// grace is how long a -d run waits past its end for what is in flight
	// (and open loop for late sends) when Timeout is 0; tests shorten it.
	grace time.Duration
}

// Request is one request in protocol-neutral form. HTTP fields are used by
// the HTTP clients; Raw holds a captured frame that a protocol replays as
// it is (Bolt rewrites the request id in it).
type Request struct {
	Method  string
	Path    string // path and query
	Host    string
	Headers [][2]string
	Body    []byte
	Raw     []byte
}

// target is a parsed Targets entry.
type target struct {
	url    *url.URL
	scheme string
	addr   string // host:port
	weight int
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	case "bolt":
		return "12200"
	}
	return ""
}

func parseTargets(cfg *Config) ([]target, error) {
	if len(cfg.Targets) == 0 {
		return nil, usageErrorf("no target URL given")
	}
	if len(cfg.Weights) != 0 && len(cfg.Weights) != len(cfg.Targets) {
		return nil, usageErrorf("%d weights for %d targets", len(cfg.Weights), len(cfg.Targets))
	}
	var out []target
	for i, raw := range cfg.Targets {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, usageErrorf("bad URL %q: %v", raw, err)
		}
		scheme := strings.ToLower(u.Scheme)
		if _, ok := protocols[scheme]; !ok {
			return nil, usageErrorf("bad URL %q: unsupported scheme %q (want %s)", raw, u.Scheme, schemeList())
		}
		if u.Host == "" {
			return nil, usageErrorf("bad URL %q: no host", raw)
		}
		addr := u.Host
		if u.Port() == "" {
			p := defaultPort(scheme)
			if p == "" {
				return nil, usageErrorf("bad URL %q: no port", raw)
			}
			addr = u.Hostname() + ":" + p
			if strings.Contains(u.Hostname(), ":") {
				addr = "[" + u.Hostname() + "]:" + p
			}
		}
		w := 1
		if len(cfg.Weights) != 0 {
			w = cfg.Weights[i]
			if w <= 0 {
				return nil, usageErrorf("weight %d of %q must be positive", w, raw)
			}
		}
		if i > 0 && protoFamily(scheme) != protoFamily(out[0].scheme) {
			return nil, usageErrorf("targets mix schemes %q and %q", out[0].scheme, scheme)
		}
		out = append(out, target{url: u, scheme: scheme, addr: addr, weight: w})
	}
	return out, nil
}

func protoFamily(scheme string) string {
	if scheme == "https" {
		return "http"
	}
	return scheme
}

func (cfg *Config) validate() error {
	if cfg.Conns <= 0 {
		return usageErrorf("-c must be at least 1, got %d", cfg.Conns)
	}
	if cfg.Streams <= 0 {
		cfg.Streams = 1
	}
	if cfg.Rate < 0 {
		return usageErrorf("--rate must not be negative")
	}
	if cfg.Requests < 0 || cfg.Duration < 0 || cfg.Warmup < 0 || cfg.Timeout < 0 {
		return usageErrorf("-n, -d, --warmup and --timeout must not be negative")
	}
	if cfg.Requests == 0 && cfg.Duration == 0 {
		if len(cfg.Replay) > 0 {
			cfg.Requests = int64(len(cfg.Replay))
		} else {
			cfg.Duration = 10 * time.Second
		}
	}
	if cfg.IO != IOAuto && cfg.IO != IOGoroutines && cfg.IO != IOEventLoop {
		return usageErrorf("unknown --io %q (want goroutines or epoll)", cfg.IO)
	}
	if cfg.Threads < 0 {
		return usageErrorf("--threads must not be negative")
	}
	if cfg.Method == "" {
		cfg.Method = "GET"
		if len(cfg.Body) > 0 {
			cfg.Method = "POST"
		}
	}
	for _, h := range cfg.Headers {
		name, _, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t\r\n") {
			return usageErrorf("bad header %q (want \"Name: value\")", h)
		}
	}
	return nil
}

// IO engines.
const (
	IOAuto       = ""
	IOGoroutines = "goroutines"
	IOEventLoop  = "epoll"
)

// usageError marks errors caused by bad input, so the command exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// IsUsage reports whether err was caused by bad input (exit code 2).
func IsUsage(err error) bool {
	_, ok := err.(*usageError)
	return ok
}

// cutHeader splits "Name: value".
func cutHeader(h string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(h, ":")
	return strings.TrimSpace(name), strings.TrimSpace(value), ok
}
