//go:build !linux

package tlsbench

import "errors"

func processCPU(int) (float64, error) {
	return 0, errors.New("server cpu time: only measured on linux")
}

func setAffinity(int, []int) error { return nil }

const cpuTimeSupported = false
