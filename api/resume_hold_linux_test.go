//go:build linux

package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// What a resume reads is held in its address's queue bound
// (HERALD_MAX_QUEUE_BYTES_PER_IP) from before it is read until its history
// is queued, and the frames a stream queues as it opens are counted there
// as its later ones are: one address's streams that resume and read
// nothing hold no more than the bound, and the open that would pass it is
// refused 429 before anything is read. Without the hold, every open of one
// address read its history whatever the others held: 1,000 opens at once
// of 32 topics made a node hold 548 MB.

const (
	holdBound    = 4 << 20
	holdTopics   = 4
	holdMessages = 5
	holdData     = 40_000 // each stream resumes some 800 KB: four fit in the bound with what each holds as it reads
)

// holdNode starts a node whose address 127.0.0.1 has bound bytes of
// queue, publishes the history a stream of holdTopics resumes, and returns
// it with the address's AddressQueue and that stream's path and id.
func holdNode(t *testing.T, bound int) (n *nodetest.Node, q *transport.AddressQueue, path, id string) {
	t.Helper()
	conns := connLimiter(t, limits.ConnConfig{MaxOpen: 100, Rate: 1e6, Burst: 1e6, QueueBytes: bound})
	nc := heraldnode.Config{NodeID: "test-node", API: api.Config{Conns: conns}}
	nc.Broker.RateLimit = -1
	// The kernel takes little of what a stream is sent: the rest waits in
	// its queue, counted in the bound.
	nc.Transport.SendBufferBytes = 4096
	n = nodetest.Start(t, nodetest.Options{Node: nc})
	slot, pacer, ok := conns.AcquirePaced(netip.MustParseAddr("127.0.0.1"))
	if !ok {
		t.Fatal("no budget for 127.0.0.1")
	}
	t.Cleanup(slot.Release)
	q = pacer.(transport.AddressQueuer).AddressQueue()

	var topics []string
	for i := range holdTopics {
		topics = append(topics, "topic="+string(rune('a'+i)))
	}
	path = "/sse?" + strings.Join(topics, "&")
	first := mustOpenSSE(t, n.Base, path)
	_, id = first.subscribed(t)
	first.close()
	data := []byte(`"` + strings.Repeat("h", holdData) + `"`)
	for i := range holdTopics {
		for range holdMessages {
			if _, err := n.Broker.Publish(context.Background(), string(rune('a'+i)), data, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	return n, q, path, id
}

// openResuming is openResumingTB.
func openResuming(t *testing.T, addr netip.AddrPort, path, id string) (int, string, error) {
	return openResumingTB(t, addr, path, id)
}

// openResumingTB sends a stream's request with Last-Event-ID id on a new
// socket from 127.0.0.1 with a small receive buffer, and reads its
// answer's head and first event, or its refusal; it returns the socket,
// for the caller to close, and what it read (-1 and the error when it
// failed: the socket is closed). Safe on any goroutine.
func openResumingTB(t testing.TB, addr netip.AddrPort, path, id string) (fd int, answer string, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
			fd = -1
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 2048); err != nil {
		return fd, "", err
	}
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := rawConnect(fd, addr); err != nil {
		return fd, "", err
	}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr.String() + "\r\nLast-Event-ID: " + id + "\r\n\r\n")
	if n, err := unix.Write(fd, req); err != nil || n < len(req) {
		return fd, "", fmt.Errorf("write: %d of %d bytes, %v", n, len(req), err)
	}
	buf := make([]byte, 64<<10)
	got := 0
	for {
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return fd, "", fmt.Errorf("read: %d bytes, %v; got %q", n, err, buf[:got])
		}
		got += n
		head := string(buf[:got])
		if strings.HasPrefix(head, "HTTP/1.1 200") && strings.Contains(head, `"recovered":true`) && strings.Contains(head, "\nid: ") {
			return fd, head, nil
		}
		if !strings.HasPrefix(head, "HTTP/1.1 200") && bytes.Contains(buf[:got], []byte("}}")) {
			return fd, head, nil
		}
	}
}

// wantHeldRefusal checks the answer to a stream past its address's bound.
func wantHeldRefusal(t *testing.T, answer string) {
	t.Helper()
	if !strings.HasPrefix(answer, "HTTP/1.1 429") || !strings.Contains(answer, "Retry-After: 1") || !strings.Contains(answer, `"rate_limited"`) {
		t.Fatalf("the stream past the bound was answered %q, want 429 rate_limited with Retry-After: 1", answer)
	}
}

