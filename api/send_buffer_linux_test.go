//go:build linux

package api_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/sockettest"
)

// Each WebSocket a node takes over has the SO_SNDBUF it was configured
// with (the kernel reports twice it), plain or under TLS, where the
// socket sits under the *tls.Conn and the address's counted Conn: left
// to autotuning, a socket whose client reads nothing grows to
// net.ipv4.tcp_wmem's maximum, outside every bound of the node's.
func TestTakenOverSocketsHaveTheConfiguredSendBuffer(t *testing.T) {
	const sendBuffer = 96 << 10
	for _, tc := range plainAndTLS(t) {
		t.Run(tc.name, func(t *testing.T) {
			conns := connLimiter(t, limits.ConnConfig{MaxOpen: 10})
			nc := heraldnode.Config{NodeID: "test-node", Tokens: hsVerifier(t),
				API: api.Config{TLS: tc.server, Conns: conns}}
			nc.Transport.SendBufferBytes = sendBuffer
			n := nodetest.Start(t, nodetest.Options{Node: nc})
			scheme := "ws://"
			if tc.server != nil {
				scheme = "wss://"
			}
			c := mustConnect(t, scheme+n.Addr+"/ws?token="+hsToken(t, "u", everything), dialer{tls: tc.client})
			defer c.conn.Close()
			// The welcome came: the socket was taken over before it.
			fd := sockettest.Accepted(t, c.conn.RemoteAddr(), c.conn.LocalAddr())
			if got := sockettest.SendBuffer(t, fd); got != 2*sendBuffer {
				t.Fatalf("the node's socket has SO_SNDBUF %d, want %d (twice %d)", got, 2*sendBuffer, sendBuffer)
			}
		})
	}
}

// An SSE stream's socket, taken over as a WebSocket's is, has it too.
func TestSSEStreamsHaveTheConfiguredSendBuffer(t *testing.T) {
	const sendBuffer = 96 << 10
	nc := heraldnode.Config{NodeID: "test-node"}
	nc.Transport.SendBufferBytes = sendBuffer
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	var local, remote net.Addr
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		local, remote = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
	}}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.Base+"/sse?topic=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	s.subscribed(t) // the stream was taken over before its first event
	fd := sockettest.Accepted(t, remote, local)
	if got := sockettest.SendBuffer(t, fd); got != 2*sendBuffer {
		t.Fatalf("the node's stream socket has SO_SNDBUF %d, want %d (twice %d)", got, 2*sendBuffer, sendBuffer)
	}
}
