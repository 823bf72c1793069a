package tlsbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// engine is one TLS implementation under test.
type engine interface {
	// check returns a version string, or an error wrapping errNotAvailable
	// with how to install the engine.
	check(ctx context.Context) (string, error)
	start(ctx context.Context, spec serverSpec) (*server, error)
	primitives(ctx context.Context, d time.Duration, cpus []int, need primNeeds) ([]primRow, error)
}

// primNeeds says which primitives the selected suites, curves and metrics
// use, so the external speed runs skip the rest.
type primNeeds struct {
	aeads, curves, certs []string
	sizes                []int
}

// goEngine is crypto/tls in a child process: this binary (go) or the
// GOEXPERIMENT=boringcrypto build (boringcrypto).
type goEngine struct {
	name       string
	child      Child
	wantBoring bool
	hint       string
	timeout    time.Duration
}

func (e *goEngine) check(ctx context.Context) (string, error) {
	if e.child.Path == "" {
		return "", fmt.Errorf("%w: %s", errNotAvailable, e.hint)
	}
	if _, err := os.Stat(e.child.Path); err != nil {
		return "", fmt.Errorf("%w: %s not found (%s)", errNotAvailable, e.child.Path, e.hint)
	}
	var info readyMsg
	if err := runChildJSON(ctx, e.child, nil, nil, e.timeout+10*time.Second, &info, "-mode", "info"); err != nil {
		return "", fmt.Errorf("%w: %s does not run as a tlsbench child: %v", errNotAvailable, e.child.Path, err)
	}
	if info.Boring != e.wantBoring {
		if e.wantBoring {
			return "", fmt.Errorf("%w: %s reports crypto/boring.Enabled() == false (build it with CGO_ENABLED=1 GOEXPERIMENT=boringcrypto)", errNotAvailable, e.child.Path)
		}
		return "", fmt.Errorf("%w: %s is a boringcrypto build; the go engine needs a plain one", errNotAvailable, e.child.Path)
	}
	v := info.GoVersion
	if info.Boring {
		v += " boring.Enabled=true"
	}
	return v, nil
}

