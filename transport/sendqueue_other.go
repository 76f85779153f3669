//go:build !linux

package transport

import "net"

// connSendQueueEmpty cannot ask the kernel off Linux: a socket whose
// closing handshake is complete is closed at once.
func connSendQueueEmpty(net.Conn) bool { return true }

// connSocketReset cannot ask the kernel off Linux: a closing connection
// whose reader stopped ends at its close deadline.
func connSocketReset(net.Conn) bool { return false }
