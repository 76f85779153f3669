package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort asks the kernel to pick the source port at connect time, not at
// bind time (IP_BIND_ADDRESS_NO_PORT): a port is then unique per
// destination, not per source address, so many more connections fit.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var soErr error
	err := rc.Control(func(fd uintptr) {
		soErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return soErr
}
