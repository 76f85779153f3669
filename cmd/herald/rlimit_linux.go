//go:build linux

package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// raiseOpenFileLimit raises the soft RLIMIT_NOFILE to the hard limit, so
// that every WebSocket the kernel allows can be held, and returns the soft
// limit before and after and the hard limit.
func raiseOpenFileLimit() (before, after, hard uint64, err error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	before, hard = lim.Cur, lim.Max
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return before, before, hard, fmt.Errorf("setrlimit: %w", err)
		}
	}
	return before, lim.Cur, hard, nil
}

// openFileCount is how many descriptors the process has open.
func openFileCount() (int, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("count open files: %w", err)
	}
	return len(fds) - 1, nil // less the one ReadDir itself had open
}
