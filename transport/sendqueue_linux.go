//go:build linux

package transport

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueueEmpty reports whether the kernel holds none of what was written
// to socket fd unsent or unacknowledged (SIOCOUTQ): all of it reached the
// client. Closing a socket any earlier risks a reset that throws away the
// rest, as any byte the client sends after the close makes the kernel
// reset the connection. A socket it cannot ask counts as empty, and so
// does one its client reset: nothing more of it will arrive, and the
// kernel still counts what was unacknowledged at the reset.
func sendQueueEmpty(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	return err != nil || n == 0 || socketReset(fd)
}

// tcpClose is TCP_CLOSE (include/net/tcp_states.h), the state a reset
// leaves a connection in.
const tcpClose = 7

// socketReset reports whether the connection of socket fd is closed for
// good (reset). A socket whose input is read no more (closingReadBytes)
// does not learn so from a read.
func socketReset(fd int) bool {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	return err == nil && info.State == tcpClose
}

// connSendQueueEmpty is sendQueueEmpty for nc, through TLS.
func connSendQueueEmpty(nc net.Conn) bool { return askSocket(nc, sendQueueEmpty, true) }

// connSocketReset is socketReset for nc, through TLS.
func connSocketReset(nc net.Conn) bool { return askSocket(nc, socketReset, false) }

// askSocket is ask of nc's socket, or unknown when it has none to ask.
func askSocket(nc net.Conn, ask func(fd int) bool, unknown bool) bool {
	if t, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = t.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return unknown
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return unknown
	}
	answer := unknown
	if raw.Control(func(fd uintptr) { answer = ask(int(fd)) }) != nil {
		return unknown
	}
	return answer
}
