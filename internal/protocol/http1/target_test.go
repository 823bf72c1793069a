package http1

import (
	"bytes"
	"errors"
	"testing"
)

var allPathRules = []PathRules{{}, {Normalize: true}, {MergeSlashes: true}, {Normalize: true, MergeSlashes: true}}

func TestRewriteTarget(t *testing.T) {
	tests := []struct {
		name, in  string
		uri, host string // want; host is the Host header's value ("" when absent)
		path      string
	}{
		{"origin form untouched", crlf("GET /a/b?c HTTP/1.1\nHost: h\n\n"), "/a/b?c", "h", "/a/b"},
		{"absolute form", crlf("GET http://target.example:8080/x?q=1 HTTP/1.1\nHost: other\n\n"), "/x?q=1", "target.example:8080", "/x"},
		{"userinfo dropped", crlf("GET http://u:p@target.example/x HTTP/1.1\nhost: other\n\n"), "/x", "target.example", "/x"},
		{"empty path", crlf("GET HTTPS://target.example HTTP/1.1\nHost: other\n\n"), "/", "target.example", "/"},
		{"query without path", crlf("GET http://target.example?q HTTP/1.1\nHost: other\n\n"), "/?q", "target.example", "/"},
		{"HTTP/1.0 without Host", crlf("GET http://target.example/x HTTP/1.0\n\n"), "/x", "", "/x"},
		{"asterisk form", crlf("OPTIONS * HTTP/1.1\nHost: h\n\n"), "*", "h", "*"},
		{"authority form", crlf("CONNECT target.example:443 HTTP/1.1\nHost: target.example:443\n\n"), "target.example:443", "target.example:443", "target.example:443"},
		{"absolute form normalized", crlf("GET http://target.example/a/../%62//c?x=/../%2e HTTP/1.1\nHost: other\n\n"), "/b/c?x=/../%2e", "target.example", "/b/c"},
		{"origin form normalized", crlf("GET /a/./b/../c//d?x=/../y#/.. HTTP/1.1\nHost: h\n\n"), "/a/c/d?x=/../y#/..", "h", "/a/c/d"},
		{"fragment kept", crlf("GET /a/..#f HTTP/1.1\nHost: h\n\n"), "/#f", "h", "/"},
	}
	var buf []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if _, err := ParseRequest([]byte(tt.in), &r, Limits{}); err != nil {
				t.Fatal(err)
			}
			host := string(r.Host)
			var err error
			if buf, err = r.RewriteTarget(buf[:0], PathRules{Normalize: true, MergeSlashes: true}); err != nil {
				t.Fatal(err)
			}
			h, _ := r.Header("Host")
			if string(r.URI) != tt.uri || string(h) != tt.host || string(r.Path()) != tt.path || string(r.Host) != host {
				t.Errorf("URI %q Host header %q Path %q Host %q; want %q %q %q %q", r.URI, h, r.Path(), r.Host, tt.uri, tt.host, tt.path, host)
			}
		})
	}
}

func TestRewriteTargetRefuses(t *testing.T) {
	for _, target := range []string{"/../x", "/a/../../x", "/%2e%2E/x", "/a/%2e./..", "http://h/../x", "/%zz", "/a%2", "/%"} {
		var r Request
		if _, err := ParseRequest([]byte("GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n"), &r, Limits{}); err != nil {
			t.Fatal(err)
		}
		var e *Error
		if _, err := r.RewriteTarget(nil, PathRules{Normalize: true}); !errors.As(err, &e) || e.Status != 400 {
			t.Errorf("%s: %v, want a 400 error", target, err)
		}
	}
	// The same targets pass when normalization is off.
	var r Request
	if _, err := ParseRequest([]byte("GET /../%zz HTTP/1.1\r\nHost: h\r\n\r\n"), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RewriteTarget(nil, PathRules{MergeSlashes: true}); err != nil || string(r.URI) != "/../%zz" {
		t.Errorf("without normalize: %q %v", r.URI, err)
	}
}

func TestNormalizePath(t *testing.T) {
	both := PathRules{Normalize: true, MergeSlashes: true}
	tests := []struct {
		in    string
		rules PathRules
		want  string // "400" for an error
	}{
		{"/", both, "/"},
		{"", both, "/"},
		{"a/b", both, "/a/b"},
		{"/a/b/c", both, "/a/b/c"},
		{"/./admin", both, "/admin"},
		{"//admin", both, "/admin"},
		{"/x/../admin", both, "/admin"},
		{"/%61dmin", both, "/admin"},
		{"/x/%2e%2E/admin", both, "/admin"},
		{"/x/.%2e/admin", both, "/admin"},
		{"/a/b/..", both, "/a/"},
		{"/a/b/../", both, "/a/"},
		{"/a/.", both, "/a/"},
		{"/a/./", both, "/a/"},
		{"/a/..", both, "/"},
		{"/.", both, "/"},
		{"/a//", both, "/a/"},
		{"///", both, "/"},
		{"/a///b//", both, "/a/b/"},
		{"/x//../admin", both, "/admin"}, // empty segments merge first, as nginx does
		{"/.well-known/x", both, "/.well-known/x"},
		{"/a/...", both, "/a/..."},
		{"/a/..b/c.", both, "/a/..b/c."},
		{"/%7e%2d%2E%5f%41%7A%30", both, "/~-._Az0"},
		{"/a%2fb%2F%00%25%3f%20", both, "/a%2Fb%2F%00%25%3F%20"},
		{"/%2561", both, "/%2561"}, // %25 is not unreserved: no double decoding
		{"/ä/%c3%a4", both, "/ä/%C3%A4"},
		{"/..", both, "400"},
		{"/../x", both, "400"},
		{"/a/../..", both, "400"},
		{"/%2e%2e", both, "400"},
		{"/%", both, "400"},
		{"/%4", both, "400"},
		{"/%g0", both, "400"},
		{"/%%32%65", both, "400"},
		// Without merging, an empty segment is a segment: ".." removes it as RFC 3986 says.
		{"//admin", PathRules{Normalize: true}, "//admin"},
		{"/a//../b", PathRules{Normalize: true}, "/a/b"},
		{"//..", PathRules{Normalize: true}, "/"},
		{"/a/.//b", PathRules{Normalize: true}, "/a//b"},
		// Merging alone touches nothing else.
		{"//a/./%61//..//", PathRules{MergeSlashes: true}, "/a/./%61/../"},
		{"/../%zz", PathRules{MergeSlashes: true}, "/../%zz"},
		{"//a/./%61", PathRules{}, "//a/./%61"},
	}
	for _, tt := range tests {
		out, err := NormalizePath([]byte("keep"), []byte(tt.in), tt.rules)
		got := string(out)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || got != "keep" {
				t.Errorf("NormalizePath(%q, %+v): %q %v, want a 400 error and dst as it was", tt.in, tt.rules, got, err)
				continue
			}
			got = "keep400"
		}
		if got != "keep"+tt.want {
			t.Errorf("NormalizePath(%q, %+v) = %q, want %q", tt.in, tt.rules, got[4:], tt.want)
		}
	}
}

