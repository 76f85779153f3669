//go:build linux

package api_test

import (
	"net"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/sockettest"
)

// listingSendBuffer is the SO_SNDBUF the listing tests give the node's end
// of their connections: the size a node gives its WebSockets
// (transport.DefaultSendBufferBytes), far less than the answer.
const listingSendBuffer = 256 << 10

// holdLittleOfTheListing sets the node's end of conn to listingSendBuffer,
// so that the node blocks writing the listing to a reader that takes none
// of it whatever the host's TCP settings: left to the kernel, the buffer
// starts at net.ipv4.tcp_wmem's default and grows, and a host whose
// default is 8 MB took the whole answer without blocking.
func holdLittleOfTheListing(t *testing.T, conn net.Conn) {
	t.Helper()
	fd := sockettest.AcceptedWithin(t, conn.RemoteAddr(), conn.LocalAddr(), 5*time.Second)
	sockettest.SetSendBuffer(t, fd, listingSendBuffer)
}
