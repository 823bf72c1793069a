package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests of this file send raw requests through the proxy to an origin
// that records the bytes it receives, so they see exactly what an upstream
// would have to interpret (issue 19).

// recordingOrigin answers every request with a fixed response and hands the
// bytes of each request it received (head and body) to the test.
type recordingOrigin struct {
	addr     string
	requests chan string
}

// startRecordingOrigin runs a raw HTTP/1 origin on loopback that answers
// each request with resp. It frames request bodies by their first
// Content-Length value only: the tests send bodies that way.
func startRecordingOrigin(t *testing.T, resp string) *recordingOrigin {
	t.Helper()
	o := &recordingOrigin{requests: make(chan string, 64)}
	o.addr = serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			var req strings.Builder
			length := 0
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				req.WriteString(line)
				if line == "\r\n" {
					break
				}
				name, value, _ := strings.Cut(line, ":")
				if strings.EqualFold(name, "content-length") && length == 0 {
					first, _, _ := strings.Cut(value, ",")
					length, _ = strconv.Atoi(strings.TrimSpace(first))
				}
			}
			body := make([]byte, length)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			req.Write(body)
			o.requests <- req.String()
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	return o
}

// next returns the next request the origin received.
func (o *recordingOrigin) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-o.requests:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the origin received no request")
		return ""
	}
}