// FuzzNormalizePath checks the properties routing relies on: the result is rooted, holds no dot segment and no
// encoded unreserved character when normalizing and no "//" when merging, normalizing it again changes nothing,
// and the fast scan never passes a path NormalizePath would change.
func FuzzNormalizePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, path []byte) {
		for _, rules := range allPathRules {
			out, err := NormalizePath(nil, path, rules)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Status != 400 || !rules.Normalize {
					t.Fatalf("%q %+v: %v", path, rules, err)
				}
				continue
			}
			if len(out) == 0 || out[0] != '/' {
				t.Fatalf("%q %+v: %q does not start with /", path, rules, out)
			}
			if rules.MergeSlashes && bytes.Contains(out, []byte("//")) {
				t.Fatalf("%q %+v: %q holds //", path, rules, out)
			}
			if rules.Normalize {
				for _, seg := range bytes.Split(out[1:], []byte{'/'}) {
					if string(seg) == "." || string(seg) == ".." {
						t.Fatalf("%q %+v: %q holds a dot segment", path, rules, out)
					}
				}
				for i := 0; i < len(out); i++ {
					if out[i] != '%' {
						continue
					}
					if i+2 >= len(out) || unhex(out[i+1]) > 15 || unhex(out[i+2]) > 15 || isUnreserved(unhex(out[i+1])<<4|unhex(out[i+2])) ||
						out[i+1] >= 'a' || out[i+2] >= 'a' {
						t.Fatalf("%q %+v: %q holds %q", path, rules, out, out[i:min(i+3, len(out))])
					}
				}
			}
			again, err := NormalizePath(nil, out, rules)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("%q %+v: %q normalizes again to %q (%v)", path, rules, out, again, err)
			}
			if len(path) > 0 && path[0] == '/' {
				if end, normal := scanPath(path, rules); normal && end == len(path) && !bytes.Equal(out, path) {
					t.Fatalf("%q %+v: the scan passes it, NormalizePath makes it %q", path, rules, out)
				}
			}
		}
	})
}

func TestRewriteTargetZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	rules := PathRules{Normalize: true, MergeSlashes: true}
	buf := make([]byte, 0, 256)
	for _, in := range []string{benchCurlRequest, crlf("GET http://h/a/./b/%7e//c?q HTTP/1.1\nHost: x\n\n")} {
		var r Request
		raw := []byte(in)
		if a := testing.AllocsPerRun(50, func() {
			if _, err := ParseRequest(raw, &r, Limits{}); err != nil {
				t.Fatal(err)
			}
			var err error
			if buf, err = r.RewriteTarget(buf[:0], rules); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%q: %v allocs per run, want 0", in, a)
		}
	}
}

// BenchmarkRewriteTarget is what normalization costs a request: the scan for an already normal path, the rewrite
// for one that is not.
func BenchmarkRewriteTarget(b *testing.B) {
	rules := PathRules{Normalize: true, MergeSlashes: true}
	for _, bc := range []struct{ name, target string }{
		{"normal", "/api/v1/users/42/profile?id=42&x=/../y"},
		{"dirty", "/api/./v1//users/../users/%34%32/profile?id=42&x=/../y"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var r Request
			target := []byte(bc.target)
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				r.URI = target
				var err error
				if buf, err = r.RewriteTarget(buf[:0], rules); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
