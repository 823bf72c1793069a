//go:build linux

package tlsbench

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// processCPU returns the CPU seconds (user+system) a live process has used.
func processCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read server cpu time: %w", err)
	}
	return parseProcStat(b)
}

// setAffinity pins every thread that pid has now to cpus; used when taskset
// is missing. Threads the process starts later inherit the mask.
func setAffinity(pid int, cpus []int) error {
	var mask [16]uint64 // 1024 CPUs
	for _, c := range cpus {
		if c < 0 || c >= len(mask)*64 {
			return fmt.Errorf("set cpu affinity: cpu %d out of range", c)
		}
		mask[c/64] |= 1 << (c % 64)
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(pid), uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
	if e != 0 {
		return fmt.Errorf("set cpu affinity of pid %d: %w", pid, e)
	}
	return nil
}

const cpuTimeSupported = true
