// Package tls owns TLS on mosnctl's connections: a listener's certificates
// chosen by SNI, client certificate checks, the inspector that tells TLS
// from plaintext clients on one port, TLS to upstream hosts, certificate
// rotation (reload and file watching) and handshake counters. It runs
// crypto/tls over network.Conn's socket in either IO model: on an event
// loop the socket's reads and writes yield to the loop, so neither a
// handshake nor a record waits on the loop.
//
// # The handshake and the event loop
//
// A handshake runs on its connection's task, as the protocol handler will:
// on an event loop its reads and writes yield to the loop like any other
// IO, so a client that stalls mid-handshake (or 200 of them) holds only
// its own parked task and is cut by the handshake timeout. Its CPU (a full
// ECDSA P-256 handshake with X25519 costs the server about 0.3 ms,
// accept and one request included, measured against nginx's in the same
// run) runs on the loop, as an nginx worker's handshakes run on its event
// loop. Moving handshakes to goroutines would take the socket off the loop
// and back (two registrations and a hand-off per connection) without
// adding cores to a process whose loops already use them all.
//
// # What a connection tells
//
// After the handshake a downstream connection keeps its State (StateOf):
// version, cipher and the verified client certificate's identity, made
// once so that the stream list, routing (the proxy's x-mosn-peer-*
// headers) and the access log read it per request for free. When the
// connection's own reader ends it (network.Conn.CloseOwned), it sends
// close_notify first (Conn.CloseNotify); a close from anywhere else cuts.
//
// Writes that must not wait for one peer (TryWrite: an HTTP/2 connection
// relaying many clients' streams, Bolt answers) can't stop in the middle of
// a record as a cleartext write stops anywhere: they ask the socket for
// room (network.Conn.SendRoom, kept as a lower-bound budget so that most
// writes ask nothing) and write nothing when a record might not fit; the
// caller's flusher writes it, waiting.
//
// Live TLS connections are not handed to a new process on upgrade (their
// session keys stay here): network.Conn refuses the hand-off of a wrapped
// connection, which drains instead.
//
// It is a side package: it imports network (the bottom layer) and config,
// nothing above them.
package tls

import (
	"context"
	"crypto/sha256"
	gotls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
)

// DefaultHandshakeTimeout bounds a handshake (and the inspector's look at
// the first bytes): a client that connects and stalls is cut then.
const DefaultHandshakeTimeout = 10 * time.Second

// Listener is one listener's TLS. It outlives config reloads (its session
// ticket keys with it, so resumption survives a reload); what it serves is
// a ServerState swapped atomically by Use.
type Listener struct {
	Name  string
	Stats HandshakeStats

	// base is the config every handshake starts from: it only picks the
	// state's config for the client's SNI. Go keeps the session ticket keys
	// on it and rotates them in memory.
	base *gotls.Config
	cur  atomic.Pointer[ServerState]
}

// NewListener makes a listener's TLS; it serves nothing before Use.
func NewListener(name string) *Listener {
	l := &Listener{Name: name}
	l.base = &gotls.Config{
		MinVersion: gotls.VersionTLS12,
		GetConfigForClient: func(hello *gotls.ClientHelloInfo) (*gotls.Config, error) {
			return l.cur.Load().pick(hello.ServerName), nil
		},
	}
	return l
}

// Use makes st what new connections get; open connections keep theirs.
func (l *Listener) Use(st *ServerState) { l.cur.Store(st) }

// State is what new connections get now.
func (l *Listener) State() *ServerState { return l.cur.Load() }

// ReloadFiles reads the certificate files of the state in use again and
// serves them to new connections; on any error the old state stays.
// It reports whether the files' contents changed.
func (l *Listener) ReloadFiles() (bool, error) {
	old := l.cur.Load()
	if old == nil {
		return false, nil
	}
	st, err := BuildServer(&old.chain, old.path, old.alpn)
	if err != nil {
		return false, err
	}
	// A config reload that swapped in other contexts meanwhile wins.
	if st.digest == old.digest || !l.cur.CompareAndSwap(old, st) {
		return false, nil
	}
	return true, nil
}

