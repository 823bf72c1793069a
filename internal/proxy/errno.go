package proxy

import (
	"errors"
	"syscall"
)

func isErrno(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
