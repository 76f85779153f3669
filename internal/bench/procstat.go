package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux this runs on.
const clockTicks = 100

// ProcRSS returns a process's resident set in KiB, from /proc/PID/status.
func ProcRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("herald/bench: rss of %d: %w", pid, err)
	}
	i := bytes.Index(b, []byte("VmRSS:"))
	if i < 0 {
		return 0, fmt.Errorf("herald/bench: rss of %d: no VmRSS", pid)
	}
	kib, ok := parseInt(bytes.TrimLeft(b[i+len("VmRSS:"):], " \t"))
	if !ok {
		return 0, fmt.Errorf("herald/bench: rss of %d: unreadable VmRSS", pid)
	}
	return kib, nil
}

// ProcCPU returns a process's user plus system CPU seconds, from
// /proc/PID/stat (fields 14 and 15, counted after the command name).
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("herald/bench: cpu of %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("herald/bench: /proc stat: no command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("herald/bench: /proc stat: %d fields", len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("herald/bench: /proc stat: unreadable times")
	}
	return float64(utime+stime) / clockTicks, nil
}
