package tlsbench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. Linux
// has fixed it at 100 on every architecture Go supports.
const clockTicks = 100

// parseProcStat returns utime+stime in seconds from the contents of
// /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("parse /proc stat: no command field")
	}
	f := bytes.Fields(b[i+1:])
	// After the command: state(3) ... utime(14) stime(15); f[0] is field 3.
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command, want at least 13", len(f))
	}
	ut, err := strconv.ParseUint(string(f[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc stat utime: %w", err)
	}
	st, err := strconv.ParseUint(string(f[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc stat stime: %w", err)
	}
	return float64(ut+st) / clockTicks, nil
}
