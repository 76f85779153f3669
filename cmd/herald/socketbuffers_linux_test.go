//go:build linux

package main

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-broker/herald/internal/sockettest"
	"github.com/herald-broker/herald/transport"
)

// A node sets HERALD_SOCKET_SEND_BUFFER_BYTES (by default 256 KiB) on the
// sockets of its WebSockets, which the kernel caps at net.core.wmem_max
// and reports doubled: a value past the cap gives the cap; 0 leaves them
// to the kernel's autotuning.
func TestWebSocketsGetTheSocketSendBuffer(t *testing.T) {
	def := sockettest.ReportedSendBuffer(t, transport.DefaultSendBufferBytes)
	past := sockettest.ReportedSendBuffer(t, math.MaxInt/4) // twice the cap
	for _, tc := range []struct {
		name string
		env  map[string]string
		want func(got int) bool
	}{
		{"default", nil, func(got int) bool { return got == def }},
		{"set", map[string]string{"HERALD_SOCKET_SEND_BUFFER_BYTES": "65536"}, func(got int) bool {
			return got == sockettest.ReportedSendBuffer(t, 65536)
		}},
		{"past the kernel's cap", map[string]string{"HERALD_SOCKET_SEND_BUFFER_BYTES": strconv.Itoa(past)}, func(got int) bool {
			return got == sockettest.ReportedSendBuffer(t, past)
		}},
		{"autotuned", map[string]string{"HERALD_SOCKET_SEND_BUFFER_BYTES": "0"}, func(got int) bool {
			return got != def && got != sockettest.ReportedSendBuffer(t, 65536)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sockettest.SendBuffer(t, welcomedSocket(t, tc.env))
			if !tc.want(got) {
				t.Fatalf("the node's WebSocket has SO_SNDBUF %d", got)
			}
			t.Logf("SO_SNDBUF %d", got)
		})
	}
}

// A node sets HERALD_SOCKET_RECEIVE_BUFFER_BYTES (by default 128 KiB) on
// the sockets of its WebSockets beside the send buffer, capped at
// net.core.rmem_max and reported doubled; 0 leaves them to the kernel's
// autotuning, which starts at net.ipv4.tcp_rmem's middle value.
func TestWebSocketsGetTheSocketReceiveBuffer(t *testing.T) {
	def := sockettest.ReportedReceiveBuffer(t, transport.DefaultReceiveBufferBytes)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want func(got int) bool
	}{
		{"default", nil, func(got int) bool { return got == def }},
		{"set", map[string]string{"HERALD_SOCKET_RECEIVE_BUFFER_BYTES": "40000"}, func(got int) bool {
			return got == sockettest.ReportedReceiveBuffer(t, 40000)
		}},
		{"autotuned", map[string]string{"HERALD_SOCKET_RECEIVE_BUFFER_BYTES": "0"}, func(got int) bool {
			return got != def && got != sockettest.ReportedReceiveBuffer(t, 40000)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sockettest.ReceiveBuffer(t, welcomedSocket(t, tc.env))
			if !tc.want(got) {
				t.Fatalf("the node's WebSocket has SO_RCVBUF %d", got)
			}
			t.Logf("SO_RCVBUF %d", got)
		})
	}
}

// welcomedSocket starts the binary with env beside a node id, opens a
// WebSocket to it and returns the node's side of that socket.
func welcomedSocket(t *testing.T, env map[string]string) int {
	t.Helper()
	all := map[string]string{"HERALD_NODE_ID": "bin-test"}
	for k, v := range env {
		all[k] = v
	}
	base, _, _ := startNode(t, all)
	conn := dialWelcomed(t, strings.TrimPrefix(base, "http://"))
	return sockettest.Accepted(t, conn.RemoteAddr(), conn.LocalAddr())
}
