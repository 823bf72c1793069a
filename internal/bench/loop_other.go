//go:build !linux

package bench

import (
	"context"
	"errors"
)

const loopSupported = false

var errWouldBlock = errors.New("bench: would block")

type fdConn struct{}

func (r *runner) runLoops(context.Context, int) error {
	return errors.New("no event loop on this platform")
}