// none fails the test if the origin received a request.
func (o *recordingOrigin) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-o.requests:
		t.Fatalf("the origin received %q, want nothing", r)
	default:
	}
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// hardeningConfig is one HTTP/1 proxy listener "in" with the given proxy
// filter extras and routes (JSON array elements) to cluster "origin" at addr.
func hardeningConfig(addr, filterExtra, routes string) string {
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [%s]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"%s}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "connect_timeout": "1s", "hosts": [{"address": %q}]}]}
}`, routes, filterExtra, addr)
}

// allToOrigin is a virtual host sending every request to the origin.
const allToOrigin = `{"name": "all", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}`

// A Content-Length repeated with the same value, or listed twice in one
// field, reaches the upstream once (RFC 9110 8.6), so an upstream that
// would refuse or misread the copies sees a plain message; differing values
// are still refused.
func TestRequestDuplicateContentLengthCollapsed(t *testing.T) {
	o := startRecordingOrigin(t, okResponse)
	p := startProxy(t, hardeningConfig(o.addr, "", allToOrigin))
	for _, tt := range []struct{ name, cl string }{
		{"two fields", "Content-Length: 5\r\ncontent-length: 5\r\n"},
		{"list", "Content-Length: 5, 5\r\n"},
		{"both", "Content-Length: 5,5\r\nContent-Length: 5\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rawExchange(t, p.addr("in"), "POST /u HTTP/1.1\r\nHost: h\r\n"+tt.cl+"X-After: 1\r\nConnection: close\r\n\r\nhello")
			if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Fatalf("response %q", got)
			}
			want := strings.SplitAfter(tt.cl, "\r\n")[0]
			want = want[:strings.Index(want, ":")] + ": 5\r\n"
			if up := o.next(t); up != "POST /u HTTP/1.1\r\nHost: h\r\n"+want+"X-After: 1\r\n\r\nhello" {
				t.Errorf("upstream got %q", up)
			}
		})
	}
	got := rawExchange(t, p.addr("in"), "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "Connection: close\r\n") {
		t.Errorf("differing Content-Length values: %q, want a 400 that closes", got)
	}
	o.none(t)
}

// The same holds for a response relayed downstream.
func TestRequestDuplicateContentLengthInResponseCollapsed(t *testing.T) {
	for _, tt := range []struct{ name, cl string }{
		{"two fields", "Content-Length: 2\r\nContent-Length: 2\r\n"},
		{"list", "Content-Length: 2 , 2\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := startRecordingOrigin(t, "HTTP/1.1 200 OK\r\n"+tt.cl+"X-After: 1\r\n\r\nok")
			p := startProxy(t, hardeningConfig(o.addr, "", allToOrigin))
			got := rawExchange(t, p.addr("in"), "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
			if want := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-After: 1\r\nConnection: close\r\n\r\nok"; got != want {
				t.Errorf("client got %q\nwant       %q", got, want)
			}
		})
	}
}

// An HTTP/1.0 request may omit Host, but it goes upstream as HTTP/1.1, which
// requires one: the proxy adds the route's host_rewrite, else the authority
// the client reached, as nginx does.
func TestRequestHTTP10WithoutHostGetsOne(t *testing.T) {
	o := startRecordingOrigin(t, okResponse)
	p := startProxy(t, hardeningConfig(o.addr, "", `{"name": "all", "domains": ["*"], "routers": [
      {"match": {"prefix": "/rw"}, "route": {"cluster_name": "origin", "host_rewrite": "up.example"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}`))
	for _, tt := range []struct{ name, req, up string }{
		{"listener address", "GET /a HTTP/1.0\r\nUser-Agent: t\r\n\r\n",
			"GET /a HTTP/1.1\r\nUser-Agent: t\r\nHost: " + p.addr("in") + "\r\n\r\n"},
		{"host_rewrite", "GET /rw HTTP/1.0\r\n\r\n", "GET /rw HTTP/1.1\r\nHost: up.example\r\n\r\n"},
		{"absolute form", "GET http://abs.example:81/a HTTP/1.0\r\n\r\n", "GET /a HTTP/1.1\r\nHost: abs.example:81\r\n\r\n"},
		{"Host given", "GET /a HTTP/1.0\r\nHost: given\r\n\r\n", "GET /a HTTP/1.1\r\nHost: given\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rawExchange(t, p.addr("in"), tt.req)
			if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "\r\n\r\nok") {
				t.Fatalf("response %q", got)
			}
			if up := o.next(t); up != tt.up {
				t.Errorf("upstream got %q\nwant         %q", up, tt.up)
			}
		})
	}
}

// An absolute-form target names the host (RFC 9112 3.2.2): routing uses
// its authority, and the upstream gets the origin form with a Host from the
// authority, not the client's conflicting Host.
func TestRequestAbsoluteFormForwardedInOriginForm(t *testing.T) {
	o := startRecordingOrigin(t, okResponse)
	p := startProxy(t, hardeningConfig(o.addr, "", `
      {"name": "target", "domains": ["target.example"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]},
      {"name": "other", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "direct_response": {"status": 421, "body": "other\n"}}]}`))
	for _, tt := range []struct{ name, target, host, up string }{
		{"path and query", "http://target.example:8080/x?q=1&r=/../a", "other.example",
			"GET /x?q=1&r=/../a HTTP/1.1\r\nHost: target.example:8080\r\n\r\n"},
		{"userinfo and no path", "http://user:pw@target.example?q", "other.example",
			"GET /?q HTTP/1.1\r\nHost: target.example\r\n\r\n"},
		{"no path", "HTTP://target.example", "other.example", "GET / HTTP/1.1\r\nHost: target.example\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rawExchange(t, p.addr("in"), "GET "+tt.target+" HTTP/1.1\r\nHost: "+tt.host+"\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Fatalf("response %q", got)
			}
			if up := o.next(t); up != tt.up {
				t.Errorf("upstream got %q\nwant         %q", up, tt.up)
			}
		})
	}
	// The Host header does not route an absolute-form request.
	got := rawExchange(t, p.addr("in"), "GET http://other.example/x HTTP/1.1\r\nHost: target.example\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 421 ") {
		t.Errorf("absolute form naming another host: %q, want its 421", got)
	}
	o.none(t)
}

// denyAdmin denies /admin with a direct 403 and sends everything else to
// the origin, prefix-rewriting /api/ to /v2/.
const denyAdmin = `{"name": "all", "domains": ["*"], "routers": [
      {"match": {"prefix": "/admin"}, "direct_response": {"status": 403, "body": "denied\n"}},
      {"match": {"prefix": "/api/"}, "route": {"cluster_name": "origin", "prefix_rewrite": "/v2/"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}`

// Paths are normalized before routing, so a deny rule on a prefix cannot
// be walked around with dot segments, repeated slashes or percent-encoded
// letters, and the upstream gets the path the route matched; the query is
// left alone. A path climbing above the root is refused and the connection
// closed, as for any malformed request.
func TestRequestPathNormalizedBeforeRouting(t *testing.T) {
	o := startRecordingOrigin(t, okResponse)
	logFile := t.TempDir() + "/access.log"
	cfg := strings.Replace(hardeningConfig(o.addr, "", denyAdmin), `"address": "127.0.0.1:0",`,
		fmt.Sprintf(`"address": "127.0.0.1:0", "access_log": %q,`, logFile), 1)
	p := startProxy(t, cfg)
	for _, path := range []string{"/admin", "/./admin", "//admin", "/x/../admin", "/%61dmin", "/x/%2e%2E/admin/", "/%41dmin"} {
		got := rawExchange(t, p.addr("in"), "GET "+path+"?a=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		want := "/admin"
		if path == "/%41dmin" { // "Admin": another path, since paths are case-sensitive
			want = ""
		}
		if want != "" && !strings.HasPrefix(got, "HTTP/1.1 403 ") {
			t.Errorf("%s: %q, want the deny rule's 403", path, got)
		}
		if want == "" {
			if up := o.next(t); up != "GET /Admin?a=1 HTTP/1.1\r\nHost: h\r\n\r\n" {
				t.Errorf("%s: upstream got %q", path, up)
			}
		}
	}
	for _, tt := range []struct{ target, up string }{
		{"/a/./b/../c//d?x=/../y&z=%2e%2E//", "/a/c/d?x=/../y&z=%2e%2E//"},
		{"/%7e%75ser/a%2fb%3f/", "/~user/a%2Fb%3F/"},
		{"/x/../api/./items", "/v2/items"}, // prefix_rewrite applies to the normalized path
		{"/.well-known/a", "/.well-known/a"},
	} {
		got := rawExchange(t, p.addr("in"), "GET "+tt.target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Errorf("%s: %q", tt.target, got)
			continue
		}
		if up := o.next(t); up != "GET "+tt.up+" HTTP/1.1\r\nHost: h\r\n\r\n" {
			t.Errorf("%s: upstream got %q, want %s", tt.target, up, tt.up)
		}
	}
	for _, target := range []string{"/../x", "/a/../../admin", "/%2e%2e/admin", "/%zzadmin"} {
		// A keep-alive request: the 400 must close the connection anyway.
		got := rawExchange(t, p.addr("in"), "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "Connection: close\r\n") {
			t.Errorf("%s: %q, want a 400 that closes the connection", target, got)
		}
	}
	o.none(t)
	if logs := p.log.String(); !strings.Contains(logs, "path climbs above the root") || !strings.Contains(logs, "malformed percent-encoding") {
		t.Errorf("the refusals are not logged with their reason:\n%s", logs)
	}
	// The access log shows the path as routed (its copy and the prefix
	// rewrite share the stream's scratch space).
	waitFor(t, "the access log line of /x/../api/./items", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), `"path":"/api/items"`)
	})
}

// normalize_path and merge_slashes turn each rule off.
func TestRequestPathNormalizationOff(t *testing.T) {
	o := startRecordingOrigin(t, okResponse)
	for _, tt := range []struct {
		name, filter string
		target, up   string // up "": the deny rule answers
	}{
		{"both off", `, "normalize_path": false, "merge_slashes": false`, "/x/..//%61dmin/./", "/x/..//%61dmin/./"},
		{"no merging", `, "merge_slashes": false`, "/x/..//%61dmin/./", "//admin/"},
		{"merging only", `, "normalize_path": false`, "/x/..//%61dmin/./", "/x/../%61dmin/./"},
		{"merging only, deny", `, "normalize_path": false`, "//admin", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, hardeningConfig(o.addr, tt.filter, denyAdmin))
			got := rawExchange(t, p.addr("in"), "GET "+tt.target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
			if tt.up == "" {
				if !strings.HasPrefix(got, "HTTP/1.1 403 ") {
					t.Errorf("%q, want the deny rule's 403", got)
				}
				return
			}
			if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Fatalf("%q", got)
			}
			if up := o.next(t); up != "GET "+tt.up+" HTTP/1.1\r\nHost: h\r\n\r\n" {
				t.Errorf("upstream got %q, want %s", up, tt.up)
			}
		})
	}
	o.none(t)
}