// ServerState is a listener's certificates and settings as loaded from one
// set of tls_context blocks.
type ServerState struct {
	chain    config.FilterChain // its TLS fields
	path     string
	alpn     []string
	configs  []*gotls.Config
	exact    map[string]*gotls.Config // lower-case SNI name -> config
	wildcard map[string]*gotls.Config // "example.com" for "*.example.com"
	certs    []CertInfo
	digest   [32]byte // of the PEM material, to tell a real change
}

// CertInfo describes a certificate in use, for the admin API and the
// expiry gauge.
type CertInfo struct {
	Owner    string    `json:"owner"` // "listener NAME" or "cluster NAME"
	Names    []string  `json:"names"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	Source   string    `json:"source"` // the file, or "inline"
}

// Certs lists the certificates of the state.
func (st *ServerState) Certs() []CertInfo { return st.certs }

// Files lists the files the state was read from (to watch).
func (st *ServerState) Files() []string { return contextFiles(st.chain.ServerTLS()) }

// BuildServer loads the TLS contexts a filter chain serves (its
// tls_context_set entries that are on, else its tls_context) into a state;
// path is the filter chain's, for errors. alpn is what the listener's
// protocol serves, advertised unless a context narrows it.
func BuildServer(fc *config.FilterChain, path string, alpn []string) (*ServerState, error) {
	type entry struct {
		t    *config.TLSContext
		path string
	}
	var entries []entry
	for i := range fc.TLSContextSet {
		if fc.TLSContextSet[i].Status {
			entries = append(entries, entry{&fc.TLSContextSet[i], fmt.Sprintf("%s.tls_context_set[%d]", path, i)})
		}
	}
	if len(entries) == 0 && fc.TLSContext.Enabled() {
		entries = append(entries, entry{fc.TLSContext, path + ".tls_context"})
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s.tls_context: TLS is off", path)
	}
	st := &ServerState{chain: config.FilterChain{TLSContext: fc.TLSContext, TLSContextSet: fc.TLSContextSet}, path: path, alpn: alpn,
		exact: map[string]*gotls.Config{}, wildcard: map[string]*gotls.Config{}}
	for _, e := range entries {
		t, cp := e.t, e.path
		cfg, leaf, err := serverConfig(t, cp, alpn)
		if err != nil {
			return nil, err
		}
		st.configs = append(st.configs, cfg)
		names := leafNames(leaf)
		if t.ServerName != "" {
			names = []string{t.ServerName}
		}
		for _, n := range names {
			n = strings.ToLower(n)
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				if _, dup := st.wildcard[rest]; !dup {
					st.wildcard[rest] = cfg
				}
			} else if _, dup := st.exact[n]; !dup {
				st.exact[n] = cfg
			}
		}
		st.certs = append(st.certs, certInfo(leaf, t.CertChain))
	}
	st.digest = digest(st.chain.ServerTLS())
	return st, nil
}

// pick chooses the config for an SNI name: exact name, then wildcard
// (one label), then the first context.
func (st *ServerState) pick(sni string) *gotls.Config {
	if len(st.configs) == 1 || sni == "" {
		return st.configs[0]
	}
	name := strings.ToLower(strings.TrimSuffix(sni, "."))
	if c, ok := st.exact[name]; ok {
		return c
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		if c, ok := st.wildcard[rest]; ok {
			return c
		}
	}
	return st.configs[0]
}

func serverConfig(t *config.TLSContext, path string, alpn []string) (*gotls.Config, *x509.Certificate, error) {
	cert, field, err := t.LoadKeyPair()
	if err != nil {
		return nil, nil, fmt.Errorf("%s.%s: %w", path, field, err)
	}
	cfg, err := commonConfig(t, path)
	if err != nil {
		return nil, nil, err
	}
	cfg.Certificates = []gotls.Certificate{cert}
	pool, err := t.LoadCAPool()
	if err != nil {
		return nil, nil, fmt.Errorf("%s.ca_cert: %w", path, err)
	}
	switch {
	case t.RequireClientCert:
		cfg.ClientAuth, cfg.ClientCAs = gotls.RequireAndVerifyClientCert, pool
	case t.VerifyClient:
		cfg.ClientAuth, cfg.ClientCAs = gotls.VerifyClientCertIfGiven, pool
	}
	cfg.NextProtos = alpn
	if p := t.ALPNProtocols(); len(p) > 0 {
		cfg.NextProtos = p
	}
	return cfg, cert.Leaf, nil
}

// commonConfig is what listener and cluster contexts share: versions,
// suites, curves.
func commonConfig(t *config.TLSContext, path string) (*gotls.Config, error) {
	lo, hi, err := t.Versions()
	if err != nil {
		return nil, fmt.Errorf("%s.%w", path, err)
	}
	suites, err := t.CipherSuiteIDs()
	if err != nil {
		return nil, fmt.Errorf("%s.cipher_suites: %w", path, err)
	}
	curves, err := t.Curves()
	if err != nil {
		return nil, fmt.Errorf("%s.ecdh_curves: %w", path, err)
	}
	return &gotls.Config{MinVersion: lo, MaxVersion: hi, CipherSuites: suites, CurvePreferences: curves}, nil
}

func leafNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

func certInfo(c *x509.Certificate, source string) CertInfo {
	if strings.Contains(source, "-----BEGIN") {
		source = "inline"
	}
	if c == nil {
		return CertInfo{Source: source}
	}
	names := leafNames(c)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return CertInfo{Names: names, Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		Serial: c.SerialNumber.String(), NotAfter: c.NotAfter, Source: source}
}

func contextFiles(contexts []config.TLSContext) []string {
	var files []string
	for _, t := range contexts {
		for _, v := range []string{t.CertChain, t.PrivateKey, t.CACert} {
			if v != "" && !strings.Contains(v, "-----BEGIN") {
				files = append(files, v)
			}
		}
	}
	return files
}

// HandlerOptions tune the handler that terminates TLS.
type HandlerOptions struct {
	// Inspector lets plaintext clients through on the same port: a
	// connection whose first bytes are not a TLS handshake is served as is.
	Inspector        bool
	HandshakeTimeout time.Duration // 0: DefaultHandshakeTimeout
	Log              *slog.Logger
	LogLimit         *lograte.Limiter // nil: every failure is logged
	// NextProto serves a connection whose handshake picked one of its
	// ALPN ids (an Auto listener's "h2") instead of the handler given;
	// any other connection, plaintext ones included, goes to that one.
	NextProto map[string]network.Handler
}

// Handler terminates TLS on each connection, then serves the decrypted
// stream with next: the protocol handlers see a network.Conn as before.
func (l *Listener) Handler(next network.Handler, opts HandlerOptions) network.Handler {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &handler{l: l, next: next, opts: opts}
}

type handler struct {
	l    *Listener
	next network.Handler
	opts HandlerOptions
}

func (h *handler) ServeConn(ctx context.Context, c *network.Conn) {
	deadline := time.Now().Add(h.opts.HandshakeTimeout)
	c.SetReadDeadline(deadline)
	c.SetWriteDeadline(deadline)
	var prefix []byte
	if h.opts.Inspector {
		isTLS, err := inspect(c)
		if err != nil {
			h.fail(c, err)
			return
		}
		if !isTLS {
			h.l.Stats.Plaintext.Add(1)
			c.SetReadDeadline(time.Time{})
			c.SetWriteDeadline(time.Time{})
			h.next.ServeConn(ctx, c)
			return
		}
		// The handshake reads the bytes looked at from here.
		prefix = append([]byte(nil), c.Buffered()...)
		c.Discard(len(prefix))
	}
	var tc *gotls.Conn
	var wrapper *Conn
	c.Wrap(func(nc net.Conn) net.Conn {
		if prefix != nil {
			nc = &prefixConn{Conn: nc, prefix: prefix}
		}
		tc = gotls.Server(nc, h.l.base)
		wrapper = NewConn(tc, c)
		return wrapper
	})
	if err := tc.Handshake(); err != nil {
		h.fail(c, err)
		return
	}
	h.l.Stats.Handshakes.Add(1)
	cs := tc.ConnectionState()
	if cs.DidResume {
		h.l.Stats.Resumed.Add(1)
	}
	// Before anything serves the connection: readers of the state (the
	// stream list) see it through the tracker's lock taken after this.
	wrapper.state = newState(cs)
	c.SetReadDeadline(time.Time{})
	c.SetWriteDeadline(time.Time{})
	if next, ok := h.opts.NextProto[tc.ConnectionState().NegotiatedProtocol]; ok {
		next.ServeConn(ctx, c)
		return
	}
	h.next.ServeConn(ctx, c)
}

func (h *handler) fail(c *network.Conn, err error) {
	reason := Classify(err)
	h.l.Stats.Failures[reason].Add(1)
	if reason == ReasonClosed {
		return // scanners and health checks that connect and leave: no line
	}
	if ok, suppressed := h.opts.LogLimit.Allow("tls handshake " + reason.String()); ok {
		h.opts.Log.Info("TLS handshake failed, closing connection", "remote", c.RemoteAddr().String(),
			"reason", reason.String(), "err", err.Error(), "suppressed", suppressed)
	}
}

// Conn is a TLS connection as network.Conn reads and writes it.
type Conn struct {
	*gotls.Conn
	state *State // a downstream connection's, set once its handshake is done
	// filled: the last Read filled the space given, so the record it
	// came from may hold more (ReadAhead).
	filled bool
	// room asks the socket how much it takes now (network.Conn.SendRoom;
	// nil: don't ask). budget is what is left of its last answer after
	// the writes since: a lower bound, as the peer only frees room.
	room   func() (int, bool)
	budget atomic.Int64
}

// NewConn makes tc the wrapper of c's socket (in c.Wrap): writes that must
// not wait ask c's socket for room.
func NewConn(tc *gotls.Conn, c *network.Conn) *Conn {
	return &Conn{Conn: tc, room: c.SendRoom}
}

// Read reads decrypted bytes: what is left of the current record, up to
// len(b).
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.filled = n > 0 && n == len(b)
	return n, err
}

// ReadAhead reports whether the last Read may have left bytes of its
// record behind: network.Conn then keeps its read buffer for them rather
// than waiting for them a byte at a time.
func (c *Conn) ReadAhead() bool { return c.filled }

// Close closes the socket without a close_notify alert: network.Conn's
// Close may come from any goroutine (a drain past its deadline, a pool),
// and the alert's write would touch an event loop's socket from outside
// the loop. The connection's own reader says goodbye first (CloseNotify,
// through network.Conn.CloseOwned) when it ends the connection.
func (c *Conn) Close() error { return c.Conn.NetConn().Close() }

// TryWrite writes all of b when the socket has room for its records now,
// else nothing: a TLS record can't be written in part without waiting, and
// a writer that must not wait for one peer (an HTTP/2 connection relaying
// many clients' streams, Bolt answers) hands b to its flusher instead.
// Where the socket can't be asked it writes b, waiting if need be (on an
// event loop the wait yields to the loop).
func (c *Conn) TryWrite(b []byte) (int, error) {
	if need := int64(sealedSize(len(b))); c.room != nil && c.budget.Load() < need {
		room, ok := c.room()
		if !ok {
			room = math.MaxInt32 // can't tell: write, as before
		}
		c.budget.Store(int64(room))
		if int64(room) < need {
			return 0, nil
		}
	}
	return c.Write(b)
}

// Write encrypts and writes b, waiting for room if need be.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.budget.Add(-int64(sealedSize(n)))
	return n, err
}

// sealedSize bounds what n bytes take on the wire as records: each record
// adds a header, a tag (and in TLS 1.2 a nonce), and records may be as
// small as about 1 KB (crypto/tls starts a connection with small ones).
func sealedSize(n int) int { return n + n/32 + 64 }

// maxRecordPayload is TLS's largest record payload: a gathered write is
// cut into records of this size at most, not one record per piece.
const maxRecordPayload = 16 << 10

// Writev writes the pieces as few full records rather than one record per
// piece (a response head and a small body are one record and one write).
func (c *Conn) Writev(pieces [][]byte) (int64, error) {
	total := 0
	for _, p := range pieces {
		total += len(p)
	}
	if len(pieces) == 1 || total > 4*maxRecordPayload {
		var n int64
		for _, p := range pieces {
			m, err := c.Write(p)
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	bb := bytebufferpool.Get()
	for _, p := range pieces {
		bb.B = append(bb.B, p...)
	}
	n, err := c.Write(bb.B)
	bytebufferpool.Put(bb)
	return int64(n), err
}

// prefixConn gives the handshake the bytes the inspector already read.
type prefixConn struct {
	net.Conn
	prefix []byte
}

// SyscallConn is the socket's, for network.Conn's look under the wrapper
// (SendRoom).
func (p *prefixConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := p.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		if len(p.prefix) == 0 {
			p.prefix = nil
		}
		return n, nil
	}
	return p.Conn.Read(b)
}

// Reason is why a handshake failed, a label of the failure counter.
type Reason int

// Handshake failure reasons.
const (
	ReasonTimeout        Reason = iota // the client stalled past the handshake timeout
	ReasonClosed                       // the client closed or reset before finishing
	ReasonNotTLS                       // the bytes are not a TLS handshake
	ReasonVersion                      // no TLS version in common (TLS 1.1 and below)
	ReasonNoClientCert                 // a client certificate is required and none came
	ReasonBadCertificate               // a certificate failed verification
	ReasonNoCommonCipher               // no cipher suite, curve or signature scheme in common
	ReasonALPN                         // no application protocol (ALPN) in common
	ReasonOther
	numReasons
)

var reasonNames = [numReasons]string{"timeout", "closed", "not_tls", "version", "no_client_cert", "bad_certificate", "no_common_cipher", "alpn", "other"}

func (r Reason) String() string { return reasonNames[r] }

// Reasons lists every reason, in counter order.
func Reasons() []Reason {
	out := make([]Reason, numReasons)
	for i := range out {
		out[i] = Reason(i)
	}
	return out
}

// Classify tells why a handshake failed from crypto/tls's error.
func Classify(err error) Reason {
	var rhe gotls.RecordHeaderError
	var cve *gotls.CertificateVerificationError
	var alert gotls.AlertError
	msg := err.Error()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE):
		return ReasonClosed
	case errors.As(err, &rhe), errors.Is(err, errNotTLS), strings.Contains(msg, "error decoding message"),
		strings.Contains(msg, "unexpected message"), strings.Contains(msg, "oversized record"):
		return ReasonNotTLS
	case strings.Contains(msg, "protocol version") || strings.Contains(msg, "unsupported versions"):
		return ReasonVersion
	case errors.Is(err, errNoH2), strings.Contains(msg, "application protocol"):
		return ReasonALPN
	case strings.Contains(msg, "didn't provide a certificate"), strings.Contains(msg, "certificate required"):
		return ReasonNoClientCert
	case errors.As(err, &cve), strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"),
		strings.Contains(msg, "certificate"):
		return ReasonBadCertificate
	case strings.Contains(msg, "no cipher suite"), strings.Contains(msg, "no mutually supported"),
		strings.Contains(msg, "handshake failure"), strings.Contains(msg, "no ECDHE curve"):
		return ReasonNoCommonCipher
	case errors.As(err, &alert) && alert == 70: // protocol_version
		return ReasonVersion
	}
	return ReasonOther
}

// HandshakeStats count a listener's or a cluster's handshakes.
type HandshakeStats struct {
	Handshakes atomic.Uint64 // completed, resumed ones included
	Resumed    atomic.Uint64
	// Plaintext counts connections the inspector passed on unencrypted.
	Plaintext atomic.Uint64
	Failures  [numReasons]atomic.Uint64
}

// Certs lists the certificates the listener serves now.
func (l *Listener) Certs() []CertInfo {
	st := l.cur.Load()
	if st == nil {
		return nil
	}
	out := make([]CertInfo, len(st.certs))
	for i, c := range st.certs {
		c.Owner = "listener " + l.Name
		out[i] = c
	}
	return out
}

// digest hashes the PEM material of contexts (files read again).
func digest(contexts []config.TLSContext) [32]byte {
	h := sha256.New()
	for _, t := range contexts {
		for _, v := range []string{t.CertChain, t.PrivateKey, t.CACert} {
			b, _ := config.ReadPEM(v)
			h.Write(b)
			h.Write([]byte{0})
		}
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
