package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Run loads the targets as cfg says and returns the measurements. Errors
// caused by bad input (IsUsage) include an unreachable target found before
// the run starts.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	return runConfig(ctx, cfg, true)
}

// runConfig is Run; tests turn the reachability probe off to see connect
// errors counted.
func runConfig(ctx context.Context, cfg Config, probe bool) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	targets, err := parseTargets(&cfg)
	if err != nil {
		return nil, err
	}
	for _, t := range targets[1:] {
		if t.addr != targets[0].addr {
			return nil, usageErrorf("targets must share one host:port (%s and %s)", targets[0].addr, t.addr)
		}
	}
	reqs, weights := buildRequests(&cfg, targets)
	if cfg.TLS == nil && targets[0].scheme == "https" {
		cfg.TLS = &tls.Config{InsecureSkipVerify: cfg.Insecure, ServerName: targets[0].url.Hostname()} //nolint:gosec // opt-in via --insecure
	}
	proto, err := protocols[targets[0].scheme](&cfg, targets, reqs)
	if err != nil {
		return nil, err
	}
	// One connection before the run: an unreachable target is bad input,
	// reported once, not a run full of connect errors.
	if probe {
		c, err := proto.dial(ctx)
		if err != nil {
			return nil, usageErrorf("cannot reach %s: %v", targets[0].addr, err)
		}
		c.close()
	}

	r := &runner{cfg: &cfg, proto: proto, nreq: len(reqs), weights: weights}
	return r.run(ctx)
}

// buildRequests returns the run's requests and their cumulative weights.
func buildRequests(cfg *Config, targets []target) ([]Request, []int) {
	if len(cfg.Replay) > 0 {
		// Captured requests keep their Host; -H adds or replaces headers.
		reqs := make([]Request, len(cfg.Replay))
		for i, r := range cfg.Replay {
			if r.Host == "" {
				r.Host = targets[0].url.Host
			}
			if len(cfg.Headers) > 0 {
				hs := append([][2]string(nil), r.Headers...)
				for _, h := range cfg.Headers {
					name, value, _ := cutHeader(h)
					hs = slices.DeleteFunc(hs, func(kv [2]string) bool { return strings.EqualFold(kv[0], name) })
					hs = append(hs, [2]string{name, value})
				}
				r.Headers = hs
			}
			reqs[i] = r
		}
		return reqs, nil
	}
	var reqs []Request
	var cum []int
	total := 0
	for _, t := range targets {
		path := t.url.EscapedPath()
		if path == "" {
			path = "/"
		}
		if t.url.RawQuery != "" {
			path += "?" + t.url.RawQuery
		}
		req := Request{Method: cfg.Method, Path: path, Host: t.url.Host, Body: cfg.Body}
		for _, h := range cfg.Headers {
			name, value, _ := cutHeader(h)
			req.Headers = append(req.Headers, [2]string{name, value})
		}
		reqs = append(reqs, req)
		total += t.weight
		cum = append(cum, total)
	}
	if len(reqs) == 1 {
		cum = nil
	}
	return reqs, cum
}

// runner owns the workers of one run.
type runner struct {
	cfg     *Config
	proto   protocol
	nreq    int
	weights []int // cumulative weights; nil = one request or replay order

	base      time.Time // monotonic origin of every timestamp below
	measureAt int64     // ns: end of warmup
	endAt     int64     // ns: no sends intended at or after this; 0 = none
	graceAt   int64     // ns: give up on sends still due (open loop) after this
	issued    atomic.Int64
	seq       atomic.Uint64 // next request, when taken in order
	stopped   atomic.Bool
	interval  float64 // open loop: ns between intended sends on one connection

	workers []*worker
}

func (r *runner) now() int64 { return int64(time.Since(r.base)) }

