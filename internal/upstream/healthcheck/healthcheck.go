// Package healthcheck runs the active health checks of clusters (their
// health_check block): one goroutine per checked cluster probes its hosts in
// turn every interval, off the request path, and marks a host out after
// unhealthy_threshold failed probes in a row and back in after
// healthy_threshold good ones (upstream.Host.SetHealthy). The load
// balancers skip hosts that are out.
//
// Health lives on the upstream.Host, which a reload keeps for a host that
// stays, so a host's state and streaks survive a reload; Sync stops the
// checkers of clusters a reload replaced and starts the new ones'.
//
// It imports internal/upstream, internal/config and internal/protocol/bolt
// (the heartbeat frame); the proxy and stream layers are not its business.
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// Checkers owns the running checkers of a server, one per cluster with a
// health_check.
type Checkers struct {
	log *slog.Logger

	mu      sync.Mutex
	running map[*upstream.Cluster]*checker
	stopped bool
	wg      sync.WaitGroup
}

// New returns Checkers that log host transitions to log.
func New(log *slog.Logger) *Checkers {
	return &Checkers{log: log, running: map[*upstream.Cluster]*checker{}}
}

// Sync makes the running checkers those of m's clusters: a cluster that is
// the same *Cluster keeps its checker; checkers of clusters m no longer
// holds stop; new clusters with a health_check get one, which probes at
// once. Hosts of a cluster without a health_check are marked healthy (the
// check that held one out may have been removed by a reload).
func (cs *Checkers) Sync(m *upstream.Manager) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.stopped {
		return
	}
	keep := make(map[*upstream.Cluster]bool, len(m.Clusters()))
	for _, c := range m.Clusters() {
		keep[c] = true
		if c.HealthCheck == nil {
			for _, h := range c.Hosts {
				h.SetHealthy(true)
			}
			continue
		}
		if cs.running[c] != nil {
			continue
		}
		k := newChecker(c, cs.log)
		cs.running[c] = k
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			k.run()
		}()
	}
	for c, k := range cs.running {
		if !keep[c] {
			k.stop()
			delete(cs.running, c)
		}
	}
}

// Stop stops every checker and waits for them; Sync does nothing after.
func (cs *Checkers) Stop() {
	cs.mu.Lock()
	cs.stopped = true
	for c, k := range cs.running {
		k.stop()
		delete(cs.running, c)
	}
	cs.mu.Unlock()
	cs.wg.Wait()
}

// checker probes one cluster's hosts.
type checker struct {
	cluster   *upstream.Cluster
	cfg       *config.HealthCheck
	timeout   time.Duration
	interval  time.Duration
	jitter    time.Duration
	healthy   uint32
	unhealthy uint32
	probe     func(ctx context.Context, h *upstream.Host) error
	http      *http.Client // Http1 checks keep their connections between rounds
	log       *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
}

func newChecker(c *upstream.Cluster, log *slog.Logger) *checker {
	hc := c.HealthCheck
	k := &checker{
		cluster:   c,
		cfg:       hc,
		timeout:   hc.Timeout.Get(config.DefaultHealthCheckTimeout),
		interval:  hc.Interval.Get(config.DefaultHealthCheckInterval),
		jitter:    hc.IntervalJitter.Get(0),
		healthy:   hc.Healthy(),
		unhealthy: hc.Unhealthy(),
		log:       log,
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	switch hc.Protocol {
	case config.HealthCheckHTTP1:
		k.http = &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, DisableCompression: true,
				ResponseHeaderTimeout: k.timeout, IdleConnTimeout: 2*k.interval + k.jitter},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		k.probe = k.probeHTTP1
	case config.HealthCheckBolt:
		k.probe = k.probeBolt
	default:
		k.probe = k.probeTCP
	}
	return k
}

func (k *checker) stop() { k.cancel() }

