//go:build linux

package api_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/sockettest"
	"golang.org/x/sys/unix"
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
	if got := sockettest.SendBuffer(t, streamSocket(t, n.Base+"/sse?topic=t")); got != 2*sendBuffer {
		t.Fatalf("the node's stream socket has SO_SNDBUF %d, want %d (twice %d)", got, 2*sendBuffer, sendBuffer)
	}
}

// A socket that did not come through the node's own listener, the node's
// Handler served by another http.Server, is given the SO_SNDBUF as
// transport takes it over, WebSocket or SSE stream: only those the node
// accepted itself have it from accept, and are not set twice.
func TestSocketsFromAnotherServerHaveTheConfiguredSendBuffer(t *testing.T) {
	const sendBuffer = 96 << 10
	nc := heraldnode.Config{NodeID: "test-node", Tokens: hsVerifier(t)}
	nc.Transport.SendBufferBytes = sendBuffer
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	other := httptest.NewServer(n.API.Handler())
	t.Cleanup(other.Close)
	c := mustConnect(t, "ws://"+other.Listener.Addr().String()+"/ws?token="+hsToken(t, "u", everything), dialer{})
	defer c.conn.Close()
	// The welcome came: the socket was taken over before it.
	fd := sockettest.Accepted(t, c.conn.RemoteAddr(), c.conn.LocalAddr())
	if got := sockettest.SendBuffer(t, fd); got != 2*sendBuffer {
		t.Errorf("the WebSocket's socket has SO_SNDBUF %d, want %d (twice %d)", got, 2*sendBuffer, sendBuffer)
	}
	if got := sockettest.SendBuffer(t, streamSocket(t, other.URL+"/sse?topic=t&token="+hsToken(t, "u", everything))); got != 2*sendBuffer {
		t.Errorf("the stream's socket has SO_SNDBUF %d, want %d (twice %d)", got, 2*sendBuffer, sendBuffer)
	}
}

// streamSocket opens the SSE stream at url and returns the descriptor of
// the serving side's socket, once the stream was taken over; the stream
// is closed when the test ends.
func streamSocket(t *testing.T, url string) int {
	t.Helper()
	var local, remote net.Addr
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		local, remote = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
	}}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s.subscribed(t) // the stream was taken over before its first event
	return sockettest.Accepted(t, remote, local)
}

// A plain HTTP answer's socket has it too, set as the node accepts the
// connection: a client that asks for a listing larger than the sockets'
// buffers and reads none of it has the kernel hold about twice the
// setting of it. Left to autotuning, the node's socket grew to 3.9 MB,
// and held 427,223 bytes of this 471 KB answer until the write timeout.
func TestPlainAnswersHaveTheConfiguredSendBuffer(t *testing.T) {
	const sendBuffer = 96 << 10
	nc := heraldnode.Config{NodeID: "test-node",
		Broker: broker.Config{MaxSubscriptions: listingTopicsPerConn, RateLimit: -1},
		API:    api.Config{Conns: connLimiter(t, limits.ConnConfig{MaxOpen: 10})}} // accepted as cmd/herald's are
	nc.Transport.SendBufferBytes = sendBuffer
	tn := nodetest.Start(t, nodetest.Options{Node: nc})
	n := &node{srv: tn.API, base: tn.Base, addr: tn.Addr, wsURL: tn.WS, broker: tn.Broker}
	subscribeAll(t, n, listingTopicNames(2*listingTopicsPerConn)) // a listing of 470 KB
	stalled := dialTopics(t, n)
	if err := stalled.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	// Kept alive, so that the node's socket stays to be looked at when
	// its buffers take the whole answer.
	if _, err := io.WriteString(stalled, "GET /api/topics HTTP/1.1\r\nHost: herald\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	fd := sockettest.AcceptedWithin(t, stalled.RemoteAddr(), stalled.LocalAddr(), 5*time.Second)
	blocked := blockedWriting("api.(*Server).handleTopics", 10*time.Second)
	if got := sockettest.SendBuffer(t, fd); got != 2*sendBuffer {
		t.Errorf("the node's socket has SO_SNDBUF %d, want %d (twice %d)", got, 2*sendBuffer, sendBuffer)
	}
	// The kernel takes a write while its queue is under the buffer, so
	// it may end a write's segment over it (200,704 bytes seen here).
	held, most := sockettest.Unsent(t, fd), 2*sendBuffer+64<<10
	t.Logf("the kernel holds %d bytes of the answer", held)
	if held > most {
		t.Errorf("the kernel holds %d bytes of the answer, want %d at most", held, most)
	}
	if !blocked {
		t.Fatal("the node never blocked writing: its buffers took the whole answer")
	}
}

// A socket the node's own listener accepted keeps the SO_SNDBUF it was
// given then: the node marks the connection (transport.WithSocketBuffersSet)
// and the takeover does not set it again. The test changes the node's
// socket's buffer between a first request, once the listener has set
// it, and the upgrade: a takeover that set it again would put the
// configured value back.
func TestTakeoverKeepsTheSendBufferSetAtAccept(t *testing.T) {
	const sendBuffer, changed = 96 << 10, 48 << 10
	nc := heraldnode.Config{NodeID: "test-node", Tokens: hsVerifier(t)}
	nc.Transport.SendBufferBytes = sendBuffer
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	conn, err := net.DialTimeout("tcp", n.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	answer := func(request string, want int) {
		t.Helper()
		if _, err := io.WriteString(conn, request); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Fatalf("status %d, want %d", resp.StatusCode, want)
		}
		if want != http.StatusSwitchingProtocols {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	answer("GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n", http.StatusOK)
	fd := sockettest.Accepted(t, conn.RemoteAddr(), conn.LocalAddr())
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, changed); err != nil {
		t.Fatal(err)
	}
	answer("GET /ws?token="+hsToken(t, "u", everything)+" HTTP/1.1\r\nHost: herald\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusSwitchingProtocols)
	if _, err := ws.ReadFrame(br); err != nil { // the welcome: the socket was taken over before it
		t.Fatal(err)
	}
	fd = sockettest.Accepted(t, conn.RemoteAddr(), conn.LocalAddr()) // the epoll path keeps a duplicate
	if got := sockettest.SendBuffer(t, fd); got != 2*changed {
		t.Fatalf("the taken over socket has SO_SNDBUF %d, want %d (twice %d, set after accept): set again at takeover", got, 2*changed, changed)
	}
}