func (r *runner) run(ctx context.Context) (*Result, error) {
	cfg := r.cfg
	r.base = time.Now()
	r.measureAt = int64(cfg.Warmup)
	if cfg.Duration > 0 {
		r.endAt = r.measureAt + int64(cfg.Duration)
		grace := cfg.Timeout
		if grace <= 0 {
			grace = cfg.grace
		}
		if grace <= 0 {
			grace = 5 * time.Second
		}
		r.graceAt = r.endAt + int64(grace)
	}
	if cfg.Rate > 0 {
		r.interval = float64(cfg.Conns) * 1e9 / cfg.Rate
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r.workers = make([]*worker, cfg.Conns)
	for i := range r.workers {
		r.workers[i] = newWorker(r, i)
	}
	var wg sync.WaitGroup
	if loops := r.eventLoops(); loops > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.runLoops(ctx, loops); err != nil {
				r.stopped.Store(true)
			}
		}()
	} else {
		for _, w := range r.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.run(ctx)
			}()
		}
	}
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		r.watch(ctx, done)
	}()
	wg.Wait()
	finished := r.now()
	close(done)
	bg.Wait()

	elapsed := time.Duration(finished - r.measureAt)
	if elapsed <= 0 {
		elapsed = time.Nanosecond
	}
	return r.result(elapsed, ctx.Err() != nil), nil
}

// eventLoops says how many event loops run the connections, 0 for a
// goroutine per connection: loops serve closed-loop load over plain TCP
// on Linux (open loop needs per-connection timers, TLS its own reads).
func (r *runner) eventLoops() int {
	cfg := r.cfg
	if !loopSupported || cfg.IO == IOGoroutines || cfg.Rate > 0 || cfg.TLS != nil {
		return 0
	}
	n := cfg.Threads
	if n <= 0 {
		// Half the cores: a loop keeps a core busy, and in CI the target
		// usually runs on the same machine and needs the rest.
		n = max(1, runtime.GOMAXPROCS(0)/2)
	}
	return min(n, cfg.Conns)
}

// watch stops the run on cancellation (unblocking reads) and prints the
// progress line.
func (r *runner) watch(ctx context.Context, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastN uint64
	lastT := r.now()
	for {
		select {
		case <-done:
			if r.cfg.Progress != nil {
				fmt.Fprint(r.cfg.Progress, "\r\033[K")
			}
			return
		case <-ctx.Done():
			r.stopped.Store(true)
			for _, w := range r.workers {
				w.interrupt()
			}
			ctx = context.Background() // fire once
		case <-tick.C:
			if r.cfg.Progress == nil {
				continue
			}
			var n, e uint64
			for _, w := range r.workers {
				n += w.liveDone.Load()
				e += w.liveErrs.Load()
			}
			now := r.now()
			rate := float64(n-lastN) / (float64(now-lastT) / 1e9)
			lastN, lastT = n, now
			line := fmt.Sprintf("\r\033[Krequests %d  rate %.0f/s  errors %d  elapsed %s", n, rate, e, time.Duration(now).Round(time.Second))
			if r.endAt > 0 {
				rem := time.Duration(r.endAt - now).Round(time.Second)
				if rem < 0 {
					rem = 0
				}
				line += fmt.Sprintf("  remaining %s", rem)
			} else if r.cfg.Requests > 0 {
				line += fmt.Sprintf("  of %d", r.cfg.Requests)
			}
			fmt.Fprint(r.cfg.Progress, line)
		}
	}
}

// inflight is one request on the wire.
type inflight struct {
	id     uint32
	start  int64 // ns since base: when it was sent (closed loop) or due (open loop)
	record bool  // sent after warmup
}

// workerStats are a worker's counts; merged after the run.
type workerStats struct {
	responses uint64
	errors    [numErrKinds]uint64
	status    map[int]uint64
	bytesIn   uint64
}

// worker drives one connection (redialing it when it breaks).
type worker struct {
	r     *runner
	idx   int
	conn  clientConn
	cmu   sync.Mutex // guards conn against interrupt only
	hist  Histogram
	stats workerStats
	fl    []inflight
	rng   *rand.PCG
	k     int64 // open loop: index of the next intended send
	dl    int64 // read deadline in force (ns since base), 0 = none
	timer *time.Timer
	res   response
	resp  []uint64 // per-status counts for codes < 600, folded into stats.status

	// event loop state (loop_linux.go)
	fdc     *fdConn
	sending bool
	active  bool
	retryAt int64

	liveDone atomic.Uint64
	liveErrs atomic.Uint64
	_        [64]byte
}

func newWorker(r *runner, i int) *worker {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &worker{
		r: r, idx: i, rng: rand.NewPCG(uint64(i)+1, 0x9e3779b97f4a7c15),
		timer: t, resp: make([]uint64, 600), stats: workerStats{status: map[int]uint64{}},
	}
}

