//go:build linux

package api_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// The heap one idle subscribed WebSocket costs the server, measured from
// clients that are bare sockets (a descriptor each, no Go object), so
// that the figure is the server's alone: the transport's conn and its
// place in the loop's table, the broker's session, subscription, index
// and session-index entries, and what api keeps to give back the
// connection's per-address slot. The connections are anonymous and
// subscribed to one of 100 topics, as herald-bench idle holds them
// (BENCHMARKS.md, "Idle").
func TestIdleSubscribedConnectionHeap(t *testing.T) {
	files, err := limits.NewOpenFiles(100_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := connLimiter(t, limits.ConnConfig{MaxOpen: 100_000, Rate: 1e6, Burst: 1e6})
	// A whole pass first, on a node of its own, closed before the cases:
	// what the process keeps after its first burst of connections, node
	// or no node, would otherwise count in whichever case comes first,
	// some 40 bytes a connection.
	t.Run("warm-up", func(t *testing.T) {
		idleSubscribedHeap(t, startIdleNode(t, api.Config{}), idleConns)
	})
	for _, tc := range []struct {
		name string
		cfg  api.Config
		max  int64
	}{
		{"no per-address limits", api.Config{}, maxIdleUncountedHeap},
		{"per-address limits", api.Config{Conns: conns, OpenFiles: files}, maxIdleSubscribedHeap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startIdleNode(t, tc.cfg)
			perConn := idleSubscribedHeap(t, n, idleConns)
			t.Logf("%d bytes of server heap per idle subscribed connection", perConn)
			if perConn > tc.max {
				t.Fatalf("%d bytes of server heap per idle subscribed connection, want at most %d", perConn, tc.max)
			}
		})
	}
}

// idleConns is how many connections a pass of
// TestIdleSubscribedConnectionHeap opens.
const idleConns = 1000

// startIdleNode is startNode with a short close timeout, so that the
// transport's sweeps (a quarter of it apart) come quickly: two of them
// free the write queue of a connection that went quiet.
func startIdleNode(t *testing.T, cfg api.Config) *node {
	nc := heraldnode.Config{
		NodeID: "test-node", MaxMessageBytes: testMaxMessageBytes,
		Transport: transport.Config{CloseTimeout: idleSweeps},
		API:       cfg,
	}
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	return &node{srv: n.API, base: n.Base, addr: n.Addr, wsURL: n.WS, broker: n.Broker}
}

// idleSweeps is the idle node's CloseTimeout: sweeps come every quarter.
const idleSweeps = 40 * time.Millisecond

// maxIdleSubscribedHeap bounds the heap of one idle subscribed
// connection counted per address and by descriptor, as cmd/herald counts
// them. The bill (BENCHMARKS.md, "Idle") comes to 457-463 bytes here:
// conn 128, session 128, subscription 112, api's one object of 24 (the
// session and the slot it gives back), the session index's, loop
// table's and topic entry's slots 8 to 21 each, the address's entry and
// the 100 topics' own state spread over the connections. It was 815
// before the cuts that brought it there, and 496-500 with api's receiver
// and the listener's slot two objects of 32 bytes each. The bound fails
// if the session's, the conn's or api's cut is undone; the smaller ones
// have tests of their own (TestIdleSessionIsSmall, TestIdleConnIsSmall,
// TestSubscriptionsShareTopicAndEpoch, TestLoopTableIsDense,
// TestSessionSetAgreesWithAMap,
// TestReleasingKeepsOneSmallObjectOnlyWhenCounted).
const maxIdleSubscribedHeap = 475

// maxIdleUncountedHeap bounds the same for a connection counted nowhere,
// of which api keeps nothing: 432-444 bytes, against 466-471 when api
// kept a receiver of 32 bytes for it too.
const maxIdleUncountedHeap = 452

// idleSubscribedHeap opens conns connections to n, each subscribed to one
// of 100 topics, and returns the server heap each one holds.
func idleSubscribedHeap(t *testing.T, n *node, conns int) int64 {
	addr := netip.MustParseAddrPort(n.addr)
	fds := make([]int, 0, conns)
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	buf := make([]byte, 4096)
	// One first, so that what every node allocates once (the loop's
	// buffers, pools) is in the heap before it is measured.
	fds = append(fds, rawSubscriber(t, addr, 0, buf))
	before := liveHeap()
	for i := 1; i <= conns; i++ {
		fds = append(fds, rawSubscriber(t, addr, i, buf))
	}
	time.Sleep(3 * idleSweeps) // the last ones registered, every queue swept twice
	return (liveHeap() - before) / int64(conns)
}

// rawSubscriber connects a bare socket to addr, upgrades it, subscribes it
// to topic i%100 and returns its descriptor once the reply came.
func rawSubscriber(t *testing.T, addr netip.AddrPort, i int, buf []byte) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := rawConnect(fd, addr); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	rawWrite(t, fd, []byte("GET /ws HTTP/1.1\r\nHost: "+addr.String()+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	rawReadUntil(t, fd, buf, `"welcome"`)
	cmd := fmt.Sprintf(`{"type":"subscribe","id":"1","topic":"idle.t%d"}`, i%100)
	rawWrite(t, fd, maskedText(cmd))
	rawReadUntil(t, fd, buf, `"subscribed"`)
	return fd
}

// maskedText is a client's text frame of s, masked with a zero key
// (RFC 6455 section 5.3 allows any key).
func maskedText(s string) []byte {
	if len(s) > 125 {
		panic("maskedText: only short frames")
	}
	return append([]byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}, s...)
}

// rawConnect connects fd, blocking. A connect that a signal interrupted
// (the runtime's preemption) goes on in the kernel: it is waited for.
func rawConnect(fd int, addr netip.AddrPort) error {
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	err := unix.Connect(fd, sa)
	for err == unix.EINTR || err == unix.EALREADY {
		time.Sleep(time.Millisecond)
		err = unix.Connect(fd, sa)
	}
	if err == unix.EISCONN {
		return nil
	}
	return err
}

func rawWrite(t *testing.T, fd int, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		b = b[n:]
	}
}

// rawReadUntil reads from fd until what it read holds want.
func rawReadUntil(t *testing.T, fd int, buf []byte, want string) {
	t.Helper()
	got := 0
	for !bytes.Contains(buf[:got], []byte(want)) {
		if got == len(buf) {
			t.Fatalf("no %s in %q", want, buf[:got])
		}
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("read waiting for %s: %d bytes, %v; got %q", want, n, err, buf[:got])
		}
		got += n
	}
}
