package stream

import (
	"errors"
	"os"
	"time"
)

// reasonSlowH2Frame is logged when read_timeout closes an HTTP/2
// connection.
const reasonSlowH2Frame = "http2: frame or header block not completed within read_timeout"

// reading returns since while the engine holds a frame or header block
// begun and not complete (now, when one just began), else zero.
func (d *H2Downstream) reading(since time.Time) time.Time {
	d.lock()
	r := d.eng.Reading()
	d.unlock()
	switch {
	case !r:
		return time.Time{}
	case since.IsZero():
		return time.Now()
	}
	return since
}

// slowFrame reports (and logs) a read that timed out inside a frame begun
// at since, past the read timeout: the connection closes, streams in
// flight or not.
func (d *H2Downstream) slowFrame(err error, since time.Time) bool {
	if since.IsZero() || !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(since) < d.opts.ReadTimeout {
		return false
	}
	if ok, suppressed := d.opts.LogLimit.Allow(reasonSlowH2Frame); ok {
		d.log.Info(reasonSlowH2Frame+", closing connection", "remote", d.conn.RemoteAddr().String(),
			"read_timeout", d.opts.ReadTimeout, "suppressed", suppressed)
	}
	return true
}