func (w *worker) interrupt() {
	w.cmu.Lock()
	if w.conn != nil {
		_ = w.conn.setReadDeadline(time.Unix(1, 0))
	}
	w.cmu.Unlock()
}

func (w *worker) setConn(c clientConn) {
	w.cmu.Lock()
	w.conn = c
	w.cmu.Unlock()
	w.dl = 0
}

// pick chooses the next request.
func (w *worker) pick() int {
	r := w.r
	if r.weights == nil {
		if r.nreq == 1 {
			return 0
		}
		// Replay (and several unweighted URLs) go in order across all
		// connections, so -n equal to the capture sends each exactly once.
		return int((r.seq.Add(1) - 1) % uint64(r.nreq))
	}
	total := r.weights[len(r.weights)-1]
	x := int(w.rng.Uint64() % uint64(total))
	for i, c := range r.weights {
		if x < c {
			return i
		}
	}
	return 0
}

// nextDue is the open-loop intended time of send k.
func (w *worker) nextDue() int64 {
	return int64((float64(w.k)*float64(len(w.r.workers)) + float64(w.idx)) * w.r.interval / float64(len(w.r.workers)))
}

// ticket decides whether one more request may be sent; record says
// whether its outcome counts.
func (w *worker) ticket(now int64) (ok, record bool) {
	r := w.r
	if r.stopped.Load() {
		return false, false
	}
	if now < r.measureAt {
		return true, false
	}
	if r.endAt > 0 && now >= r.endAt {
		return false, false
	}
	if r.cfg.Requests > 0 && r.issued.Add(1) > r.cfg.Requests {
		return false, false
	}
	return true, true
}

func (w *worker) fail(f inflight, kind errKind) {
	if f.record {
		w.stats.errors[kind]++
		w.liveErrs.Add(1)
		w.liveDone.Add(1)
	}
}

// dropConn fails everything in flight with kind and closes the connection.
func (w *worker) dropConn(kind errKind) {
	for _, f := range w.fl {
		w.fail(f, kind)
	}
	w.fl = w.fl[:0]
	if w.conn != nil {
		w.conn.close()
		w.setConn(nil)
	}
}

