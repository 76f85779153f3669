//go:build !linux

package redistest

import (
	"errors"
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killProcess(p *os.Process) { _ = p.Kill() }

func stopProcess(*os.Process, bool) error {
	return errors.New("pausing a process is only done on Linux here")
}
