package tls

import (
	"context"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
)

// Client is a cluster's TLS to its hosts. Its certificates can be read
// again (ReloadFiles) under connections already open.
type Client struct {
	Cluster string
	Stats   HandshakeStats
	log     *slog.Logger
	limit   *lograte.Limiter
	cur     atomic.Pointer[clientState]
}

type clientState struct {
	ctx  config.TLSContext
	path string
	cfg  *gotls.Config
	// cfgH2 is cfg for HTTP/2 pools: it offers h2 when alpn is empty.
	cfgH2  *gotls.Config
	certs  []CertInfo
	digest [32]byte
}

// NewClient loads a cluster's tls_context; path names it in errors
// ("cluster_manager.clusters[0].tls_context").
func NewClient(cluster string, t *config.TLSContext, path string, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Client{Cluster: cluster, log: log.With("cluster", cluster), limit: lograte.New(time.Second)}
	st, err := c.build(t, path)
	if err != nil {
		return nil, err
	}
	c.cur.Store(st)
	return c, nil
}

func (c *Client) build(t *config.TLSContext, path string) (*clientState, error) {
	cfg, err := commonConfig(t, path)
	if err != nil {
		return nil, err
	}
	st := &clientState{ctx: *t, path: path, cfg: cfg}
	if t.CertChain != "" {
		cert, field, err := t.LoadKeyPair()
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", path, field, err)
		}
		cfg.Certificates = []gotls.Certificate{cert}
		info := certInfo(cert.Leaf, t.CertChain)
		info.Owner = "cluster " + c.Cluster
		st.certs = append(st.certs, info)
	}
	pool, err := t.LoadCAPool()
	if err != nil {
		return nil, fmt.Errorf("%s.ca_cert: %w", path, err)
	}
	cfg.RootCAs = pool // nil: the system's roots
	cfg.ServerName = t.ServerName
	cfg.InsecureSkipVerify = t.InsecureSkip
	cfg.NextProtos = t.ALPNProtocols()
	// New connections to a host resume an earlier session (an abbreviated
	// handshake); new certificates start a new cache, as a resumed session
	// would carry the old client certificate.
	cfg.ClientSessionCache = gotls.NewLRUClientSessionCache(256)
	st.cfgH2 = cfg
	if len(cfg.NextProtos) == 0 {
		st.cfgH2 = cfg.Clone() // the session cache stays shared
		st.cfgH2.NextProtos = []string{"h2"}
	}
	st.digest = digest([]config.TLSContext{*t})
	return st, nil
}

// ReloadFiles reads the client certificate and CA files again; on error the
// old ones stay.
// It reports whether the files' contents changed.
func (c *Client) ReloadFiles() (bool, error) {
	old := c.cur.Load()
	st, err := c.build(&old.ctx, old.path)
	if err != nil {
		return false, err
	}
	// A config reload that swapped in other contexts meanwhile wins.
	if st.digest == old.digest || !c.cur.CompareAndSwap(old, st) {
		return false, nil
	}
	return true, nil
}

// Files lists the files the client's certificates come from.
func (c *Client) Files() []string { return contextFiles([]config.TLSContext{c.cur.Load().ctx}) }

// Certs lists the client certificate, if any.
func (c *Client) Certs() []CertInfo { return c.cur.Load().certs }

// Handshake puts TLS on a freshly dialled upstream connection and
// completes the handshake, within ctx's deadline or the default handshake
// timeout. Without server_name the host's address is the name verified
// (an IP address against the certificate's IP SANs). A failure (an
// untrusted or mismatched certificate included) is an error: the caller
// treats it as a failed connect.
func (c *Client) Handshake(ctx context.Context, conn *network.Conn) error {
	return c.handshake(ctx, conn, c.log, false)
}

// errNoH2 fails an HTTP/2 pool's handshake with a host that did not pick
// h2 by ALPN: HTTP/2 over TLS is only spoken where ALPN agreed on it.
var errNoH2 = errors.New("the host did not pick h2 by ALPN")

// handshake is Handshake; h2 offers h2 (unless alpn says otherwise) and
// requires the host to pick it.
func (c *Client) handshake(ctx context.Context, conn *network.Conn, log *slog.Logger, h2 bool) error {
	st := c.cur.Load()
	cfg := st.cfg
	if h2 {
		cfg = st.cfgH2
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		if host, _, err := net.SplitHostPort(conn.RemoteAddr().String()); err == nil {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
	}
	deadline := time.Now().Add(DefaultHandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetReadDeadline(deadline)
	conn.SetWriteDeadline(deadline)
	var tc *gotls.Conn
	conn.Wrap(func(nc net.Conn) net.Conn {
		tc = gotls.Client(nc, cfg)
		return NewConn(tc, conn)
	})
	err := tc.Handshake()
	if err == nil && h2 {
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			if p == "" {
				p = "none"
			}
			err = fmt.Errorf("%w (offered %s, picked %s)", errNoH2, strings.Join(cfg.NextProtos, ","), p)
		}
	}
	if err != nil {
		reason := Classify(err)
		c.Stats.Failures[reason].Add(1)
		if ok, suppressed := c.limit.Allow(reason.String()); ok {
			log.Warn("upstream TLS handshake failed", "host", conn.RemoteAddr().String(),
				"reason", reason.String(), "err", err.Error(), "suppressed", suppressed)
		}
		return fmt.Errorf("tls handshake with %s: %w", conn.RemoteAddr(), err)
	}
	c.Stats.Handshakes.Add(1)
	if tc.ConnectionState().DidResume {
		c.Stats.Resumed.Add(1)
	}
	conn.SetReadDeadline(time.Time{})
	conn.SetWriteDeadline(time.Time{})
	return nil
}

// HandshakeFunc returns what a connection pool calls on each new upstream
// connection to host: c's Handshake logging to log, or nil (plaintext)
// for a nil c or a host with tls_disable.
func (c *Client) HandshakeFunc(tlsDisable bool, log *slog.Logger) func(context.Context, *network.Conn) error {
	if c == nil || tlsDisable {
		return nil
	}
	if log == nil {
		log = c.log
	}
	log = log.With("cluster", c.Cluster)
	return func(ctx context.Context, conn *network.Conn) error { return c.handshake(ctx, conn, log, false) }
}

// H2HandshakeFunc is HandshakeFunc for an HTTP/2 pool: the handshake
// offers ALPN h2 when the cluster's alpn is empty (else alpn as given) and
// fails, as a failed connect, unless the host picks h2.
func (c *Client) H2HandshakeFunc(tlsDisable bool, log *slog.Logger) func(context.Context, *network.Conn) error {
	if c == nil || tlsDisable {
		return nil
	}
	if log == nil {
		log = c.log
	}
	log = log.With("cluster", c.Cluster)
	return func(ctx context.Context, conn *network.Conn) error { return c.handshake(ctx, conn, log, true) }
}
