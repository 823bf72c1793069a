// Package tlsbench measures TLS engines on this host: Go's crypto/tls, the
// same Go code built with GOEXPERIMENT=boringcrypto, BoringSSL's bssl-tool
// and OpenSSL, per cipher suite and key-exchange curve. It owns the child
// processes it starts (servers pinned to one CPU, the common Go client, the
// in-process primitives) and the report; it imports no other mosnctl
// package, and nothing on the data path imports it.
//
// Every number comes from a cell (engine, suite, curve, metric) whose
// negotiated version, suite and curve the client checked; a mismatch is an
// error for that cell, never a number.
package tlsbench

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// Options select what to measure and how. Zero values take defaults.
type Options struct {
	Engines, Suites, Curves, Metrics []string // empty: all

	Duration  time.Duration // per cell; default 1s
	Repeat    int           // runs per cell, the median is kept; default 1
	Conns     int           // concurrent client connections; default 1
	Size      int           // bulk record size; default 16384
	ServerCPU int           // CPU the server under test is pinned to; -1: the last one
	Timeout   time.Duration // server start and one network operation; default 5s

	Self   Child // this binary in child mode: the go engine's server and the client
	Boring Child // the GOEXPERIMENT=boringcrypto build in child mode; Path "" if none

	// Progress, when set, is told about each cell before it runs.
	Progress func(done, total int, what string)
}

// Row is one measured number; the JSON schema of `tlsbench -o json`.
type Row struct {
	Engine     string   `json:"engine"`
	Suite      string   `json:"suite"`
	TLSVersion string   `json:"tls_version"`
	Curve      string   `json:"curve"`
	Cert       string   `json:"cert"`
	Metric     string   `json:"metric"`
	Value      float64  `json:"value"`
	Unit       string   `json:"unit"`
	ServerCPU  *float64 `json:"server_cpu_s,omitempty"` // server CPU seconds spent on the cell; absent for primitives
	Count      int64    `json:"count,omitempty"`        // handshakes or bytes the cell counted
}

// CellError is a cell that gave no number.
type CellError struct {
	Engine string `json:"engine"`
	Suite  string `json:"suite,omitempty"`
	Curve  string `json:"curve,omitempty"`
	Metric string `json:"metric,omitempty"`
	Error  string `json:"error"`
}

// EngineStatus says whether an engine ran and which version it is.
type EngineStatus struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Version   string `json:"version,omitempty"`
	Note      string `json:"note,omitempty"`
}

// Report is the whole result of a run.
type Report struct {
	Host    Host           `json:"host"`
	Engines []EngineStatus `json:"engines"`
	Results []Row          `json:"results"`
	Errors  []CellError    `json:"errors"`
	Skipped []CellError    `json:"skipped"`
}

type plan struct {
	engines []string
	suites  []Suite
	curves  []Curve
	metrics []string
}

// Validate checks the names and numbers in opts; its errors are usage
// errors naming the valid choices.
func Validate(opts Options) error {
	_, err := makePlan(opts)
	return err
}

func makePlan(opts Options) (plan, error) {
	var p plan
	var err error
	if p.engines, err = selectNames("engine", opts.Engines, Engines(), nil); err != nil {
		return p, err
	}
	suites, err := selectNames("suite", opts.Suites, suiteNames(), map[string][]string{
		"tls12": suiteNames()[:4], "tls13": suiteNames()[4:]})
	if err != nil {
		return p, err
	}
	for _, n := range suites {
		s, _ := suiteByName(n)
		p.suites = append(p.suites, s)
	}
	curves, err := selectNames("curve", opts.Curves, curveNames(), nil)
	if err != nil {
		return p, err
	}
	for _, n := range curves {
		c, _ := curveByName(n)
		p.curves = append(p.curves, c)
	}
	if p.metrics, err = selectNames("metric", opts.Metrics, Metrics(), metricGroups()); err != nil {
		return p, err
	}
	if opts.Duration < 0 || opts.Conns < 0 || opts.Size < 0 || opts.Repeat < 0 {
		return p, errors.New("duration, conns, size and repeat must not be negative")
	}
	if opts.ServerCPU >= runtime.NumCPU() {
		return p, fmt.Errorf("server cpu %d out of range: this host has cpus 0-%d", opts.ServerCPU, runtime.NumCPU()-1)
	}
	return p, nil
}

