//go:build linux

package api_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// One address's connections each send a frame header announcing 100,000
// bytes and all of them but the last 10, so that the node keeps each
// one's partial frame between reads. HERALD_MAX_READ_BYTES_PER_IP is
// 512 KiB here: without it none is closed (until the heartbeat timeout)
// and the address holds 100 KB of the node's heap a connection; with it
// those whose reader would take the address past it are closed with
// 1008, and what the address holds stays under the bound. Meanwhile a
// connection of another address subscribes, publishes 60 KB in two
// writes (its frame held between reads too, counted for its own
// address) and gets its message. The connections that end give back
// what they held.
func TestAnAddressPastItsReadBoundIsClosedAlone(t *testing.T) {
	const (
		attackers = 10
		announced = 100_000
		sent      = announced - 10
		bound     = 512 << 10
	)
	conns := connLimiter(t, limits.ConnConfig{MaxOpen: 100, Rate: 1e6, Burst: 1e6, ReadBytes: bound})
	nc := heraldnode.Config{NodeID: "test-node", API: api.Config{Conns: conns}}
	// Only the bound closes here, not the unfinished frames' clock.
	nc.Transport.FragmentTimeout = time.Hour
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	addr := netip.MustParseAddrPort(n.Addr)
	attacker, neighbour := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	reads := addressReadsOf(t, conns, attacker)

	buf := make([]byte, 4096)
	partial := append(maskedHeader(announced), bytes.Repeat([]byte("a"), sent)...)
	fds := make([]int, attackers)
	for i := range fds {
		fds[i] = rawWebSocketFrom(t, attacker, addr, 0, buf)
		before := reads.Held()
		rawWrite(t, fds[i], partial)
		// Counted, or closed: no assertion on time, a wait for either.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if reads.Held() >= before+sent || closeFrameCame(fds[i]) {
				break
			}
		}
		if held := reads.Held(); held > bound {
			t.Fatalf("the address holds %d bytes of read buffer, past its bound %d", held, bound)
		}
	}
	closed := 0
	for _, fd := range fds {
		if code, reason := peekCloseFrame(fd); code != 0 {
			if code != 1008 || reason != "too many unfinished messages from this address" {
				t.Fatalf("an attacking connection closed with %d %q, want 1008 for its address's bound", code, reason)
			}
			closed++
		}
	}
	t.Logf("%d of %d connections of the address closed with 1008, the address holding %d bytes", closed, attackers, reads.Held())
	if want := attackers - bound/sent; closed < want {
		t.Errorf("%d of %d connections holding %d bytes each closed under a bound of %d, want at least %d", closed, attackers, sent, bound, want)
	}

	other := rawWebSocketFrom(t, neighbour, addr, 0, buf)
	rawWrite(t, other, maskedText(`{"type":"subscribe","id":"1","topic":"big"}`))
	rawReadUntil(t, other, buf, `"subscribed"`)
	data := strings.Repeat("b", 60_000)
	publish := []byte(`{"type":"publish","id":"p","topic":"big","data":"` + data + `"}`)
	msg := append(maskedHeader(len(publish)), publish...)
	otherReads := addressReadsOf(t, conns, neighbour)
	rawWrite(t, other, msg[:len(msg)/2])
	for deadline := time.Now().Add(5 * time.Second); otherReads.Held() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the first half read and kept, if the node reads it before the rest
	}
	rawWrite(t, other, msg[len(msg)/2:])
	got := make([]byte, 256<<10)
	rawReadUntil(t, other, got, data+`"`)

	for _, fd := range fds {
		unix.Close(fd)
	}
	for deadline := time.Now().Add(10 * time.Second); reads.Held() != 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if held := reads.Held(); held != 0 {
		t.Errorf("the address's connections closed, it still holds %d bytes of read buffer", held)
	}
}

// A connection's unfinished frame is counted in its address's read bound
// over TLS as over plain TCP. Under TLS the Listener counts the
// connection at accept beneath the TLS layer, whose *tls.Conn keeps that
// slot: api has nothing of its own to give back for it, yet its session
// has its address's budgets, which transport finds through the receiver.
func TestTLSConnectionIsCountedInItsAddressReadBound(t *testing.T) {
	const announced, sent = 100_000, 50_000
	for _, tc := range plainAndTLS(t) {
		t.Run(tc.name, func(t *testing.T) {
			conns := connLimiter(t, limits.ConnConfig{MaxOpen: 100, Rate: 1e6, Burst: 1e6, ReadBytes: 512 << 10})
			n := startNode(t, api.Config{TLS: tc.server, Conns: conns, MaxMessageBytes: announced}, nil)
			reads := addressReadsOf(t, conns, netip.MustParseAddr("127.0.0.1"))
			c := mustConnect(t, n.wsURL, dialer{from: "127.0.0.1", tls: tc.client})
			partial := append(maskedHeader(announced), bytes.Repeat([]byte("a"), sent)...)
			if _, err := c.conn.Write(partial); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(5 * time.Second); reads.Held() < sent && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if held := reads.Held(); held < sent {
				t.Fatalf("the address holds %d bytes of read buffer with %d of a frame read, want them counted", held, sent)
			}
			c.conn.Close()
			for deadline := time.Now().Add(5 * time.Second); reads.Held() != 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if held := reads.Held(); held != 0 {
				t.Fatalf("the connection closed, its address still holds %d bytes of read buffer", held)
			}
		})
	}
}

// addressReadsOf is the AddressReads of ip's address in l, through the
// pacer a connection of it is handed (its entry); the slot taken for it
// is given back at the test's end.
func addressReadsOf(t *testing.T, l *limits.ConnLimiter, ip netip.Addr) *transport.AddressReads {
	t.Helper()
	slot, pacer, ok := l.AcquirePaced(ip)
	if !ok {
		t.Fatalf("no slot for %v", ip)
	}
	t.Cleanup(slot.Release)
	r, ok := pacer.(transport.AddressReader)
	if !ok || r.AddressReads() == nil {
		t.Fatalf("no read bound for %v", ip)
	}
	return r.AddressReads()
}

// maskedHeader is the header of a client's text frame of n bytes, masked
// with a zero key so that the payload goes as it is.
func maskedHeader(n int) []byte {
	switch {
	case n <= 125:
		return []byte{0x81, 0x80 | byte(n), 0, 0, 0, 0}
	case n <= 0xffff:
		return []byte{0x81, 0x80 | 126, byte(n >> 8), byte(n), 0, 0, 0, 0}
	}
	h := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(h[2:10], uint64(n))
	return h
}

// closeFrameCame reports, without waiting, whether fd's stream holds a
// close frame after its welcome.
func closeFrameCame(fd int) bool {
	code, _ := peekCloseFrame(fd)
	return code != 0
}

// peekCloseFrame is the code and reason of the close frame fd has
// received, looked at without waiting and left there; 0 when none came.
func peekCloseFrame(fd int) (int, string) {
	b := make([]byte, 64<<10)
	n, _, err := unix.Recvfrom(fd, b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil || n <= 0 {
		return 0, ""
	}
	for b = b[:n]; len(b) >= 2; {
		op, payload, rest, ok := serverFrame(b)
		if !ok {
			break
		}
		if op == 0x8 && len(payload) >= 2 {
			return int(binary.BigEndian.Uint16(payload)), string(payload[2:])
		}
		b = rest
	}
	return 0, ""
}
