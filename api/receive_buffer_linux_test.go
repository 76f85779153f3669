//go:build linux

package api_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/sockettest"
)

// What a client sends and the node has not read waits in the kernel, at
// most about twice HERALD_SOCKET_RECEIVE_BUFFER_BYTES a socket: a
// WebSocket that publishes 60 KB messages faster than its read pace
// takes them, and a POST body pipelined behind an answer the client does
// not read. Each client writes until TCP holds it back, then the node's
// socket is read: SO_RCVBUF is twice the setting and its receive queue
// holds no more. Left to autotuning, the WebSocket's socket grew to
// 564,319 bytes, 544,908 of them unread, and the POST's to 1,482,016.
func TestFloodingClientsAreHeldWithinTheReceiveBuffer(t *testing.T) {
	const receiveBuffer = 48 << 10 // under the kernel's own starting 131,072
	want := sockettest.ReportedReceiveBuffer(t, receiveBuffer)
	start := func(t *testing.T, rate int) *node {
		nc := heraldnode.Config{NodeID: "test-node", Broker: broker.Config{MaxSubscriptions: listingTopicsPerConn, RateLimit: rate}}
		nc.Transport.ReceiveBufferBytes = receiveBuffer
		nc.Transport.SendBufferBytes = 96 << 10 // the listing's answer waits in the node
		tn := nodetest.Start(t, nodetest.Options{Node: nc})
		return &node{srv: tn.API, base: tn.Base, addr: tn.Addr, wsURL: tn.WS, broker: tn.Broker}
	}

	t.Run("WebSocket", func(t *testing.T) {
		n := start(t, 10) // paced at 20 commands a second
		c := mustConnect(t, n.wsURL, dialer{})
		publish := `{"type":"publish","topic":"flood","data":"` + strings.Repeat("a", 60_000) + `"}`
		frame := append(maskedHeader(len(publish)), publish...)
		fd := sockettest.Accepted(t, c.conn.RemoteAddr(), c.conn.LocalAddr())
		checkHeldWithin(t, fd, want, writeUntilHeld(t, c.conn, func(w io.Writer) error {
			_, err := w.Write(frame)
			return err
		}))
	})

	t.Run("request body", func(t *testing.T) {
		n := start(t, -1)
		subscribeAll(t, n, listingTopicNames(2*listingTopicsPerConn)) // a listing of 470 KB
		conn := dialTopics(t, n)
		if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
			t.Fatal(err)
		}
		body := strings.Repeat("a", 4<<20)
		req := fmt.Sprintf("GET /api/topics HTTP/1.1\r\nHost: herald\r\n\r\n"+
			"POST /api/batch HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		fd := sockettest.AcceptedWithin(t, conn.RemoteAddr(), conn.LocalAddr(), 5*time.Second)
		rest := req + body
		checkHeldWithin(t, fd, want, writeUntilHeld(t, conn, func(w io.Writer) error {
			if rest == "" {
				return io.EOF
			}
			n, err := io.WriteString(w, rest)
			rest = rest[n:]
			return err
		}))
	})
}

// writeUntilHeld calls write on conn until a write of it waits a second
// unfinished (TCP holds the client back), and reports whether one did
// within 30 s; write returns io.EOF when it has no more to send.
func writeUntilHeld(t *testing.T, conn net.Conn, write func(io.Writer) error) (held bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		err := write(conn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return true
		}
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	return false
}

// checkHeldWithin fails the test unless the client was held back and
// the node's socket fd has SO_RCVBUF want and at most that unread.
func checkHeldWithin(t *testing.T, fd, want int, held bool) {
	t.Helper()
	if !held {
		t.Fatal("the client was never held back: the node read all it sent")
	}
	got, unread := sockettest.ReceiveBuffer(t, fd), sockettest.Unread(t, fd)
	t.Logf("the node's socket has SO_RCVBUF %d, %d bytes unread", got, unread)
	if got != want {
		t.Errorf("the node's socket has SO_RCVBUF %d, want %d", got, want)
	}
	if unread > want {
		t.Errorf("the node's socket holds %d bytes unread, past its receive buffer %d", unread, want)
	}
}

// The node's listening socket has the receive buffer, so that a socket
// it accepts has it from the handshake on, when TCP fixes the window
// scale it offers (tcp(7)); set only after accept, an older kernel may
// keep the window the default buffer gave. Without it the listener has
// the kernel's default (131,072 here), not twice the setting.
func TestTheListenerHasTheReceiveBuffer(t *testing.T) {
	const receiveBuffer = 48 << 10 // under the kernel's own starting 131,072
	want := sockettest.ReportedReceiveBuffer(t, receiveBuffer)
	nc := heraldnode.Config{NodeID: "test-node"}
	nc.Transport.ReceiveBufferBytes = receiveBuffer
	tn := nodetest.Start(t, nodetest.Options{Node: nc})
	raw, err := tn.Listener.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Serve runs on its own goroutine: it has set the buffer once it
	// answers a request.
	resp, err := http.Get(tn.Base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var got int
	if err := raw.Control(func(fd uintptr) { got = sockettest.ReceiveBuffer(t, int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("the listener's SO_RCVBUF is %d, want %d (HERALD_SOCKET_RECEIVE_BUFFER_BYTES %d)", got, want, receiveBuffer)
	}
}
