package tls

import (
	gotls "crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// tlsPair is a network.Conn with TLS over loopback and the client's end,
// which discards what it reads.
func tlsPair(b testing.TB) (*network.Conn, net.Conn) { return tlsPairReading(b, true) }

// tlsPairNoRead is tlsPair with a client that reads nothing.
func tlsPairNoRead(b testing.TB) (*network.Conn, net.Conn) { return tlsPairReading(b, false) }

func tlsPairReading(b testing.TB, read bool) (*network.Conn, net.Conn) {
	ca := tlstest.NewCA(b, "bench CA")
	cert := ca.Issue(b, tlstest.ECDSA, "127.0.0.1").TLS(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn)
	go func() {
		c, err := gotls.Dial("tcp", ln.Addr().String(), &gotls.Config{RootCAs: ca.Pool()})
		if err != nil {
			close(done)
			return
		}
		done <- c
		if read {
			io.Copy(io.Discard, c)
		}
	}()
	nc, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	c := network.NewConn(nc, nil, 0)
	var tc *gotls.Conn
	c.Wrap(func(nc net.Conn) net.Conn {
		tc = gotls.Server(nc, &gotls.Config{Certificates: []gotls.Certificate{cert}})
		return NewConn(tc, c)
	})
	if err := tc.Handshake(); err != nil {
		b.Fatal(err)
	}
	client := <-done
	if client == nil {
		b.Fatal("client handshake failed")
	}
	return c, client
}

// A response written as head and body pieces goes out as one TLS record
// and one write, without allocating.
func BenchmarkTLSWritev(b *testing.B) {
	c, client := tlsPair(b)
	defer client.Close()
	defer c.Close()
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 512\r\nContent-Type: text/plain\r\n\r\n")
	body := make([]byte, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(head) + len(body)))
	for b.Loop() {
		if err := c.Writev(head, body); err != nil {
			b.Fatal(err)
		}
	}
}

// The handshake's cost, client and server in one process: a full ECDSA
// P-256 TLS 1.3 handshake over loopback (no resumption).
func BenchmarkTLSHandshakeECDSA(b *testing.B) {
	ca := tlstest.NewCA(b, "bench CA")
	cert := ca.Issue(b, tlstest.ECDSA, "127.0.0.1").TLS(b)
	srvCfg := &gotls.Config{Certificates: []gotls.Certificate{cert}, SessionTicketsDisabled: true}
	cliCfg := &gotls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			tc := gotls.Server(nc, srvCfg)
			tc.Handshake()
			tc.Close()
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		c, err := gotls.Dial("tcp", ln.Addr().String(), cliCfg)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// TryWrite, the write of a connection that must not wait for one peer
// (HTTP/2 frames, Bolt answers), asks the socket for room about once per
// its send buffer's worth of bytes and allocates nothing.
func BenchmarkTLSTryWrite(b *testing.B) {
	c, client := tlsPair(b)
	defer client.Close()
	defer c.Close()
	frame := make([]byte, 1024)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		c.LockWrite()
		n, err := c.TryWrite(frame)
		c.UnlockWrite()
		if err != nil {
			b.Fatal(err)
		}
		if n < len(frame) { // no room: what a flusher would do
			c.Write(frame[n:])
		}
	}
}