func withDefaults(opts Options) Options {
	if opts.Duration == 0 {
		opts.Duration = time.Second
	}
	if opts.Conns == 0 {
		opts.Conns = 1
	}
	if opts.Repeat == 0 {
		opts.Repeat = 1
	}
	if opts.Size == 0 {
		opts.Size = 16384
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.ServerCPU < 0 {
		opts.ServerCPU = runtime.NumCPU() - 1
	}
	return opts
}

// Run measures every selected cell and returns the report; cells that fail
// are listed in Report.Errors, engines that are missing in Report.Engines.
// The error is for the run as a whole (bad options, no temp dir, cancel).
func Run(ctx context.Context, opts Options) (*Report, error) {
	p, err := makePlan(opts)
	if err != nil {
		return nil, err
	}
	opts = withDefaults(opts)
	serverCPUs := []int{opts.ServerCPU}
	var clientCPUs []int
	for c := range runtime.NumCPU() {
		if c != opts.ServerCPU {
			clientCPUs = append(clientCPUs, c)
		}
	}
	if len(clientCPUs) == 0 {
		serverCPUs = nil // one CPU: nothing to separate
	}
	dir, err := os.MkdirTemp("", "tlsbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	certs, err := writeCerts(dir)
	if err != nil {
		return nil, err
	}
	wwwDir := filepath.Join(dir, "www")
	if err := os.Mkdir(wwwDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Symlink("/dev/zero", filepath.Join(wwwDir, "zero")); err != nil {
		return nil, err
	}
	rep := &Report{Host: hostInfo(opts.ServerCPU, clientCPUs), Results: []Row{}}
	engines := newEngines(opts)
	var live []string
	for _, name := range p.engines {
		v, err := engines[name].check(ctx)
		st := EngineStatus{Name: name, Available: err == nil, Version: v}
		if err != nil {
			st.Note = err.Error()
		} else {
			live = append(live, name)
		}
		rep.Engines = append(rep.Engines, st)
	}

	var tlsMetrics, primMetrics []string
	for _, m := range p.metrics {
		if isPrimitive(m) {
			primMetrics = append(primMetrics, m)
		} else {
			tlsMetrics = append(tlsMetrics, m)
		}
	}
	total := len(p.suites)*len(p.curves)*len(tlsMetrics)*len(live) + len(live)*min(1, len(primMetrics))
	done := 0
	progress := func(what string) {
		if opts.Progress != nil {
			opts.Progress(done, total, what)
		}
		done++
	}
	// Engines are the inner loop so that drift in the machine's load spreads
	// over all of them instead of landing on one.
	for _, s := range p.suites {
		for _, c := range p.curves {
			for _, m := range tlsMetrics {
				for _, name := range live {
					if err := ctx.Err(); err != nil {
						return rep, err
					}
					progress(fmt.Sprintf("%s %s %s %s", name, s.Name, c.Name, m))
					cell := CellError{Engine: name, Suite: s.Name, Curve: c.Name, Metric: m}
					if why := notMeasurable(name, s, m); why != "" {
						cell.Error = why
						rep.Skipped = append(rep.Skipped, cell)
						continue
					}
					row, err := runCellMedian(ctx, opts, engines[name], name, s, c, m, certs[s.Cert], wwwDir, serverCPUs, clientCPUs)
					if err != nil {
						cell.Error = err.Error()
						rep.Errors = append(rep.Errors, cell)
						continue
					}
					rep.Results = append(rep.Results, row)
				}
			}
		}
	}
	if len(primMetrics) > 0 {
		need := needsFor(p.suites, p.curves, primMetrics)
		for _, name := range live {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			progress(name + " primitives")
			var runs [][]primRow
			for range opts.Repeat {
				prims, err := engines[name].primitives(ctx, opts.Duration, serverCPUs, need)
				if err != nil {
					rep.Errors = append(rep.Errors, CellError{Engine: name, Metric: "primitives", Error: err.Error()})
					break
				}
				runs = append(runs, prims)
			}
			rep.Results = append(rep.Results, expandPrimitives(name, medianPrimitives(runs), p.suites, p.curves, primMetrics)...)
		}
	}
	return rep, nil
}

// notMeasurable names the cells that cannot give a fair number, and why.
// crypto/tls always offers TLS_AES_128_GCM_SHA256 ahead of
// TLS_AES_256_GCM_SHA384 and these servers take the first AES suite the
// client offers, with no setting to refuse it. bssl-tool server moves
// application data through a 512-byte buffer (one select, read and write per
// 512 bytes), which measures the tool, not BoringSSL's record layer.
func notMeasurable(engine string, s Suite, metric string) string {
	if s.Name == "TLS_AES_256_GCM_SHA384" && engine != EngineOpenSSL {
		return "not negotiable with a crypto/tls client: it offers TLS_AES_128_GCM_SHA256 first and this server has no TLS 1.3 suite setting"
	}
	if engine == EngineBSSL && (metric == MetricBulkUpload || metric == MetricBulkDownload) {
		return "bssl-tool server copies application data 512 bytes at a time; see the AEAD primitives (bssl-tool speed) instead"
	}
	return ""
}

// medianPrimitives keeps, per algorithm and metric, the median over runs.
func medianPrimitives(runs [][]primRow) []primRow {
	type key struct{ alg, metric string }
	byKey := map[key][]primRow{}
	var order []key
	for _, run := range runs {
		for _, p := range run {
			k := key{p.Alg, p.Metric}
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], p)
		}
	}
	out := make([]primRow, 0, len(order))
	for _, k := range order {
		ps := byKey[k]
		slices.SortFunc(ps, func(a, b primRow) int { return cmp.Compare(a.Value, b.Value) })
		out = append(out, ps[len(ps)/2])
	}
	return out
}

// expandPrimitives files each primitive under every selected suite that uses
// it (the suite's AEAD, the curve, the certificate's signature).
func expandPrimitives(engine string, prims []primRow, suites []Suite, curves []Curve, metrics []string) []Row {
	find := func(alg, metric string) (primRow, bool) {
		i := slices.IndexFunc(prims, func(p primRow) bool { return p.Alg == alg && p.Metric == metric })
		if i < 0 {
			return primRow{}, false
		}
		return prims[i], true
	}
	var rows []Row
	for _, s := range suites {
		for _, c := range curves {
			for _, m := range metrics {
				alg := s.AEAD
				switch m {
				case MetricECDHE:
					alg = c.Name
				case MetricSign:
					alg = s.Cert
				}
				p, ok := find(alg, m)
				if !ok {
					continue
				}
				rows = append(rows, Row{Engine: engine, Suite: s.Name, TLSVersion: s.TLSVersion(), Curve: c.Name, Cert: s.Cert,
					Metric: m, Value: p.Value, Unit: p.Unit})
			}
		}
	}
	return rows
}

// runCellMedian runs a cell opts.Repeat times and keeps the run with the
// median value, so that one stall of a shared machine does not become the
// number. Any failed run fails the cell.
func runCellMedian(ctx context.Context, opts Options, e engine, name string, s Suite, c Curve, metric string, cert certFiles, wwwDir string, serverCPUs, clientCPUs []int) (Row, error) {
	var rows []Row
	for range opts.Repeat {
		row, err := runCell(ctx, opts, e, name, s, c, metric, cert, wwwDir, serverCPUs, clientCPUs)
		if err != nil {
			return Row{}, err
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.Value, b.Value) })
	return rows[len(rows)/2], nil
}

