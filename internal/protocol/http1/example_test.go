package http1_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// A connection loop: parse the head, forward it, then stream the body through a ChunkedReader.
func Example() {
	in := []byte("POST /upload HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

	var (
		req http1.Request
		cr  http1.ChunkedReader
		out []byte // what would be written upstream
	)
	n, err := http1.ParseRequest(in, &req, http1.Limits{})
	var perr *http1.Error
	switch {
	case errors.Is(err, http1.ErrNeedMore):
		return // read more and call again
	case errors.As(err, &perr):
		fmt.Printf("%s", http1.AppendLocalResponse(nil, perr.Status, nil, false))
		return
	}
	out = http1.AppendRequestHead(out, &req, []http1.Header{{Name: []byte("Via"), Value: []byte("1.1 mosnctl")}})
	body := in[n:]
	if req.Framing() == http1.FramingChunked {
		for !cr.Done() {
			c, data, _, err := cr.Next(body)
			if err != nil {
				return
			}
			fmt.Printf("payload %q\n", data)
			out = append(out, body[:c]...) // framing and payload are forwarded verbatim
			body = body[c:]
		}
	}
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))
	// Output:
	// payload "hello"
	// POST /upload HTTP/1.1
	// Host: example.com
	// Transfer-Encoding: chunked
	// Via: 1.1 mosnctl
	//
	// 5
	// hello
	// 0
}
