package tlsbench

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     float64
		wantErr  bool
	}{
		{"plain", "1 (cat) R 1 1 1 0 -1 4194304 125 0 0 0 250 150 0 0 20 0 1 0", 4, false},
		{"spaces and parens in name", "7 (a b) (c)) S 1 1 1 0 -1 0 0 0 0 0 3 7 0 0 20 0 1 0", 0.1, false},
		{"no name", "1 cat R 1", 0, true},
		{"short", "1 (cat) R 1 1", 0, true},
		{"bad utime", "1 (cat) R 1 1 1 0 -1 0 0 0 0 0 x 7 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	real, err := os.ReadFile("testdata/proc-stat.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseProcStat(real); err != nil {
		t.Fatal(err)
	}
}

func TestParseOpenSSLSpeed(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]string // alg metric -> unit
	}{
		{"openssl-aead.txt", map[string]string{"AES-128-GCM seal_1350": "MB/s"}},
		{"openssl-pkey.txt", map[string]string{"X25519 ecdhe": "ops/s", "P-256 ecdhe": "ops/s", "ecdsa-p256 sign": "ops/s", "rsa-2048 sign": "ops/s"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata/speed", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			rows, err := parseOpenSSLSpeed(out)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, rows, tc.want)
		})
	}
	if rows, err := parseOpenSSLSpeed([]byte("+H:16384\n+F:25:AES-256-GCM:4000000000.00\n")); err != nil || len(rows) != 1 || rows[0].Value != 4000 {
		t.Fatalf("synthetic: %v %v", rows, err)
	}
	for _, bad := range []string{"+H:x\n", "+H:16\n+F:1:AES-128-GCM:1:2\n", "+F2:1:2048:nan:1\n", "+F:1:AES-128-GCM\n"} {
		if _, err := parseOpenSSLSpeed([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseBSSLSpeed(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]string
	}{
		{"bssl-aead.json", map[string]string{"AES-128-GCM seal_1350": "MB/s", "AES-128-GCM seal_16384": "MB/s"}},
		{"bssl-x25519.json", map[string]string{"X25519 ecdhe": "ops/s"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata/speed", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			rows, err := parseBSSLSpeed(out)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, rows, tc.want)
		})
	}
	if _, err := parseBSSLSpeed([]byte("no json")); err == nil {
		t.Error("no error for output without JSON")
	}
}

func checkRows(t *testing.T, rows []primRow, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, r := range rows {
		if r.Value <= 0 {
			t.Errorf("%s %s = %v", r.Alg, r.Metric, r.Value)
		}
		got[r.Alg+" "+r.Metric] = r.Unit
	}
	for k, u := range want {
		if got[k] != u {
			t.Errorf("%s: unit %q, want %q (rows %v)", k, got[k], u, rows)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rows %v, want exactly %v", got, want)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseProcStat(b)
		if err == nil && v < 0 {
			t.Fatalf("negative cpu time %v", v)
		}
	})
}

func FuzzParseOpenSSLSpeed(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := parseOpenSSLSpeed(b)
		if err != nil {
			return
		}
		for _, r := range rows {
			if !(r.Value > 0) || math.IsInf(r.Value, 0) {
				t.Fatalf("row %+v not a positive finite number", r)
			}
		}
	})
}

func FuzzParseBSSLSpeed(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := parseBSSLSpeed(b)
		if err != nil {
			return
		}
		for _, r := range rows {
			if !(r.Value > 0) || math.IsInf(r.Value, 0) {
				t.Fatalf("row %+v not a positive finite number", r)
			}
		}
	})
}

// The table layout is pinned by a golden file; -update rewrites it.
func TestWriteTableGolden(t *testing.T) {
	cpu := func(v float64) *float64 { return &v }
	rep := &Report{
		Host: Host{CPUModel: "Test CPU", NumCPU: 2, ServerCPU: 1, GoVersion: "go1.26.8", OS: "linux", Arch: "amd64"},
		Engines: []EngineStatus{
			{Name: EngineGo, Available: true, Version: "go1.26.8"},
			{Name: EngineBoring, Available: true, Version: "go1.26.8-X:boringcrypto boring.Enabled=true"},
			{Name: EngineBSSL, Available: true, Version: "BoringSSL"},
			{Name: EngineOpenSSL, Available: false, Note: "not available: apt-get install openssl"},
		},
		Results: []Row{
			{Engine: EngineGo, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", TLSVersion: "1.2", Curve: "X25519", Cert: CertECDSA, Metric: MetricHandshakeFull, Value: 1000, Unit: "handshakes/s", ServerCPU: cpu(0.5), Count: 1000},
			{Engine: EngineBoring, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", TLSVersion: "1.2", Curve: "X25519", Cert: CertECDSA, Metric: MetricHandshakeFull, Value: 910, Unit: "handshakes/s", ServerCPU: cpu(0.55), Count: 910},
			{Engine: EngineBSSL, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", TLSVersion: "1.2", Curve: "X25519", Cert: CertECDSA, Metric: MetricHandshakeFull, Value: 1080, Unit: "handshakes/s", ServerCPU: cpu(0.4), Count: 1080},
			{Engine: EngineGo, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", TLSVersion: "1.2", Curve: "X25519", Cert: CertECDSA, Metric: MetricBulkDownload, Value: 900, Unit: "MB/s", ServerCPU: cpu(0.9), Count: 900e6},
			{Engine: EngineBoring, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", TLSVersion: "1.2", Curve: "X25519", Cert: CertECDSA, Metric: MetricBulkDownload, Value: 1200, Unit: "MB/s", ServerCPU: cpu(0.8), Count: 1200e6},
			{Engine: EngineGo, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", TLSVersion: "1.2", Curve: "X25519", Cert: CertECDSA, Metric: MetricSeal16K, Value: 3500, Unit: "MB/s"},
			{Engine: EngineBSSL, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", TLSVersion: "1.2", Curve: "X25519", Cert: CertECDSA, Metric: MetricSeal16K, Value: 4100, Unit: "MB/s"},
		},
		Errors:  []CellError{{Engine: EngineBoring, Suite: "TLS_AES_128_GCM_SHA256", Curve: "X25519", Metric: MetricHandshakeFull, Error: "boringcrypto server exited (signal: killed)"}},
		Skipped: []CellError{{Engine: EngineBSSL, Suite: "ECDHE-ECDSA-AES256-GCM-SHA384", Curve: "X25519", Metric: MetricBulkDownload, Error: "bssl-tool server copies application data 512 bytes at a time"}},
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("table differs from %s (run with -update):\n%s", golden, buf.Bytes())
	}
}

func TestMedianPrimitives(t *testing.T) {
	runs := [][]primRow{
		{{Alg: "X25519", Metric: MetricECDHE, Value: 1}, {Alg: AEADChaCha, Metric: MetricSeal16K, Value: 30}},
		{{Alg: "X25519", Metric: MetricECDHE, Value: 9}, {Alg: AEADChaCha, Metric: MetricSeal16K, Value: 10}},
		{{Alg: "X25519", Metric: MetricECDHE, Value: 5}},
	}
	got := medianPrimitives(runs)
	if len(got) != 2 || got[0].Value != 5 || got[1].Value != 30 {
		t.Fatalf("got %+v, want X25519 5 and ChaCha 30 (upper median of two)", got)
	}
}