// run probes every host, then waits interval plus up to interval_jitter,
// until stopped. Hosts are probed one after the other: one goroutine per
// cluster, however many hosts; a probe never takes more than timeout.
func (k *checker) run() {
	defer func() {
		if k.http != nil {
			k.http.CloseIdleConnections()
		}
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
		}
		for _, h := range k.cluster.Hosts {
			if k.ctx.Err() != nil {
				return
			}
			k.result(h, k.probeOnce(h))
		}
		t.Reset(k.nextWait())
	}
}

// nextWait is the pause between rounds: interval plus a random share of
// interval_jitter, so checkers started together drift apart.
func (k *checker) nextWait() time.Duration {
	if k.jitter > 0 {
		return k.interval + rand.N(k.jitter)
	}
	return k.interval
}

func (k *checker) probeOnce(h *upstream.Host) error {
	ctx, cancel := context.WithTimeout(k.ctx, k.timeout)
	defer cancel()
	return k.probe(ctx, h)
}

// result applies a probe's outcome to h's streaks and health, logging
// each transition.
func (k *checker) result(h *upstream.Host, err error) {
	if k.ctx.Err() != nil {
		return // stopped mid-probe: the error is ours, not the host's
	}
	if err == nil {
		if h.CheckPassed(k.healthy) {
			k.log.Info("health check: host healthy again", "cluster", k.cluster.Name, "host", h.Address,
				"healthy_threshold", k.healthy)
		}
		return
	}
	if h.CheckFailed(k.unhealthy) {
		k.log.Warn("health check: host unhealthy, out of rotation", "cluster", k.cluster.Name, "host", h.Address,
			"protocol", k.cfg.Protocol, "unhealthy_threshold", k.unhealthy, "err", err)
	}
}

func (k *checker) dial(ctx context.Context, h *upstream.Host) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", h.Address)
}

// probeTCP: the host accepts a connection.
func (k *checker) probeTCP(ctx context.Context, h *upstream.Host) error {
	c, err := k.dial(ctx, h)
	if err != nil {
		return err
	}
	return c.Close()
}

// maxProbeBody bounds what an Http1 probe reads of a body before it drops
// the connection.
const maxProbeBody = 64 << 10

// probeHTTP1: GET check_config.path answers 2xx.
func (k *checker) probeHTTP1(ctx context.Context, h *upstream.Host) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.Address+k.cfg.Path(), nil)
	if err != nil {
		return err
	}
	if h.Hostname != "" {
		req.Host = h.Hostname
	}
	req.Header.Set("User-Agent", "mosnctl-health-check")
	resp, err := k.http.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: status %d", k.cfg.Path(), resp.StatusCode)
	}
	return err
}

// probeBolt: a Bolt heartbeat is answered by a heartbeat response with
// status success.
func (k *checker) probeBolt(ctx context.Context, h *upstream.Host) error {
	c, err := k.dial(ctx, h)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	id := rand.Uint32()
	if _, err := c.Write(bolt.AppendHeartbeat(nil, id, bolt.CodecHessian2, uint32(k.timeout/time.Millisecond))); err != nil {
		return err
	}
	buf := make([]byte, 0, 256)
	var f bolt.Frame
	for {
		_, err := bolt.Decode(buf, &f, 64<<10)
		if err == nil {
			break
		}
		if !errors.Is(err, bolt.ErrNeedMore) {
			return err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, rerr := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if rerr != nil && m == 0 {
			return fmt.Errorf("bolt heartbeat: %w", rerr)
		}
	}
	switch {
	case f.Type != bolt.TypeResponse || !f.IsHeartbeat():
		return fmt.Errorf("bolt heartbeat: answered by a frame of type %d, command %d", f.Type, f.CmdCode)
	case f.RequestID != id:
		return fmt.Errorf("bolt heartbeat: answer for request %d, want %d", f.RequestID, id)
	case f.Status != bolt.StatusSuccess:
		return fmt.Errorf("bolt heartbeat: status %s", bolt.StatusText(f.Status))
	}
	return nil
}
