package hwprobe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxCPUs bounds a parsed CPU list so that "0-4294967295" in a garbage file
// cannot make us allocate gigabytes; Linux's NR_CPUS tops out at 8192.
const maxCPUs = 1 << 14

// parseCPUList parses the kernel's list format ("0-3,8,10-11", used by
// cpulist, online and friends) into sorted, distinct CPU numbers.
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []int{}, nil
	}
	seen := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list: bad number %q", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpu list: bad range %q", part)
			}
		}
		if b >= maxCPUs {
			return nil, fmt.Errorf("cpu list: cpu %d out of range", b)
		}
		for c := a; c <= b; c++ {
			seen[c] = true
		}
	}
	out := make([]int, 0, len(seen))
	for c := range maxCPUs {
		if len(out) == len(seen) {
			break
		}
		if seen[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// cpuInfo is what /proc/cpuinfo tells us.
type cpuInfo struct {
	arch       string
	vendor     string
	model      string
	flags      map[string]bool // x86 "flags" or arm64 "Features" of the first CPU
	processors int
	// x86 topology fallback: distinct "physical id" and (physical id, core id).
	packages map[string]bool
	cores    map[string]bool
	// arm64 identity.
	implementer, part string
}

var errNoCPUInfo = errors.New("no processor entries")

// parseCPUInfo reads the x86 and arm64 shapes of /proc/cpuinfo. The arch is
// taken from the shape (x86 has "flags", arm64 has "Features" and "CPU
// implementer") rather than from runtime.GOARCH so that a captured tree of
// another machine is read as that machine.
func parseCPUInfo(b []byte) (cpuInfo, error) {
	ci := cpuInfo{flags: map[string]bool{}, packages: map[string]bool{}, cores: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), maxFileSize)
	first := true // flags are taken from the first CPU that lists them
	physID := ""
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		switch key {
		case "processor":
			ci.processors++
			physID = ""
		case "vendor_id":
			setOnce(&ci.vendor, val)
		case "model name":
			setOnce(&ci.model, val)
		case "physical id":
			physID = val
			ci.packages[val] = true
		case "core id":
			ci.cores[physID+"/"+val] = true
		case "flags":
			ci.arch = "x86_64"
			if first {
				addWords(ci.flags, val)
				first = false
			}
		case "Features":
			if ci.arch == "" {
				ci.arch = "arm64"
			}
			if first {
				addWords(ci.flags, val)
				first = false
			}
		case "CPU implementer":
			ci.arch = "arm64"
			setOnce(&ci.implementer, val)
		case "CPU part":
			setOnce(&ci.part, val)
		}
	}
	if err := sc.Err(); err != nil {
		return ci, fmt.Errorf("cpuinfo: %w", err)
	}
	if ci.processors == 0 {
		return ci, errNoCPUInfo
	}
	return ci, nil
}

func setOnce(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func addWords(set map[string]bool, s string) {
	for w := range strings.FieldsSeq(s) {
		set[w] = true
	}
}

// mount is one line of /proc/mounts.
type mount struct {
	source, path, fstype, options string
}

// parseMounts reads /proc/mounts (fstab format, octal escapes for blanks).
// Lines with fewer than four fields are skipped and counted as bad.
func parseMounts(b []byte) (mounts []mount, bad int) {
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 4 {
			bad++
			continue
		}
		mounts = append(mounts, mount{source: unescapeMount(f[0]), path: unescapeMount(f[1]), fstype: f[2], options: f[3]})
	}
	return mounts, bad
}

// unescapeMount undoes the kernel's \ooo escaping of space, tab, newline and
// backslash in mount paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] <= '3' && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			sb.WriteByte(v)
			i += 3
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// mountOption returns the value of key=value in a comma-separated option
// string.
func mountOption(opts, key string) (string, bool) {
	for o := range strings.SplitSeq(opts, ",") {
		if k, v, ok := strings.Cut(o, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// parseModules reads /proc/modules ("name size refs deps state addr") into
// the set of module names; malformed lines are counted, not fatal.
func parseModules(b []byte) (mods map[string]bool, bad int) {
	mods = map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			bad++
			continue
		}
		if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
			bad++
			continue
		}
		mods[f[0]] = true
	}
	return mods, bad
}

// parseMeminfo reads "Key:   value [kB]" lines into a map of values in the
// file's units (kB for sizes, plain counts for HugePages_*).
func parseMeminfo(b []byte) map[string]int64 {
	m := map[string]int64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 {
			continue
		}
		m[strings.TrimSpace(key)] = v
	}
	return m
}

// parseHugepageDir reads the size out of a "hugepages-2048kB" directory name.
func parseHugepageDir(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "hugepages-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "kB")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}

// isPCIAddr reports whether s looks like a PCI function address
// "dddd:bb:dd.f" (domain may be longer on some hosts).
func isPCIAddr(s string) bool {
	dom, rest, ok := strings.Cut(s, ":")
	if !ok || len(dom) < 4 || !isHex(dom) {
		return false
	}
	bus, rest, ok := strings.Cut(rest, ":")
	if !ok || len(bus) != 2 || !isHex(bus) {
		return false
	}
	dev, fn, ok := strings.Cut(rest, ".")
	return ok && len(dev) == 2 && isHex(dev) && len(fn) == 1 && fn[0] >= '0' && fn[0] <= '7'
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// parseHexID parses a sysfs id such as "0x8086" and returns it normalised to
// four lower-case hex digits.
func parseHexID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) == 0 || len(h) > 6 || !isHex(h) {
		return "", false
	}
	v, _ := strconv.ParseUint(h, 16, 32)
	if len(h) <= 4 {
		return fmt.Sprintf("0x%04x", v), true
	}
	return fmt.Sprintf("0x%06x", v), true
}