func (w *worker) run(ctx context.Context) {
	defer w.dropConn(errReset)
	r := w.r
	timeout := int64(r.cfg.Timeout)
	slack := timeout / 8
	open := r.interval > 0
	sending := true
	for {
		now := r.now()
		if r.stopped.Load() {
			w.fl = w.fl[:0] // interrupted: what is in flight is not counted
			return
		}
		if w.conn == nil {
			if !sending {
				return
			}
			if open && r.endAt > 0 && w.nextDue() >= r.endAt {
				return
			}
			c, err := r.proto.dial(ctx)
			if err != nil {
				// A failed connect uses up one request so that -n runs end
				// against a dead target; then back off a little.
				ok, rec := w.ticket(now)
				if !ok {
					return
				}
				if open {
					w.k++
				}
				w.fail(inflight{record: rec}, errConnect)
				w.sleep(ctx, int64(10*time.Millisecond))
				continue
			}
			w.setConn(c)
		}
		c := w.conn

		// Send while there is room and (open loop) a send is due.
		sent := false
		for sending && len(w.fl) < c.maxStreams() && c.usable() && (len(w.fl) == 0 || !c.pending()) {
			start := now
			if open {
				due := w.nextDue()
				if r.endAt > 0 && due >= r.endAt {
					sending = false
					break
				}
				if due > now {
					if len(w.fl) == 0 && !sent {
						w.sleep(ctx, due-now)
						now = r.now()
						continue
					}
					break
				}
				if r.graceAt > 0 && now >= r.graceAt {
					// Too far behind to catch up: every send still due
					// would have waited past the end, so it counts as a
					// timeout rather than silently lowering the rate.
					for w.nextDue() < r.endAt {
						if _, rec := w.ticket(w.nextDue()); rec {
							w.fail(inflight{record: true}, errTimeout)
						}
						w.k++
					}
					sending = false
					break
				}
				start = due
			}
			ok, rec := w.ticket(start)
			if !ok {
				sending = false
				break
			}
			if open {
				w.k++
			}
			id, err := c.send(w.pick())
			if err != nil {
				w.fl = append(w.fl, inflight{start: start, record: rec})
				w.dropConn(classify(err))
				break
			}
			w.fl = append(w.fl, inflight{id: id, start: start, record: rec})
			sent = true
		}
		if w.conn == nil {
			continue
		}
		if sent {
			if err := c.flush(); err != nil {
				w.dropConn(classify(err))
				continue
			}
		}
		if len(w.fl) == 0 {
			if !c.usable() {
				c.close()
				w.setConn(nil)
				continue
			}
			if !sending {
				return
			}
			continue
		}

		// Wait for a response, no longer than the oldest request's timeout
		// or (open loop) the next due send.
		var want int64
		if timeout > 0 {
			want = w.fl[0].start + timeout
		}
		if open && sending && len(w.fl) < c.maxStreams() && c.usable() {
			if due := w.nextDue(); want == 0 || due < want {
				want = due
			}
		}
		if r.graceAt > 0 && (want == 0 || r.graceAt < want) {
			want = r.graceAt // a -d run does not wait for ever on a silent server
		}
		if want == 0 {
			if w.dl != 0 {
				_ = c.setReadDeadline(time.Time{})
				w.dl = 0
			}
		} else if w.dl == 0 || w.dl < want || w.dl > want+slack {
			// Re-arming costs a timer update; with the slack a run of fast
			// responses reuses one deadline for timeout/8.
			w.dl = want + slack/2
			_ = c.setReadDeadline(r.base.Add(time.Duration(w.dl)))
		}
		err := c.recv(&w.res)
		now = r.now()
		if err != nil {
			kind := classify(err)
			if r.stopped.Load() {
				w.fl = w.fl[:0]
				return
			}
			if kind == errTimeout && r.graceAt > 0 && now >= r.graceAt {
				w.fl = w.fl[:0] // past the end and its grace: not counted
				return
			}
			if kind == errTimeout {
				// w.dl stays: the expired deadline is still set on the
				// connection, and the next wait replaces or clears it.
				if timeout > 0 && now-w.fl[0].start >= timeout {
					f := w.fl[0]
					w.fl = w.fl[1:]
					w.fail(f, errTimeout)
					if !c.abandon(f.id) {
						w.dropConn(errTimeout)
					}
				}
				continue // a due send, or a deadline set with slack
			}
			w.dropConn(kind)
			continue
		}
		w.complete(now, timeout)
	}
}

// complete records the response in w.res.
func (w *worker) complete(now, timeout int64) {
	res := &w.res
	i := 0
	for i < len(w.fl) && w.fl[i].id != res.id {
		i++
	}
	if i == len(w.fl) {
		return // abandoned after its timeout, or unsolicited
	}
	f := w.fl[i]
	copy(w.fl[i:], w.fl[i+1:])
	w.fl = w.fl[:len(w.fl)-1]
	if !f.record {
		return
	}
	lat := now - f.start
	if timeout > 0 && lat >= timeout {
		w.fail(f, errTimeout)
		return
	}
	w.stats.responses++
	w.stats.bytesIn += uint64(res.bytes)
	if res.status >= 0 && res.status < len(w.resp) {
		w.resp[res.status]++
	} else {
		w.stats.status[res.status]++
	}
	if res.fail != errNone {
		w.stats.errors[res.fail]++
		w.liveErrs.Add(1)
	}
	w.liveDone.Add(1)
	w.hist.Record(time.Duration(lat))
}

func (w *worker) sleep(ctx context.Context, d int64) {
	if d <= 0 {
		return
	}
	w.timer.Reset(time.Duration(d))
	select {
	case <-w.timer.C:
	case <-ctx.Done():
		w.timer.Stop()
	}
}

// result merges the workers' counts.
func (r *runner) result(elapsed time.Duration, interrupted bool) *Result {
	var h Histogram
	var st workerStats
	st.status = map[int]uint64{}
	for _, w := range r.workers {
		h.Merge(&w.hist)
		st.responses += w.stats.responses
		st.bytesIn += w.stats.bytesIn
		for k, v := range w.stats.errors {
			st.errors[k] += v
		}
		for code, v := range w.stats.status {
			st.status[code] += v
		}
		for code, v := range w.resp {
			if v != 0 {
				st.status[code] += v
			}
		}
	}
	return newResult(r.cfg, &h, &st, elapsed, interrupted)
}
