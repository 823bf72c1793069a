package upgrade

import (
	"bytes"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func wirePair(t *testing.T) (*wire, *wire) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return newWire(conn(fds[0])), newWire(conn(fds[1]))
}

// TestWireLargeMessageWithDescriptors: a message larger than one packet
// (a big config) arrives whole, with its descriptors, and the next message
// arrives on its own.
func TestWireLargeMessageWithDescriptors(t *testing.T) {
	a, b := wirePair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	big := bytes.Repeat([]byte("0123456789"), 10*packetSize/10+7) // ~10 packets
	done := make(chan error, 1)
	go func() {
		if err := a.send(&message{Type: "hello", Config: big, Listeners: []listenerInfo{{Name: "w"}}}, []int{int(w.Fd())}); err != nil {
			done <- err
			return
		}
		done <- a.send(&message{Type: "done", Counts: &Counts{Migrated: 3}}, nil)
	}()
	var m message
	fds, err := b.recv(&m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "hello" || !bytes.Equal(m.Config, big) || len(fds) != 1 {
		t.Fatalf("got %q, %d config bytes, %d fds", m.Type, len(m.Config), len(fds))
	}
	// The received descriptor is the pipe's write end.
	f := os.NewFile(uintptr(fds[0]), "received")
	f.Write([]byte("x"))
	f.Close()
	buf := make([]byte, 1)
	if n, _ := r.Read(buf); n != 1 || buf[0] != 'x' {
		t.Fatal("received descriptor is not the pipe")
	}
	fds, err = b.recv(&m)
	if err != nil || m.Type != "done" || m.Counts == nil || m.Counts.Migrated != 3 || len(fds) != 0 {
		t.Fatalf("second message %+v, %d fds, %v", m, len(fds), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The peer closing reads as an error, not as an empty message.
	a.c.Close()
	if _, err := b.recv(&m); err == nil {
		t.Fatal("recv after close: no error")
	}
}

func TestServeArgs(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"/usr/bin/mosnctl", "serve", "-c", "/etc/m.json", "--log-level", "debug"}, []string{"--log-level", "debug"}},
		{[]string{"mosnctl", "serve", "--config=/x", "--drain-timeout=5s", "--upgrade-from", "/s", "--upgrade-status-fd", "3"}, []string{"--drain-timeout=5s"}},
		{[]string{"/bin/serve", "--admin-address", "off", "--upgrade-socket", "/run/m.sock"}, []string{"--admin-address", "off", "--upgrade-socket", "/run/m.sock"}},
		{[]string{"mosnctl", "serve", "-c/etc/x.yaml", "--log-level=warn"}, []string{"--log-level=warn"}},
		{[]string{"mosnctl", "bench"}, nil},
		{nil, nil},
	} {
		p := &oldProcess{args: tc.argv}
		if got := p.serveArgs(); !slices.Equal(got, tc.want) {
			t.Errorf("serveArgs(%q) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}

func TestSocketPath(t *testing.T) {
	p := &oldProcess{pid: 42, args: []string{"mosnctl", "serve"}, env: []string{"XDG_RUNTIME_DIR=/run/user/1"}}
	if got := p.socket(); got != "/run/user/1/mosnctl-42.upgrade.sock" {
		t.Errorf("default: %s", got)
	}
	p.env = append(p.env, "MOSNCTL_UPGRADE_SOCKET=/env.sock")
	if got := p.socket(); got != "/env.sock" {
		t.Errorf("env: %s", got)
	}
	p.args = append(p.args, "--upgrade-socket=/flag.sock")
	if got := p.socket(); got != "/flag.sock" {
		t.Errorf("flag: %s", got)
	}
	if got := DefaultSocketPath(7, func(string) string { return "" }); got != "/tmp/mosnctl-7.upgrade.sock" {
		t.Errorf("no env: %s", got)
	}
}

// FuzzServeArgs: whatever the old command line, the new one never carries
// the old config or upgrade plumbing, and only passes on the old's words.
func FuzzServeArgs(f *testing.F) {
	f.Fuzz(func(t *testing.T, cmdline string) {
		argv := splitNul([]byte(cmdline))
		p := &oldProcess{args: argv}
		out := p.serveArgs()
		for i, a := range out {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if strings.HasPrefix(a, "-c") && !strings.HasPrefix(a, "--") {
				t.Fatalf("serveArgs(%q)[%d] = %q", argv, i, a)
			}
			if strings.HasPrefix(a, "-") {
				switch name {
				case "c", "config", "upgrade-from", "upgrade-status-fd", "check":
					t.Fatalf("serveArgs(%q)[%d] = %q", argv, i, a)
				}
			}
			if !slices.Contains(argv, a) {
				t.Fatalf("serveArgs(%q) invented %q", argv, a)
			}
		}
	})
}

// FuzzWireRecv: whatever packets the peer sends, recv returns a message or
// an error, never panics, and never leaks or invents descriptors.
func FuzzWireRecv(f *testing.F) {
	f.Fuzz(func(t *testing.T, first, second []byte) {
		a, b := wirePair(t)
		for _, p := range [][]byte{first, second} {
			if len(p) > packetSize+1 {
				p = p[:packetSize+1]
			}
			if _, _, err := a.c.WriteMsgUnix(p, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		a.c.Close()
		var m message
		for range 3 {
			fds, err := b.recv(&m)
			if len(fds) != 0 {
				t.Fatalf("%d descriptors from packets without any", len(fds))
			}
			if err != nil {
				return
			}
		}
	})
}