// waitHeldNothing waits until q holds nothing, as it must once every
// stream of its address closed.
func waitHeldNothing(t *testing.T, q *transport.AddressQueue) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.Queued() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the address holds %d bytes after its streams closed", q.Queued())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const holdStreamBytes = holdTopics * holdMessages * holdData

// TestStreamResumesHoldNoMoreThanTheirAddressBound: streams of one address
// that resume some 800 KB each and read nothing open while their address's
// bound holds them, each counted there; the next is refused 429
// rate_limited with Retry-After before it reads anything, and a
// WebSocket's resume of the address is refused rate_limited; once the
// streams close, the address holds nothing.
func TestStreamResumesHoldNoMoreThanTheirAddressBound(t *testing.T) {
	n, q, path, id := holdNode(t, holdBound)
	addr := netip.MustParseAddrPort(n.Addr)
	var open []int
	var refusal string
	for range 10 {
		fd, answer, err := openResuming(t, addr, path, id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(answer, "HTTP/1.1 200") {
			refusal = answer
			unix.Close(fd)
			break
		}
		open = append(open, fd)
		if held := q.Queued(); held < int64(len(open))*holdStreamBytes/2 {
			t.Fatalf("%d streams of the address resumed some 800 KB each, and it counts %d bytes held", len(open), held)
		}
	}
	t.Logf("%d streams opened, address holds %d bytes; then %q", len(open), q.Queued(), refusal)
	if refusal == "" {
		t.Fatalf("10 streams resuming some 800 KB each opened within a bound of %d", holdBound)
	}
	wantHeldRefusal(t, refusal)
	if len(open) == 0 || len(open)*holdStreamBytes > holdBound {
		t.Fatalf("%d streams opened within %d bytes", len(open), holdBound)
	}

	buf := make([]byte, 64<<10)
	ws := rawWebSocketFrom(t, netip.MustParseAddr("127.0.0.1"), addr, 0, buf)
	// Refused before its read, whatever the epoch it names.
	rawWrite(t, ws, maskedText(`{"type":"subscribe","id":"r","topic":"a","since":{"epoch":"x","seq":0}}`))
	rawReadUntil(t, ws, buf, `"rate_limited"`)

	for _, fd := range open {
		unix.Close(fd)
	}
	waitHeldNothing(t, q)
}

// TestParallelStreamResumesHoldNoMoreThanTheirAddressBound: 16 streams of
// one address open at once, each resuming some 800 KB and reading
// nothing: those that open are as many as the bound holds, the others are
// refused 429 (or, one whose history another took the room of between
// its read and its queue, closed 4000 as a slow reader), and once they
// close the address holds nothing.
func TestParallelStreamResumesHoldNoMoreThanTheirAddressBound(t *testing.T) {
	const streams = 16
	n, q, path, id := holdNode(t, holdBound)
	addr := netip.MustParseAddrPort(n.Addr)
	type answer struct {
		fd   int
		text string
		err  error
	}
	answers := make(chan answer, streams)
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fd, text, err := openResuming(t, addr, path, id)
			answers <- answer{fd, text, err}
		}()
	}
	wg.Wait()
	close(answers)
	opened, refused := 0, 0
	var fds []int
	for a := range answers {
		if a.err != nil {
			t.Fatal(a.err)
		}
		fds = append(fds, a.fd)
		if strings.HasPrefix(a.text, "HTTP/1.1 200") {
			opened++
			continue
		}
		wantHeldRefusal(t, a.text)
		refused++
	}
	t.Logf("%d of %d streams opened, %d refused; the address holds %d bytes", opened, streams, refused, q.Queued())
	if opened == 0 || opened*holdStreamBytes > holdBound {
		t.Fatalf("%d streams resuming %d bytes each opened within %d", opened, holdStreamBytes, holdBound)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	waitHeldNothing(t, q)
}

// TestALoneStreamResumesWithinTheLeastAddressBound: an address's bound is
// never below HERALD_MAX_QUEUE_BYTES, so that one connection alone fits;
// what a resume holds as it reads (its bound and one message more) is
// more than that, and is held as the whole bound, not refused.
func TestALoneStreamResumesWithinTheLeastAddressBound(t *testing.T) {
	n, q, path, id := holdNode(t, transport.DefaultMaxQueueBytes)
	fd, answer, err := openResuming(t, netip.MustParseAddrPort(n.Addr), path, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(answer, "HTTP/1.1 200") {
		t.Fatalf("a lone stream resuming %d bytes within a bound of %d was answered %q", holdStreamBytes, transport.DefaultMaxQueueBytes, answer)
	}
	unix.Close(fd)
	waitHeldNothing(t, q)
}
