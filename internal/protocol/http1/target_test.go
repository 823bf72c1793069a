package http1

import "testing"

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
	}
	var buf []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if _, err := ParseRequest([]byte(tt.in), &r, Limits{}); err != nil {
				t.Fatal(err)
			}
			host := string(r.Host)
			buf = r.RewriteTarget(buf[:0])
			h, _ := r.Header("Host")
			if string(r.URI) != tt.uri || string(h) != tt.host || string(r.Path()) != tt.path || string(r.Host) != host {
				t.Errorf("URI %q Host header %q Path %q Host %q; want %q %q %q %q", r.URI, h, r.Path(), r.Host, tt.uri, tt.host, tt.path, host)
			}
		})
	}
}
