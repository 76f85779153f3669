//go:build linux

// Package sockettest finds, among the test process's own descriptors, the
// socket a server in that process accepted, so that a test can read its
// options and its send queue as the kernel has them.
package sockettest

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Accepted returns the descriptor of this process's socket bound to local
// whose peer is peer: the server's end of a client connection from peer to
// local. The test fails when there is none.
func Accepted(t testing.TB, local, peer net.Addr) int {
	t.Helper()
	fd, err := accepted(local, peer)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// AcceptedWithin is Accepted for a connection the server may not have
// accepted yet: it looks again until within has passed.
func AcceptedWithin(t testing.TB, local, peer net.Addr, within time.Duration) int {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(5 * time.Millisecond) {
		fd, err := accepted(local, peer)
		if err == nil {
			return fd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v (after %v)", err, within)
		}
	}
}

func accepted(local, peer net.Addr) (int, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, err
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil || !sameAddr(sa, local) {
			continue
		}
		if pa, err := unix.Getpeername(fd); err == nil && sameAddr(pa, peer) {
			return fd, nil
		}
	}
	return -1, fmt.Errorf("no socket of this process from %v to %v", peer, local)
}

// SendBuffer is fd's SO_SNDBUF as the kernel reports it (twice what was
// set, for its overhead).
func SendBuffer(t testing.TB, fd int) int {
	t.Helper()
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		t.Fatalf("getsockopt SO_SNDBUF: %v", err)
	}
	return n
}

// Unsent is how many bytes fd's send queue holds: written by its owner
// and not yet acknowledged by the peer, which the kernel keeps.
func Unsent(t testing.TB, fd int) int {
	t.Helper()
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		t.Fatalf("ioctl SIOCOUTQ: %v", err)
	}
	return n
}

// Unread is how many bytes fd's receive queue holds: come from the peer
// and not yet read by its owner.
func Unread(t testing.TB, fd int) int {
	t.Helper()
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		t.Fatalf("ioctl SIOCINQ: %v", err)
	}
	return n
}

// ReceiveBuffer is fd's SO_RCVBUF as the kernel reports it (twice what
// was set, for its overhead, or what autotuning made of it).
func ReceiveBuffer(t testing.TB, fd int) int {
	t.Helper()
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		t.Fatalf("getsockopt SO_RCVBUF: %v", err)
	}
	return n
}

// ReportedSendBuffer is the SO_SNDBUF the kernel reports for a socket set
// to n: n capped at net.core.wmem_max (212992 by the kernel's own
// default, less than transport.DefaultSendBufferBytes), then doubled for
// its overhead.
func ReportedSendBuffer(t testing.TB, n int) int {
	t.Helper()
	return 2 * min(n, sysctl(t, "/proc/sys/net/core/wmem_max"))
}

// ReportedReceiveBuffer is the SO_RCVBUF the kernel reports for a socket
// set to n: n capped at net.core.rmem_max (212992 by the kernel's own
// default), then doubled for its overhead.
func ReportedReceiveBuffer(t testing.TB, n int) int {
	t.Helper()
	return 2 * min(n, sysctl(t, "/proc/sys/net/core/rmem_max"))
}

// sysctl is the number in the kernel setting at path.
func sysctl(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return n
}

func sameAddr(sa unix.Sockaddr, a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	in4, ok4 := sa.(*unix.SockaddrInet4)
	return ok && ok4 && in4.Port == tcp.Port && net.IP(in4.Addr[:]).Equal(tcp.IP)
}
