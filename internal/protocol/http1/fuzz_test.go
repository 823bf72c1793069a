package http1

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"testing"
)

// Seed corpora live in testdata/fuzz/<Name>/, so plain `go test` replays them.

// checkParseErr fails unless err is nil, ErrNeedMore or an *Error with one of the documented statuses.
func checkParseErr(t *testing.T, err error) {
	t.Helper()
	if err == nil || errors.Is(err, ErrNeedMore) {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
	switch e.Status {
	case 400, 431, 501, 505:
	default:
		t.Fatalf("unexpected status %d: %v", e.Status, err)
	}
}

// checkOneContentLength fails unless hs holds at most one Content-Length, with a single value: what the parser
// leaves of repeated ones, so that they are forwarded once.
func checkOneContentLength(t *testing.T, hs []Header) {
	t.Helper()
	n := 0
	for _, h := range hs {
		if equalFold(h.Name, "content-length") {
			if n++; n > 1 || bytes.IndexByte(h.Value, ',') >= 0 {
				t.Fatalf("Content-Length not collapsed: %q", hs)
			}
		}
	}
}

var fuzzReparseLimits = Limits{MaxHeaderBytes: 1 << 20, MaxHeaders: 1 << 10}

func FuzzParseRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, buf []byte) {
		var r Request
		n, err := ParseRequest(buf, &r, Limits{})
		checkParseErr(t, err)
		if n < 0 || n > len(buf) {
			t.Fatalf("n = %d for %d bytes", n, len(buf))
		}
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with error %v", n, err)
			}
			return
		}
		if n != r.HeadLen || n == 0 {
			t.Fatalf("n = %d, HeadLen = %d", n, r.HeadLen)
		}
		if r.Chunked && r.ContentLength >= 0 {
			t.Fatal("both chunked and Content-Length")
		}
		checkOneContentLength(t, r.Headers)
		_ = r.Path()
		// The head alone parses the same, and any shorter prefix asks for more.
		var again Request
		if n2, err := ParseRequest(buf[:n], &again, Limits{}); err != nil || n2 != n || !sameRequest(&r, &again) {
			t.Fatalf("head alone: n=%d err=%v", n2, err)
		}
		for _, k := range []int{n - 1, n / 2} {
			if _, err := ParseRequest(buf[:k], &again, Limits{}); !errors.Is(err, ErrNeedMore) {
				t.Fatalf("prefix %d of %d: %v, want ErrNeedMore", k, n, err)
			}
		}

		// Differential check against net/http: when both accept the head, both must frame the body the same
		// way, or a net/http upstream behind us could be smuggled a request.
		if sr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:n]))); err == nil {
			stdChunked := len(sr.TransferEncoding) > 0 && sr.TransferEncoding[0] == "chunked"
			ourCL := max(r.ContentLength, 0)
			if stdChunked != r.Chunked || (!r.Chunked && sr.ContentLength != ourCL) {
				t.Fatalf("framing differs from net/http: chunked %v CL %d, net/http TE %q CL %d",
					r.Chunked, r.ContentLength, sr.TransferEncoding, sr.ContentLength)
			}
		}

		// What the proxy writes upstream must parse to the same request, with the same framing.
		var extra []Header
		if _, ok := r.Header("Host"); !ok {
			extra = []Header{{Name: []byte("Host"), Value: []byte("fuzz")}}
		}
		out := AppendRequestHead(nil, &r, extra)
		var r2 Request
		n2, err := ParseRequest(out, &r2, fuzzReparseLimits)
		if err != nil || n2 != len(out) {
			t.Fatalf("reparse of %q: n=%d err=%v", out, n2, err)
		}
		if !bytes.Equal(r2.Method, r.Method) || !bytes.Equal(r2.URI, r.URI) {
			t.Fatalf("request line changed: %q %q -> %q %q", r.Method, r.URI, r2.Method, r2.URI)
		}
		if r2.ContentLength != r.ContentLength || r2.Chunked != r.Chunked {
			t.Fatalf("framing changed: CL %d chunked %v -> CL %d chunked %v", r.ContentLength, r.Chunked, r2.ContentLength, r2.Chunked)
		}
		if want := append(forwardedHeaders(r.Headers, true), extra...); !sameHeaders(r2.Headers, want) {
			t.Fatalf("headers %q, want %q", r2.Headers, want)
		}

		// Rewriting the target for forwarding keeps what routing sees and leaves no absolute form.
		path, host := string(r.Path()), string(r.Host)
		_, _, absolute := splitAbsolute(r.URI)
		if _, err := r.RewriteTarget(nil, PathRules{}); err != nil {
			t.Fatalf("rewriting %q without path rules: %v", r.URI, err)
		}
		if string(r.Path()) != path || string(r.Host) != host {
			t.Fatalf("rewritten target %q: path %q host %q, want %q %q", r.URI, r.Path(), r.Host, path, host)
		}
		if h, ok := r.Header("host"); absolute && (r.URI[0] != '/' || ok && string(h) != host) {
			t.Fatalf("absolute form rewritten to %q with Host %q, want origin form and Host %q", r.URI, h, host)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, buf []byte) {
		var r Response
		n, err := ParseResponse(buf, &r, Limits{})
		checkParseErr(t, err)
		if n < 0 || n > len(buf) {
			t.Fatalf("n = %d for %d bytes", n, len(buf))
		}
		if err != nil {
			return
		}
		if n != r.HeadLen || r.Status < 100 || r.Status > 999 {
			t.Fatalf("n = %d, HeadLen = %d, status %d", n, r.HeadLen, r.Status)
		}
		if r.Chunked && r.ContentLength >= 0 {
			t.Fatal("both chunked and Content-Length")
		}
		checkOneContentLength(t, r.Headers)
		for _, m := range []string{"GET", "HEAD", "CONNECT"} {
			if fr := r.Framing([]byte(m)); fr < FramingNone || fr > FramingUntilClose {
				t.Fatalf("framing %d", fr)
			}
		}
		if _, err := ParseResponse(buf[:n-1], &Response{}, Limits{}); !errors.Is(err, ErrNeedMore) {
			t.Fatalf("prefix: %v, want ErrNeedMore", err)
		}

		out := AppendResponseHead(nil, &r, nil)
		var r2 Response
		n2, err := ParseResponse(out, &r2, fuzzReparseLimits)
		if err != nil || n2 != len(out) {
			t.Fatalf("reparse of %q: n=%d err=%v", out, n2, err)
		}
		if r2.Status != r.Status || (len(r.Reason) > 0 && !bytes.Equal(r2.Reason, r.Reason)) {
			t.Fatalf("status line changed: %d %q -> %d %q", r.Status, r.Reason, r2.Status, r2.Reason)
		}
		if r2.ContentLength != r.ContentLength || r2.Chunked != r.Chunked {
			t.Fatalf("framing changed: CL %d chunked %v -> CL %d chunked %v", r.ContentLength, r.Chunked, r2.ContentLength, r2.Chunked)
		}
		if want := forwardedHeaders(r.Headers, false); !sameHeaders(r2.Headers, want) {
			t.Fatalf("headers %q, want %q", r2.Headers, want)
		}
	})
}

func FuzzChunkedReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		whole, consumed, status := feedChunked(t, [][]byte{body})
		checkParseErr(t, statusErr(status))
		if consumed > len(body) {
			t.Fatalf("consumed %d of %d", consumed, len(body))
		}
		bytewise, consumed2, status2 := feedChunked(t, byteAtATime(body))
		// On error the payload delivered before it depends on how the bytes were cut, so only complete and
		// incomplete bodies compare payloads.
		if status2 != status || (status <= 0 && (consumed2 != consumed || !bytes.Equal(whole, bytewise))) {
			t.Fatalf("all at once: %d bytes, status %d, payload %q; byte at a time: %d bytes, status %d, payload %q",
				consumed, status, whole, consumed2, status2, bytewise)
		}
		if status != 0 {
			return
		}
		// A body re-encoded from the payload walks to the same payload.
		re := AppendLastChunk(AppendChunk(nil, whole))
		again, n, st := feedChunked(t, [][]byte{re})
		if st != 0 || n != len(re) || !bytes.Equal(again, whole) {
			t.Fatalf("re-encoded body: status %d consumed %d/%d", st, n, len(re))
		}
	})
}

// statusErr turns a feedChunked status back into an error for checkParseErr.
func statusErr(status int) error {
	switch status {
	case 0:
		return nil
	case -1:
		return ErrNeedMore
	}
	return &Error{Status: status}
}
