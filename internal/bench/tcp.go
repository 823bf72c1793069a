package bench

import (
	"context"
	"net"
	"time"
)

// newTCPProtocol serves tcp:// targets: each request writes the payload
// (the body) and completes when as many bytes have come back, which is
// what an echo server (or a TCP proxy in front of one) does.
func newTCPProtocol(cfg *Config, t []target, reqs []Request) (protocol, error) {
	p := &tcpProtocol{d: &dialer{addr: t[0].addr, timeout: cfg.Timeout}}
	for _, r := range reqs {
		payload := r.Raw
		if payload == nil {
			payload = r.Body
		}
		if len(payload) == 0 {
			payload = []byte("mosnctl-bench\n")
		}
		p.payloads = append(p.payloads, payload)
	}
	return p, nil
}

type tcpProtocol struct {
	d        *dialer
	payloads [][]byte
}

func (p *tcpProtocol) dial(ctx context.Context) (clientConn, error) {
	nc, err := p.d.dial(ctx)
	if err != nil {
		return nil, err
	}
	return &tcpConn{p: p, nc: nc, buf: make([]byte, 32<<10)}, nil
}

type tcpConn struct {
	p      *tcpProtocol
	nc     net.Conn
	buf    []byte
	remain int
	n      int
}

func (c *tcpConn) send(req int) (uint32, error) {
	b := c.p.payloads[req]
	c.remain, c.n = len(b), len(b)
	_, err := c.nc.Write(b)
	return 0, err
}

func (c *tcpConn) recv(res *response) error {
	for c.remain > 0 {
		n, err := c.nc.Read(c.buf[:min(len(c.buf), c.remain)])
		c.remain -= n
		if err != nil && c.remain > 0 {
			return err
		}
	}
	res.id, res.status, res.bytes, res.fail = 0, 0, int64(c.n), errNone
	return nil
}

func (c *tcpConn) flush() error                      { return nil }
func (c *tcpConn) setReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }
func (c *tcpConn) maxStreams() int                   { return 1 }
func (c *tcpConn) usable() bool                      { return true }
func (c *tcpConn) abandon(uint32) bool               { return false }
func (c *tcpConn) close()                            { c.nc.Close() }

func (c *tcpConn) conn() *net.Conn { return &c.nc }

func (c *tcpConn) pending() bool { return false }
