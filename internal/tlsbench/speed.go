package tlsbench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// openSSLAEADs maps `openssl speed -evp` cipher names to the AEAD names the
// rows use.
func openSSLAEADs() map[string]string {
	return map[string]string{"AES-128-GCM": AEADAES128GCM, "AES-256-GCM": AEADAES256GCM, "ChaCha20-Poly1305": AEADChaCha}
}

// parseOpenSSLSpeed reads the machine-readable (-mr) output of `openssl
// speed`: "+H:size..." names the block sizes, "+F:n:cipher:bytes/s..." the
// cipher rates, "+F2:n:bits:sign/s:verify/s" RSA, "+F4:..." ECDSA and
// "+F5:n:bits:ops/s:s/op" ECDH (bits 253 is X25519). Unknown lines are
// skipped; a malformed line of a known kind is an error.
func parseOpenSSLSpeed(out []byte) ([]primRow, error) {
	var rows []primRow
	var sizes []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "+") {
			continue
		}
		f := strings.Split(line, ":")
		switch f[0] {
		case "+H":
			sizes = sizes[:0]
			for _, s := range f[1:] {
				n, err := strconv.Atoi(s)
				if err != nil || n <= 0 {
					return nil, fmt.Errorf("parse openssl speed: bad block size in %q", line)
				}
				sizes = append(sizes, n)
			}
		case "+F":
			if len(f) < 4 {
				return nil, fmt.Errorf("parse openssl speed: short line %q", line)
			}
			alg, ok := openSSLAEADs()[f[2]]
			if !ok {
				continue
			}
			for i, v := range f[3:] {
				if i >= len(sizes) {
					return nil, fmt.Errorf("parse openssl speed: %q has more rates than block sizes", line)
				}
				bps, err := parsePositive(v)
				if err != nil {
					return nil, fmt.Errorf("parse openssl speed %q: %w", line, err)
				}
				rows = append(rows, primRow{Alg: alg, Metric: fmt.Sprintf("seal_%d", sizes[i]), Value: bps / 1e6, Unit: "MB/s"})
			}
		case "+F2", "+F4", "+F5":
			if len(f) < 4 {
				return nil, fmt.Errorf("parse openssl speed: short line %q", line)
			}
			ops, err := parsePositive(f[3])
			if err != nil {
				return nil, fmt.Errorf("parse openssl speed %q: %w", line, err)
			}
			var alg, metric string
			switch {
			case f[0] == "+F2" && f[2] == "2048":
				alg, metric = CertRSA, MetricSign
			case f[0] == "+F4" && f[2] == "256":
				alg, metric = CertECDSA, MetricSign
			case f[0] == "+F5" && f[2] == "256":
				alg, metric = "P-256", MetricECDHE
			case f[0] == "+F5" && f[2] == "253":
				alg, metric = "X25519", MetricECDHE
			default:
				continue
			}
			rows = append(rows, primRow{Alg: alg, Metric: metric, Value: ops, Unit: "ops/s"})
		}
	}
	return rows, sc.Err()
}

func parsePositive(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if v <= 0 || v != v || v > 1e300 {
		return 0, fmt.Errorf("rate %q is not a positive number", s)
	}
	return v, nil
}

// bsslResult is one line of `bssl-tool speed -json`. Its help text says
// timeInMicroseconds; the tool writes microseconds. Both are read.
type bsslResult struct {
	Description  string  `json:"description"`
	NumCalls     float64 `json:"numCalls"`
	Microseconds float64 `json:"microseconds"`
	TimeInMicros float64 `json:"timeInMicroseconds"`
	BytesPerCall float64 `json:"bytesPerCall"`
}

var bsslSealRE = regexp.MustCompile(`^(AES-128-GCM|AES-256-GCM|ChaCha20-Poly1305) \((\d+) bytes\) seal$`)

// parseBSSLSpeed reads `bssl-tool speed -json` output (a JSON array). X25519
// ECDHE is reported by BoringSSL as two operations, base-point and arbitrary
// point multiplication; one ECDHE is one of each.
func parseBSSLSpeed(out []byte) ([]primRow, error) {
	start := bytes.IndexByte(out, '[')
	if start < 0 {
		return nil, fmt.Errorf("parse bssl speed: no JSON array in output")
	}
	var res []bsslResult
	if err := json.Unmarshal(out[start:], &res); err != nil {
		return nil, fmt.Errorf("parse bssl speed: %w", err)
	}
	var rows []primRow
	var x25519Base, x25519Arb float64
	for _, r := range res {
		us := r.Microseconds
		if us == 0 {
			us = r.TimeInMicros
		}
		if us <= 0 || r.NumCalls <= 0 || us != us || r.NumCalls != r.NumCalls {
			continue
		}
		perSec := r.NumCalls / us * 1e6
		if math.IsInf(perSec, 0) {
			continue
		}
		if m := bsslSealRE.FindStringSubmatch(r.Description); m != nil {
			size, _ := strconv.Atoi(m[2])
			if size <= 0 {
				continue
			}
			v := perSec * float64(size) / 1e6
			if math.IsInf(v, 0) {
				continue
			}
			rows = append(rows, primRow{Alg: m[1], Metric: fmt.Sprintf("seal_%d", size), Value: v, Unit: "MB/s"})
			continue
		}
		switch r.Description {
		case "ECDH P-256":
			rows = append(rows, primRow{Alg: "P-256", Metric: MetricECDHE, Value: perSec, Unit: "ops/s"})
		case "ECDSA P-256 signing":
			rows = append(rows, primRow{Alg: CertECDSA, Metric: MetricSign, Value: perSec, Unit: "ops/s"})
		case "RSA 2048 signing":
			rows = append(rows, primRow{Alg: CertRSA, Metric: MetricSign, Value: perSec, Unit: "ops/s"})
		case "Curve25519 base-point multiplication":
			x25519Base = perSec
		case "Curve25519 arbitrary point multiplication":
			x25519Arb = perSec
		}
	}
	if x25519Base > 0 && x25519Arb > 0 {
		rows = append(rows, primRow{Alg: "X25519", Metric: MetricECDHE, Value: 1 / (1/x25519Base + 1/x25519Arb), Unit: "ops/s"})
	}
	return rows, nil
}