func (e *goEngine) start(ctx context.Context, spec serverSpec) (*server, error) {
	s, err := startGoChild(ctx, e.name, e.child, spec)
	if err != nil {
		return nil, err
	}
	if s.ready.Boring != e.wantBoring {
		s.stop()
		return nil, fmt.Errorf("%s server reports crypto/boring.Enabled() == %v", e.name, s.ready.Boring)
	}
	if err := s.waitReady(ctx, spec); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (e *goEngine) primitives(ctx context.Context, d time.Duration, cpus []int, need primNeeds) ([]primRow, error) {
	args := []string{"-mode", "primitives", "-duration", d.String()}
	for _, a := range need.aeads {
		args = append(args, "-aead", a)
	}
	for _, s := range need.sizes {
		args = append(args, "-seal-size", strconv.Itoa(s))
	}
	for _, c := range need.curves {
		args = append(args, "-ecdhe", c)
	}
	for _, c := range need.certs {
		args = append(args, "-sign", c)
	}
	var res primitivesResult
	if err := runChildJSON(ctx, e.child, cpus, nil, 20*d+e.timeout+30*time.Second, &res, args...); err != nil {
		return nil, err
	}
	if res.Boring != e.wantBoring {
		return nil, fmt.Errorf("%s primitives ran with crypto/boring.Enabled() == %v", e.name, res.Boring)
	}
	if res.Error != "" {
		return res.Rows, fmt.Errorf("%s primitives: %s", e.name, res.Error)
	}
	return res.Rows, nil
}

// toolEngine is an external TLS server and speed tool: OpenSSL's s_server
// and speed, or BoringSSL's bssl-tool server and speed. Both serve one
// connection at a time; with stdin from /dev/zero they send it to the
// client in 16 KiB records, and what they read goes to stdout (discarded).
type toolEngine struct {
	name    string
	bins    []string // executable names looked up in PATH
	path    string
	hint    string
	timeout time.Duration
}

func (e *toolEngine) check(ctx context.Context) (string, error) {
	for _, b := range e.bins {
		if p, err := exec.LookPath(b); err == nil {
			e.path = p
			break
		}
	}
	if e.path == "" {
		return "", fmt.Errorf("%w: %s", errNotAvailable, e.hint)
	}
	if e.name == EngineOpenSSL {
		out, err := exec.CommandContext(ctx, e.path, "version").Output()
		if err != nil {
			return "", fmt.Errorf("%w: %s version: %v", errNotAvailable, e.path, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", "android-boringssl").Output()
	if err == nil && len(out) > 0 {
		return "BoringSSL (android-boringssl " + strings.TrimSpace(string(out)) + ")", nil
	}
	return "BoringSSL", nil
}

func (e *toolEngine) serverArgs(spec serverSpec, port string) []string {
	s := spec.suite
	if e.name == EngineOpenSSL {
		args := []string{"s_server", "-quiet", "-accept", "127.0.0.1:" + port, "-cert", spec.cert.Cert, "-key", spec.cert.Key,
			"-groups", spec.curve.Name}
		if s.Version == tls.VersionTLS13 {
			args = append(args, "-tls1_3", "-ciphersuites", s.OpenSSL)
		} else {
			args = append(args, "-tls1_2", "-cipher", s.OpenSSL)
		}
		if spec.bulk == bulkSource {
			// -WWW serves files from the working directory in 16 KiB
			// records; "zero" there is a link to /dev/zero, an endless file.
			args = append(args, "-WWW")
		}
		return args
	}
	v := "tls1.2"
	if s.Version == tls.VersionTLS13 {
		v = "tls1.3"
	}
	args := []string{"server", "-accept", port, "-loop", "-cert", spec.cert.Cert, "-key", spec.cert.Key,
		"-curves", spec.curve.Name, "-min-version", v, "-max-version", v}
	if s.Version != tls.VersionTLS13 {
		args = append(args, "-cipher", s.OpenSSL)
	}
	return args
}

func (e *toolEngine) start(ctx context.Context, spec serverSpec) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s server: pick a port: %w", e.name, err)
	}
	cmd, setAff := pinned(ctx, spec.cpus, e.path, e.serverArgs(spec, port)...)
	if e.name == EngineOpenSSL {
		cmd.Dir = spec.wwwDir
		spec.bulk = bulkSink // the data comes from -WWW, stdin stays a quiet pipe
	}
	s, err := startProcess(e.name, cmd, setAff, spec.cpus, spec, nil)
	if err != nil {
		return nil, err
	}
	s.addr = "127.0.0.1:" + port
	if err := s.waitReady(ctx, spec); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (e *toolEngine) primitives(ctx context.Context, d time.Duration, cpus []int, need primNeeds) ([]primRow, error) {
	secs := strconv.Itoa(max(1, int(math.Round(d.Seconds()))))
	var runs [][]string
	if e.name == EngineOpenSSL {
		evp := map[string]string{AEADAES128GCM: "aes-128-gcm", AEADAES256GCM: "aes-256-gcm", AEADChaCha: "chacha20-poly1305"}
		for _, a := range need.aeads {
			for _, size := range need.sizes {
				runs = append(runs, []string{"speed", "-mr", "-elapsed", "-seconds", secs, "-bytes", strconv.Itoa(size), "-evp", evp[a]})
			}
		}
		var algs []string
		for _, c := range need.curves {
			algs = append(algs, map[string]string{"X25519": "ecdhx25519", "P-256": "ecdhp256"}[c])
		}
		for _, c := range need.certs {
			algs = append(algs, map[string]string{CertECDSA: "ecdsap256", CertRSA: "rsa2048"}[c])
		}
		if len(algs) > 0 {
			runs = append(runs, append([]string{"speed", "-mr", "-elapsed", "-seconds", secs}, algs...))
		}
	} else {
		var chunks []string
		for _, s := range need.sizes {
			chunks = append(chunks, strconv.Itoa(s))
		}
		var filters []string
		if len(chunks) > 0 {
			filters = append(filters, need.aeads...)
		}
		for _, c := range need.curves {
			filters = append(filters, map[string]string{"X25519": "Curve25519", "P-256": "ECDH P-256"}[c])
		}
		for _, c := range need.certs {
			filters = append(filters, map[string]string{CertECDSA: "ECDSA P-256", CertRSA: "RSA 2048"}[c])
		}
		for _, f := range filters {
			args := []string{"speed", "-json", "-timeout", secs, "-filter", f}
			if len(chunks) > 0 {
				args = append(args, "-chunks", strings.Join(chunks, ","))
			}
			runs = append(runs, args)
		}
	}
	var rows []primRow
	for _, args := range runs {
		rctx, cancel := context.WithTimeout(ctx, 20*d+e.timeout+60*time.Second)
		cmd, setAff := pinned(rctx, cpus, e.path, args...)
		var stdout bytes.Buffer
		stderr := &tailBuffer{}
		cmd.Stdout, cmd.Stderr = &stdout, stderr
		err := cmd.Start()
		if err == nil {
			if setAff {
				_ = setAffinity(cmd.Process.Pid, cpus)
			}
			err = cmd.Wait()
		}
		cancel()
		if err != nil {
			return rows, fmt.Errorf("%s %s: %v: %s", e.path, strings.Join(args, " "), err, stderr.String())
		}
		var got []primRow
		if e.name == EngineOpenSSL {
			got, err = parseOpenSSLSpeed(stdout.Bytes())
		} else {
			got, err = parseBSSLSpeed(stdout.Bytes())
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

func newEngines(opts Options) map[string]engine {
	boringHint := "build mosnctl-boring (CGO_ENABLED=1 GOEXPERIMENT=boringcrypto go build -o mosnctl-boring .) beside mosnctl or pass --boring-binary"
	return map[string]engine{
		EngineGo:      &goEngine{name: EngineGo, child: opts.Self, hint: "the running binary cannot start itself", timeout: opts.Timeout},
		EngineBoring:  &goEngine{name: EngineBoring, child: opts.Boring, wantBoring: true, hint: boringHint, timeout: opts.Timeout},
		EngineBSSL:    &toolEngine{name: EngineBSSL, bins: []string{"bssl-tool", "bssl"}, hint: "apt-get install android-boringssl", timeout: opts.Timeout},
		EngineOpenSSL: &toolEngine{name: EngineOpenSSL, bins: []string{"openssl"}, hint: "apt-get install openssl", timeout: opts.Timeout},
	}
}

func needsFor(suites []Suite, curves []Curve, metrics []string) primNeeds {
	var n primNeeds
	for _, m := range metrics {
		switch m {
		case MetricSeal16K:
			n.sizes = append(n.sizes, 16384)
		case MetricSeal1350:
			n.sizes = append(n.sizes, 1350)
		case MetricECDHE:
			for _, c := range curves {
				n.curves = append(n.curves, c.Name)
			}
		case MetricSign:
			for _, s := range suites {
				if !slices.Contains(n.certs, s.Cert) {
					n.certs = append(n.certs, s.Cert)
				}
			}
		}
	}
	if len(n.sizes) > 0 {
		for _, s := range suites {
			if !slices.Contains(n.aeads, s.AEAD) {
				n.aeads = append(n.aeads, s.AEAD)
			}
		}
	}
	return n
}
