// Package protocol names the wire protocols, keeps the registry of their
// codecs' detectors and picks a protocol from a connection's first bytes.
// The codecs themselves live in the sub-packages (http1, bolt); none of them
// touches a socket. It imports nothing above it.
package protocol

import (
	"errors"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/protocol/http2"
)

// Protocol names, spelled as MOSN's config spells them.
const (
	HTTP1 = "Http1"
	HTTP2 = "Http2"
	Bolt  = "bolt"
	Dubbo = "dubbo"
	Auto  = "Auto"
)

// ErrNeedMore means the bytes seen so far do not decide the protocol.
var ErrNeedMore = errors.New("protocol: need more bytes to detect the protocol")

// ErrUnknown means no registered protocol matches the first bytes.
var ErrUnknown = errors.New("protocol: unknown protocol")

// Match is a detector's answer about a connection's first bytes.
type Match int

// Detector answers.
const (
	No Match = iota
	Yes
	NeedMore
)

// Detector recognises a protocol from a connection's first bytes.
type Detector func(b []byte) Match

// detectors is the registry, in the order detection tries them: Bolt's
// first byte is a control character no HTTP method starts with, and
// HTTP/2's preface starts with "PRI ", which HTTP/1 refuses.
var detectors = []struct {
	name   string
	detect Detector
}{
	{Bolt, detectBolt},
	{HTTP2, detectHTTP2},
	{HTTP1, detectHTTP1},
}

// detectHTTP2 recognises the client connection preface of HTTP/2 with
// prior knowledge (RFC 9113 §3.4).
func detectHTTP2(b []byte) Match {
	n := min(len(b), len(http2.ClientPreface))
	switch {
	case len(b) == 0:
		return NeedMore
	case string(b[:n]) != http2.ClientPreface[:n]:
		return No
	case n < len(http2.ClientPreface):
		return NeedMore
	}
	return Yes
}

// Detect picks the protocol of a connection from its first bytes.
func Detect(b []byte) (string, error) {
	needMore := false
	for _, d := range detectors {
		switch d.detect(b) {
		case Yes:
			return d.name, nil
		case NeedMore:
			needMore = true
		}
	}
	if needMore {
		return "", ErrNeedMore
	}
	return "", ErrUnknown
}

func detectBolt(b []byte) Match {
	if len(b) == 0 {
		return NeedMore
	}
	if b[0] != bolt.ProtocolCode {
		return No
	}
	if len(b) < 2 {
		return NeedMore
	}
	if bolt.Looks(b) {
		return Yes
	}
	return No
}

// httpMethods are the request methods recognised at the start of an HTTP/1
// connection; longer custom tokens are not guessed at.
var httpMethods = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI"}

func detectHTTP1(b []byte) Match {
	if len(b) == 0 {
		return NeedMore
	}
	for _, m := range httpMethods {
		n := min(len(b), len(m)+1)
		want := m + " "
		if string(b[:n]) == want[:n] {
			if n == len(want) {
				if m == "PRI" {
					return No // HTTP/2 prior knowledge preface
				}
				return Yes
			}
			return NeedMore
		}
	}
	return No
}
