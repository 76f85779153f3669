//go:build linux

package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// One address's connections each resume a history of about 900 KB, over
// and over, and read nothing, so that their sockets fill and their write
// queues hold the rest: replies of their own, which no other connection
// shares. HERALD_MAX_QUEUE_BYTES is 8 MiB here, so that no connection
// passes its own bound (a socket takes some 2 to 4 MB, the queue the
// rest of 7 resumes): without the address's bound
// (HERALD_MAX_QUEUE_BYTES_PER_IP, 2 MiB here) none is closed and the
// address holds some 16 MB or more of heap. With it, a resume the bound
// cannot hold is refused rate_limited before it reads anything, and a
// connection whose frames would cross it is closed with 4000, while a
// connection of another address subscribed to the same topic, reading
// only at the end, gets every message published meanwhile.
func TestAnAddressPastItsQueueBoundIsClosedAlone(t *testing.T) {
	const (
		attackers = 8
		rounds    = 7
		bound     = 2 << 20
	)
	conns := connLimiter(t, limits.ConnConfig{MaxOpen: 100, Rate: 1e6, Burst: 1e6, QueueBytes: bound})
	nc := heraldnode.Config{NodeID: "test-node", API: api.Config{Conns: conns}}
	nc.Broker.RateLimit = -1 // the replies, not the command rate, are what this is about
	nc.Transport.MaxQueueBytes = 8 << 20
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	addr := netip.MustParseAddrPort(n.Addr)

	data := []byte(`"` + strings.Repeat("a", 60_000) + `"`)
	publish := func() string {
		res, err := n.Broker.Publish(context.Background(), "hist", data, "")
		if err != nil {
			t.Fatal(err)
		}
		return res.Epoch
	}
	var epoch string
	for range 15 { // about 900 KB: one resume reads it whole
		epoch = publish()
	}

	buf := make([]byte, 4096)
	other := rawWebSocketFrom(t, netip.MustParseAddr("127.0.0.2"), addr, 0, buf)
	rawWrite(t, other, maskedText(`{"type":"subscribe","id":"1","topic":"hist"}`))
	rawReadUntil(t, other, buf, `"subscribed"`)

	fds := make([]int, attackers)
	for i := range fds {
		fds[i] = rawWebSocketFrom(t, netip.MustParseAddr("127.0.0.1"), addr, 2048, buf)
	}
	resume := maskedText(`{"type":"subscribe","id":"r","topic":"hist","since":{"epoch":"` + epoch + `","seq":0}}`)
	leave := maskedText(`{"type":"unsubscribe","id":"u","topic":"hist"}`)
	live := 0
	for round := range rounds {
		for _, fd := range fds {
			rawWrite(t, fd, resume)
			rawWrite(t, fd, leave)
		}
		if round == rounds/2 { // messages published while the address is over its bound
			publish()
			live++
		}
		time.Sleep(200 * time.Millisecond) // no assertion on time: the reads below wait for what they need
	}
	publish()
	live++

	closed, refused := 0, 0
	for _, fd := range fds {
		switch code, limited := readToClose(t, fd); {
		case code == 4000:
			closed++
		case limited:
			refused++
		}
	}
	t.Logf("of %d connections of the address %d closed with 4000, %d more had resumes refused rate_limited", attackers, closed, refused)
	// Each connection's queue passes 1 MiB: at most two fit in the bound.
	if closed+refused < attackers-2 {
		t.Errorf("%d of %d connections of the address over its bound closed with 4000 or refused, want at least %d", closed+refused, attackers, attackers-2)
	}
	got := make([]byte, 1<<20)
	rawReadUntil(t, other, got, fmt.Sprintf(`"seq":%d,`, 15+live))
	for seq := 16; seq < 15+live; seq++ {
		if !bytes.Contains(got, []byte(fmt.Sprintf(`"seq":%d,`, seq))) {
			t.Errorf("the other address's connection missed seq %d", seq)
		}
	}
}

// rawWebSocketFrom is a bare socket from local (a loopback address) to addr,
// upgraded to a WebSocket whose welcome it read; rcvbuf, when not 0,
// shrinks its receive buffer before it connects.
func rawWebSocketFrom(t *testing.T, local netip.Addr, addr netip.AddrPort, rcvbuf int, buf []byte) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			t.Fatal(err)
		}
	}
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := rawConnect(fd, addr); err != nil {
		t.Fatal(err)
	}
	rawWrite(t, fd, []byte("GET /ws HTTP/1.1\r\nHost: "+addr.String()+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	rawReadUntil(t, fd, buf, `"welcome"`)
	return fd
}

// readToClose reads fd until the server ends it, or sends nothing for 3 s,
// and returns the code of the close frame it sent (0 when none came) and
// whether a command was refused rate_limited before it. The stream is
// walked from the first whole frame after the welcome's.
func readToClose(t *testing.T, fd int) (code int, limited bool) {
	t.Helper()
	tv := unix.NsecToTimeval(int64(3 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var all bytes.Buffer
	chunk := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, chunk)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		all.Write(chunk[:n])
	}
	b := all.Bytes()
	// Past the welcome's frame, which the upgrade's read already took.
	for len(b) >= 2 {
		op, payload, rest, ok := serverFrame(b)
		if !ok {
			break
		}
		if op == 0x8 && len(payload) >= 2 {
			return int(binary.BigEndian.Uint16(payload)), limited
		}
		limited = limited || op == 0x1 && bytes.Contains(payload, []byte(`"rate_limited"`))
		b = rest
	}
	return 0, limited
}

// serverFrame splits the unmasked frame at the front of b (RFC 6455
// section 5.2).
func serverFrame(b []byte) (op byte, payload, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	op, n, h := b[0]&0x0f, int(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, nil, false
		}
		n, h = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, nil, false
		}
		n, h = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if len(b) < h+n {
		return 0, nil, nil, false
	}
	return op, b[h : h+n], b[h+n:], true
}