// runCell starts the engine's server for one cell, runs the common client
// against it and turns counts and server CPU time into a row.
func runCell(ctx context.Context, opts Options, e engine, name string, s Suite, c Curve, metric string, cert certFiles, wwwDir string, serverCPUs, clientCPUs []int) (Row, error) {
	spec := serverSpec{suite: s, curve: c, cert: cert, bulk: bulkSink, size: opts.Size, cpus: serverCPUs,
		timeout: opts.Timeout, probeCfg: probeConfig(cert, s, c), wwwDir: wwwDir}
	if metric == MetricBulkDownload {
		spec.bulk = bulkSource
	}
	if name == EngineBSSL && metric == MetricHandshakeResumed && s.Version == tls.VersionTLS13 {
		// bssl-tool server sends its TLS 1.3 session tickets only together
		// with application data; with stdin from /dev/zero it writes a
		// 512-byte record or two per connection, and the tickets go with it.
		spec.bulk = bulkSource
	}
	if spec.probeCfg == nil {
		return Row{}, errors.New("probe config: cannot read certificate")
	}
	srv, err := e.start(ctx, spec)
	if err != nil {
		return Row{}, err
	}
	defer srv.stop()
	cpu0, cpuErr := srv.cpu()
	var env []string
	if s.Version == tls.VersionTLS13 && s.AEAD == AEADChaCha {
		// crypto/tls offers ChaCha20 first, and servers then pick it, only
		// when the client has no AES hardware; this hides it from the client.
		env = append(env, "GODEBUG=cpu.aes=off")
	}
	conns := opts.Conns
	if (name == EngineOpenSSL || name == EngineBSSL) && (metric == MetricBulkUpload || metric == MetricBulkDownload) {
		// s_server and bssl-tool server serve one connection at a time: a
		// second bulk connection would wait out the whole cell in the backlog.
		conns = 1
	}
	var res clientResult
	err = runChildJSON(ctx, opts.Self, clientCPUs, env, opts.Duration+3*opts.Timeout+10*time.Second, &res,
		"-mode", "client", "-addr", srv.addr, "-ca", cert.Cert, "-suite", s.Name, "-curve", c.Name, "-metric", metric,
		"-duration", opts.Duration.String(), "-conns", strconv.Itoa(conns), "-size", strconv.Itoa(opts.Size),
		"-timeout", opts.Timeout.String())
	cpu1, cpuErr1 := srv.cpu()
	if exit := srv.exitError(); exit != nil {
		return Row{}, exit
	}
	if err != nil {
		return Row{}, err
	}
	if res.Error != "" {
		return Row{}, errors.New(res.Error)
	}
	row := Row{Engine: name, Suite: s.Name, TLSVersion: s.TLSVersion(), Curve: c.Name, Cert: s.Cert, Metric: metric}
	if cpuErr == nil && cpuErr1 == nil {
		v := cpu1 - cpu0
		row.ServerCPU = &v
	}
	if res.Seconds <= 0 {
		return Row{}, errors.New("client measured no time")
	}
	switch metric {
	case MetricHandshakeFull, MetricHandshakeResumed:
		if res.Handshakes == 0 {
			return Row{}, errors.New("no handshake completed")
		}
		row.Value, row.Unit, row.Count = float64(res.Handshakes)/res.Seconds, "handshakes/s", res.Handshakes
	default:
		if res.Bytes == 0 {
			return Row{}, errors.New("no byte moved")
		}
		row.Value, row.Unit, row.Count = float64(res.Bytes)/res.Seconds/1e6, "MB/s", res.Bytes
	}
	return row, nil
}
