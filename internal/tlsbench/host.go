package tlsbench

import (
	"bufio"
	"crypto/tls"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Host describes the machine the numbers belong to.
type Host struct {
	CPUModel   string   `json:"cpu_model"`
	CPUFlags   []string `json:"cpu_flags"` // the crypto-relevant ones only
	NumCPU     int      `json:"num_cpu"`
	ServerCPU  int      `json:"server_cpu"`
	ClientCPUs []int    `json:"client_cpus"`
	GoVersion  string   `json:"go_version"`
	OS         string   `json:"os"`
	Arch       string   `json:"arch"`
	CPUTime    bool     `json:"server_cpu_time"` // whether server CPU seconds are measured here
}

// cryptoFlags are the /proc/cpuinfo flags that decide which assembly paths
// the engines take.
func cryptoFlags() []string {
	return []string{"aes", "pclmulqdq", "avx", "avx2", "avx512f", "avx512vl", "vaes", "vpclmulqdq", "sha_ni", "adx", "bmi2", "asimd", "pmull", "sha2"}
}

func hostInfo(serverCPU int, clientCPUs []int) Host {
	h := Host{NumCPU: runtime.NumCPU(), ServerCPU: serverCPU, ClientCPUs: clientCPUs, GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUTime: cpuTimeSupported, CPUFlags: []string{}}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return h
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			if h.CPUModel == "" {
				h.CPUModel = v
			}
		case "flags", "Features":
			if len(h.CPUFlags) == 0 {
				have := strings.Fields(v)
				for _, fl := range cryptoFlags() {
					if slices.Contains(have, fl) {
						h.CPUFlags = append(h.CPUFlags, fl)
					}
				}
			}
		}
	}
	return h
}

// probeConfig is the parent's own client for readiness checks; it accepts
// whatever the server picks within the cell's version and curve.
func probeConfig(cert certFiles, s Suite, c Curve) *tls.Config {
	cfg, err := clientConfig(cert.Cert, s, c)
	if err != nil {
		return nil
	}
	return cfg
}
