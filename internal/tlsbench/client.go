package tlsbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// clientJob is one cell for the common client: the same crypto/tls client
// drives every engine's server, so only the server differs between engines.
type clientJob struct {
	addr, caFile, suite, curve, metric string
	duration, timeout                  time.Duration
	conns, size                        int
}

// clientConfig pins the version, the suite (TLS 1.2) and the curve. TLS 1.3
// suites cannot be pinned in crypto/tls: the client offers its fixed list and
// the server picks, which is why every cell checks what was negotiated.
func clientConfig(caFile string, s Suite, c Curve) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("read ca: no certificate in file")
	}
	cfg := &tls.Config{
		RootCAs:                     pool,
		ServerName:                  "localhost",
		MinVersion:                  s.Version,
		MaxVersion:                  s.Version,
		CurvePreferences:            []tls.CurveID{c.ID},
		DynamicRecordSizingDisabled: true,
	}
	// In TLS 1.2 the supported groups also say which curves the client
	// accepts in the server's ECDSA certificate, and OpenSSL and BoringSSL
	// refuse a P-256 certificate to a client that lists only X25519. The
	// cell's curve stays first and the servers are restricted to it.
	if c.ID != tls.CurveP256 {
		cfg.CurvePreferences = append(cfg.CurvePreferences, tls.CurveP256)
	}
	if s.Version == tls.VersionTLS12 {
		cfg.CipherSuites = []uint16{s.ID}
	}
	return cfg, nil
}

// checkState turns a negotiated connection that is not the cell's suite,
// version or curve into an error, so a mismatch never becomes a number.
func checkState(cs tls.ConnectionState, s Suite, c Curve) error {
	if cs.Version != s.Version || cs.CipherSuite != s.ID || cs.CurveID != c.ID {
		return fmt.Errorf("negotiated %s %s %s, want %s %s %s",
			tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID,
			tls.VersionName(s.Version), tls.CipherSuiteName(s.ID), c.ID)
	}
	return nil
}

func childClient(ctx context.Context, job clientJob) (clientResult, error) {
	s, ok := suiteByName(job.suite)
	if !ok {
		return clientResult{}, fmt.Errorf("unknown suite %q", job.suite)
	}
	c, ok := curveByName(job.curve)
	if !ok {
		return clientResult{}, fmt.Errorf("unknown curve %q", job.curve)
	}
	cfg, err := clientConfig(job.caFile, s, c)
	if err != nil {
		return clientResult{}, err
	}
	if job.conns < 1 {
		job.conns = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		res      = clientResult{PerConn: make([]int64, job.conns)}
		rates    = make([]float64, job.conns)
	)
	start := time.Now()
	deadline := start.Add(job.duration)
	for i := range job.conns {
		wg.Go(func() {
			w := worker{job: job, suite: s, curve: c, cfg: cfg.Clone(), deadline: deadline}
			var err error
			switch job.metric {
			case MetricHandshakeFull, MetricHandshakeResumed:
				err = w.handshakes(ctx)
				res.PerConn[i] = w.count
			case MetricBulkUpload, MetricBulkDownload:
				err = w.bulk(ctx)
				res.PerConn[i] = w.bytes
				if w.elapsed > 0 {
					rates[i] = float64(w.bytes) / w.elapsed.Seconds()
				}
			default:
				err = fmt.Errorf("unknown client metric %q", job.metric)
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	for _, n := range res.PerConn {
		if job.metric == MetricBulkUpload || job.metric == MetricBulkDownload {
			res.Bytes += n
		} else {
			res.Handshakes += n
		}
	}
	if job.metric == MetricBulkUpload || job.metric == MetricBulkDownload {
		// Connections run side by side: the cell's rate is the sum of theirs,
		// expressed as bytes over the cell's wall time.
		var sum float64
		for _, r := range rates {
			sum += r
		}
		if sum > 0 {
			res.Seconds = float64(res.Bytes) / sum
		}
	}
	return res, firstErr
}

// worker is one client connection slot.
type worker struct {
	job      clientJob
	suite    Suite
	curve    Curve
	cfg      *tls.Config
	deadline time.Time

	count   int64
	bytes   int64
	elapsed time.Duration
}

func (w *worker) dial(ctx context.Context) (*tls.Conn, error) {
	d := net.Dialer{Timeout: w.job.timeout}
	raw, err := d.DialContext(ctx, "tcp", w.job.addr)
	if err != nil {
		return nil, fmt.Errorf("dial server: %w", err)
	}
	tc := tls.Client(raw, w.cfg)
	_ = tc.SetDeadline(time.Now().Add(w.job.timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		tc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if err := checkState(tc.ConnectionState(), w.suite, w.curve); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// handshakes opens, handshakes and closes connections until the deadline.
// Each connection ends with our close_notify and waits for the server's, so
// the server has finished its side (and TLS 1.3 tickets have arrived) before
// the next one starts.
func (w *worker) handshakes(ctx context.Context) error {
	resumed := w.job.metric == MetricHandshakeResumed
	if resumed {
		w.cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	warm := resumed // the first handshake of a resumed cell is a full one, not counted
	for time.Now().Before(w.deadline) {
		if err := ctx.Err(); err != nil {
			return nil
		}
		tc, err := w.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		didResume := tc.ConnectionState().DidResume
		err = closeAndDrain(tc, w.job.timeout)
		if err != nil && ctx.Err() == nil {
			return err
		}
		switch {
		case warm:
			warm = false
		case resumed && !didResume:
			return errors.New("server did not resume the session")
		default:
			w.count++
		}
	}
	return nil
}

func closeAndDrain(tc *tls.Conn, timeout time.Duration) error {
	defer tc.Close()
	if err := tc.CloseWrite(); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	_ = tc.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, tc)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		return fmt.Errorf("wait for server close: %w", err)
	}
	return nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// bulk moves size-byte records on one established connection until the
// deadline: upload writes (the server decrypts), download reads (the server
// encrypts).
func (w *worker) bulk(ctx context.Context) error {
	tc, err := w.dial(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	buf := make([]byte, w.job.size)
	if w.job.metric == MetricBulkDownload {
		// openssl s_server -WWW sends the endless file only when asked;
		// the other servers start sending on their own and ignore this.
		_ = tc.SetDeadline(time.Now().Add(w.job.timeout))
		if _, err := io.WriteString(tc, "GET /zero HTTP/1.0\r\n\r\n"); err != nil {
			return fmt.Errorf("%s request: %w", w.job.metric, err)
		}
	}
	start := time.Now()
	for time.Now().Before(w.deadline) && ctx.Err() == nil {
		_ = tc.SetDeadline(time.Now().Add(w.job.timeout))
		var n int
		if w.job.metric == MetricBulkUpload {
			n, err = tc.Write(buf)
		} else {
			n, err = tc.Read(buf)
		}
		w.bytes += int64(n)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("%s: %w", w.job.metric, err)
		}
	}
	w.elapsed = time.Since(start)
	return nil
}
