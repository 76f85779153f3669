package redistest

import (
	"os"
	"syscall"
)

// sysProcAttr puts a server in its own process group, so killProcess also
// ends a child it forked (a replication or save child), and has the kernel
// kill it if the test binary dies first (a timeout panic runs no cleanup):
// leftover servers would hold ports that later runs pick.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killProcess(p *os.Process) {
	if syscall.Kill(-p.Pid, syscall.SIGKILL) != nil {
		_ = p.Kill()
	}
}

// stopProcess stops (SIGSTOP) or resumes (SIGCONT) the server and any
// child it forked.
func stopProcess(p *os.Process, stop bool) error {
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	return syscall.Kill(-p.Pid, sig)
}
