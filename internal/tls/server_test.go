package tls

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// SNI picks a context: its server_name if set, else its certificate's
// names, exact before wildcard, case-insensitively; the first otherwise.
func TestPick(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "ca")
	ctx := func(name, serverName string, names ...string) config.TLSContext {
		c, k := ca.Issue(t, tlstest.ECDSA, names...).Write(t, dir, name)
		return config.TLSContext{Status: true, CertChain: c, PrivateKey: k, ServerName: serverName}
	}
	fc := &config.FilterChain{TLSContextSet: []config.TLSContext{
		ctx("default", "", "default.example"),
		ctx("wild", "", "*.example.com"),
		ctx("exact", "", "api.example.com", "API2.example.com"),
		{Status: false, CertChain: "/nonexistent"},
		ctx("named", "named.example", "other.example"),
	}}
	st, err := BuildServer(fc, "servers[0].listeners[0].filter_chains[0]", []string{"http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"api.example.com": 2, "API.Example.COM.": 2, "api2.example.com": 2,
		"www.example.com": 1, "a.b.example.com": 0, "example.com": 0,
		"named.example": 3, "other.example": 0, "": 0, "default.example": 0,
	}
	for sni, i := range want {
		if got := st.pick(sni); got != st.configs[i] {
			t.Errorf("pick(%q) is not context %d", sni, i)
		}
	}
	if got := st.configs[0].NextProtos; len(got) != 1 || got[0] != "http/1.1" {
		t.Errorf("ALPN %q", got)
	}
	if n := len(st.Certs()); n != 4 {
		t.Errorf("%d certificates, want 4", n)
	}
	// A bad file names its field by the set's index.
	fc.TLSContextSet[4].PrivateKey = fc.TLSContextSet[0].PrivateKey
	if _, err := BuildServer(fc, "fc", nil); err == nil || err.Error() != "fc.tls_context_set[4].private_key: private key does not match public key" {
		t.Errorf("mismatched key: %v", err)
	}
}

// A reader that consumes every byte and releases its buffer between
// reads (the HTTP/2 readers) gets each TLS record in two reads at most
// (the one-byte wait, then the rest), not a byte at a time.
func TestConnReadsRecordsWhole(t *testing.T) {
	c, client := tlsPair(t)
	defer client.Close()
	const size = 64 << 10
	go client.Write(make([]byte, size))
	fills, total := 0, 0
	for total < size {
		if len(c.Buffered()) == 0 {
			c.Release()
		}
		if err := c.Fill(); err != nil {
			t.Fatal(err)
		}
		fills++
		total += len(c.Buffered())
		c.Discard(len(c.Buffered()))
	}
	// Records carry 1 KiB or more (Go starts small, then 16 KiB).
	if fills > 2*size/1024 {
		t.Errorf("%d reads for %d bytes: a byte at a time", fills, size)
	}
	t.Logf("%d reads for %d bytes", fills, size)
}

// TryWrite on a peer that stopped reading writes nothing once the socket
// is full, rather than waiting: the caller's flusher takes the bytes. A
// plain Write then waits for room (here until its deadline).
func TestTryWriteDoesNotWait(t *testing.T) {
	c, client := tlsPairNoRead(t)
	defer client.Close()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second)) // a wait fails the test instead of hanging it
	chunk := make([]byte, 16<<10)
	written := 0
	for {
		c.LockWrite()
		n, err := c.TryWrite(chunk)
		c.UnlockWrite()
		if err != nil {
			t.Fatalf("TryWrite after %d bytes: %v (it waited)", written, err)
		}
		if n == 0 {
			break
		}
		if n != len(chunk) {
			t.Fatalf("TryWrite wrote %d of %d: a TLS record in part", n, len(chunk))
		}
		written += n
		if written > 256<<20 {
			t.Fatal("256 MiB taken by a peer that reads nothing")
		}
	}
	t.Logf("%d bytes taken before the socket filled", written)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Write(make([]byte, 8<<20)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a blocking write to a full socket: %v, want it to wait until the deadline", err)
	}
}
