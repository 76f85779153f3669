//go:build linux

package main

import (
	"strings"
	"testing"

	"github.com/herald-broker/herald/internal/sockettest"
	"github.com/herald-broker/herald/transport"
)

// A node sets HERALD_SOCKET_SEND_BUFFER_BYTES (by default 256 KiB) on the
// sockets of its WebSockets, which the kernel reports doubled; 0 leaves
// them to the kernel's autotuning.
func TestWebSocketsGetTheSocketSendBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want func(got int) bool
	}{
		{"default", nil, func(got int) bool { return got == 2*transport.DefaultSendBufferBytes }},
		{"set", map[string]string{"HERALD_SOCKET_SEND_BUFFER_BYTES": "65536"}, func(got int) bool { return got == 2*65536 }},
		{"autotuned", map[string]string{"HERALD_SOCKET_SEND_BUFFER_BYTES": "0"}, func(got int) bool {
			return got != 2*transport.DefaultSendBufferBytes && got != 2*65536
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"HERALD_NODE_ID": "bin-test"}
			for k, v := range tc.env {
				env[k] = v
			}
			base, _, _ := startNode(t, env)
			conn := dialWelcomed(t, strings.TrimPrefix(base, "http://"))
			got := sockettest.SendBuffer(t, sockettest.Accepted(t, conn.RemoteAddr(), conn.LocalAddr()))
			if !tc.want(got) {
				t.Fatalf("the node's WebSocket has SO_SNDBUF %d", got)
			}
			t.Logf("SO_SNDBUF %d", got)
		})
	}
}
