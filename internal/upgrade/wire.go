package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// The two processes talk over a SOCK_SEQPACKET unix socket: packet
// boundaries are kept, so the descriptors sent with a message arrive with
// that message and no other. A message is JSON, split into packets of at
// most packetSize bytes, each led by one byte saying whether more follow
// (a config or a connection's buffered bytes may exceed what the socket
// takes in one packet). Descriptors ride on the first packet.
const (
	packetSize = 32 << 10
	maxFDs     = 250 // below the kernel's SCM_MAX_FD (253)
	moreFollow = 1
)

// message is every message of the protocol; Type says which fields count.
type message struct {
	Type string `json:"type"` // hello, ready, failed, conn, done

	PID int `json:"pid,omitempty"`
	// hello: one descriptor per listener, in order, and the config to run
	// unless the new process has its own.
	Listeners    []listenerInfo `json:"listeners,omitempty"`
	Config       []byte         `json:"config,omitempty"`
	ConfigFormat string         `json:"config_format,omitempty"`
	ConfigSource string         `json:"config_source,omitempty"`
	// Stdio: two more descriptors follow the listeners' (stdout, stderr),
	// so the new process logs into the same open files, at the same offset.
	Stdio bool `json:"stdio,omitempty"`
	// conn: one descriptor, the connection's listener and protocol and the
	// bytes read from it but not yet processed.
	Listener string `json:"listener,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Buffered []byte `json:"buffered,omitempty"`
	// done: what the old process did with its connections.
	Counts *Counts `json:"counts,omitempty"`
	// failed
	Error string `json:"error,omitempty"`
}

type listenerInfo struct {
	Name     string `json:"name"`
	Network  string `json:"network"`
	Address  string `json:"address"` // configured
	Bound    string `json:"bound"`
	Protocol string `json:"protocol,omitempty"`
}

// Counts are the old process's connections at handover.
type Counts struct {
	// Migrated connections went to the new process.
	Migrated int `json:"migrated"`
	// Finished connections ended in the old process: the client closed, a
	// request asked to close, or tcp_proxy connections that drained.
	Finished int `json:"finished_in_old"`
	// Cut connections were still open at the drain timeout and were closed.
	Cut int `json:"cut"`
	// HandoverMs is from the new process's ready to the old one done.
	HandoverMs float64 `json:"handover_ms"`
}

// wire sends and receives messages; send is safe for concurrent use (the
// connections of all listeners hand themselves over at once).
type wire struct {
	c   *net.UnixConn
	wmu sync.Mutex
	buf []byte // receive: one packet
	oob []byte
}

func newWire(c *net.UnixConn) *wire {
	return &wire{c: c, buf: make([]byte, packetSize+1), oob: make([]byte, syscall.CmsgSpace(maxFDs*4))}
}

func (w *wire) send(m *message, fds []int) error {
	if len(fds) > maxFDs {
		return fmt.Errorf("upgrade: %d descriptors in one message, at most %d", len(fds), maxFDs)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	pkt := make([]byte, 0, min(len(b), packetSize)+1)
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), packetSize)
		flag := byte(0)
		if n < len(b) {
			flag = moreFollow
		}
		pkt = append(append(pkt[:0], flag), b[:n]...)
		if _, _, err := w.c.WriteMsgUnix(pkt, oob, nil); err != nil {
			return err
		}
		b, oob = b[n:], nil
	}
	return nil
}

// recv reads one message and the descriptors sent with it, which the
// caller owns (closes).
func (w *wire) recv(m *message) (fds []int, err error) {
	var data []byte
	for {
		n, oobn, flags, _, err := w.c.ReadMsgUnix(w.buf, w.oob)
		if oobn > 0 {
			got, perr := parseRights(w.oob[:oobn])
			fds = append(fds, got...)
			if perr != nil && err == nil {
				err = perr
			}
		}
		if err == nil && flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
			err = errors.New("upgrade: message truncated")
		}
		if err == nil && n == 0 {
			err = errEOF // a zero-length packet is the peer closing
		}
		if err != nil {
			closeFDs(fds)
			return nil, err
		}
		data = append(data, w.buf[1:n]...)
		if w.buf[0] != moreFollow {
			break
		}
	}
	*m = message{}
	if err := json.Unmarshal(data, m); err != nil {
		closeFDs(fds)
		return nil, fmt.Errorf("upgrade: bad message: %w", err)
	}
	return fds, nil
}

var errEOF = errors.New("upgrade: peer closed the connection")

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		got, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}
