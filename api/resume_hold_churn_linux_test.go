//go:build linux

package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestResumeHoldsComeBackWhateverEndsThem: streams and WebSocket
// resumes of one address, closed by their clients at any point (before
// their answer, while their history is queued, once it is), some
// unsubscribed at once after their subscribe, many refused for the
// bound: once all are gone the address holds nothing. A hold not given
// back would keep the address refused for good; one given back twice
// would let it past its bound (Queued below 0).
func TestResumeHoldsComeBackWhateverEndsThem(t *testing.T) {
	n, q, path, id := holdNode(t, holdBound)
	addr := netip.MustParseAddrPort(n.Addr)
	h, err := n.Broker.History(context.Background(), "a", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	wsFrom := netip.MustParseAddr("127.0.0.1")
	var peak atomic.Int64 // the most the address was seen holding
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 19))
			for i := range 12 {
				if (w+i)%2 == 0 {
					churnStream(addr, path, id, rng)
				} else {
					churnWebSocket(addr, wsFrom, h.Epoch, i, rng)
				}
				held := q.Queued()
				if held < 0 {
					t.Errorf("the address holds %d bytes", held)
				}
				for p := peak.Load(); held > p && !peak.CompareAndSwap(p, held); p = peak.Load() {
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("the address held up to %d bytes", peak.Load())
	if peak.Load() < holdStreamBytes {
		t.Fatalf("the address held up to %d bytes: its resumes held less than one stream's history, %d", peak.Load(), holdStreamBytes)
	}
	waitHeldNothing(t, q)
}

// churnStream opens a resuming stream and closes it at a point rng picks.
func churnStream(addr netip.AddrPort, path, id string, rng *rand.Rand) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 2048)
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond)) // a read waits no longer: it only picks the point of the close
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if rawConnect(fd, addr) != nil {
		return
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr.String() + "\r\nLast-Event-ID: " + id + "\r\n\r\n"
	if _, err := unix.Write(fd, []byte(req)); err != nil {
		return
	}
	switch rng.IntN(4) {
	case 0: // at once, the open under way
	case 1:
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
	default: // after some of the answer, or all that fits the socket
		buf := make([]byte, 4096)
		for range rng.IntN(40) {
			if n, err := unix.Read(fd, buf); err != nil || n == 0 {
				break
			}
		}
	}
	if rng.IntN(2) == 0 {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1}) // a reset
	}
}

// churnWebSocket resumes the holdNode topics of epoch on a WebSocket, unsubscribing
// some at once, and closes it at a point rng picks.
func churnWebSocket(addr netip.AddrPort, from netip.Addr, epoch string, i int, rng *rand.Rand) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 2048)
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond)) // a read waits no longer: it only picks the point of the close
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if unix.Bind(fd, &unix.SockaddrInet4{Addr: from.As4()}) != nil || rawConnect(fd, addr) != nil {
		return
	}
	var b strings.Builder
	b.WriteString("GET /ws HTTP/1.1\r\nHost: " + addr.String() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	for k := range holdTopics {
		topic := string(rune('a' + k))
		b.Write(maskedText(fmt.Sprintf(`{"type":"subscribe","id":"s%d","topic":%q,"since":{"epoch":%q,"seq":0}}`, k, topic, epoch)))
		if (i+k)%3 == 0 {
			b.Write(maskedText(fmt.Sprintf(`{"type":"unsubscribe","id":"u%d","topic":%q}`, k, topic)))
		}
	}
	if _, err := unix.Write(fd, []byte(b.String())); err != nil {
		return
	}
	switch rng.IntN(3) {
	case 0:
	case 1:
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
	default:
		buf := make([]byte, 4096)
		for range rng.IntN(40) {
			if n, err := unix.Read(fd, buf); err != nil || n == 0 {
				break
			}
		}
	}
	if rng.IntN(2) == 0 {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	}
}
