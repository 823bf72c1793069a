package hwprobe

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Every parser has a fuzz target; the seeds in testdata/fuzz/<name>/ run as
// plain tests. The properties: no panic, and results within their bounds.

func FuzzParseCPUInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ci, err := parseCPUInfo(data)
		if err == nil && ci.processors == 0 {
			t.Error("no error but no processors")
		}
		if ci.arch != "" && ci.arch != "x86_64" && ci.arch != "arm64" {
			t.Errorf("arch %q", ci.arch)
		}
	})
}

func FuzzParseCPUList(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := parseCPUList(s)
		if err != nil {
			return
		}
		for i, c := range cpus {
			if c < 0 || c >= maxCPUs || i > 0 && c <= cpus[i-1] {
				t.Fatalf("parseCPUList(%q) = %v: not sorted, distinct and in range", s, cpus)
			}
		}
	})
}

func FuzzParseMounts(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		mounts, bad := parseMounts(data)
		if bad < 0 {
			t.Fatal("negative bad count")
		}
		for _, m := range mounts {
			if m.fstype == "" || m.path == "" {
				t.Fatalf("empty field in %+v", m)
			}
			_, _ = mountOption(m.options, "pagesize")
		}
	})
}

func FuzzParseModules(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		mods, bad := parseModules(data)
		if bad < 0 || mods == nil {
			t.Fatal("bad result")
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for k, v := range parseMeminfo(data) {
			if v < 0 {
				t.Fatalf("%s = %d", k, v)
			}
		}
	})
}

// FuzzProbe writes data over one file of the dpdk-host fixture (which one is
// chosen by which) and probes: whatever the content, the probe succeeds and
// its report encodes.
func FuzzProbe(f *testing.F) {
	targets := []string{
		"proc/cpuinfo", "proc/meminfo", "proc/1234/mounts", "proc/modules", "proc/cmdline",
		"sys/devices/system/cpu/online", "sys/devices/system/node/node0/cpulist",
		"sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
		"sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0/class",
		"sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0/numa_node",
		"sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0/net/eno1/speed",
	}
	root := filepath.Join(f.TempDir(), "host")
	copyTree(f, hostRoot("dpdk-host"), root)
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		p := filepath.Join(root, targets[int(which)%len(targets)])
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(p, orig, 0o644); err != nil {
				t.Fatal(err)
			}
		}()
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Probe(context.Background(), Options{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}
