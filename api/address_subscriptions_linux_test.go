//go:build linux

package api_test

import (
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

// The connections of one address share HERALD_MAX_SUBSCRIPTIONS_PER_IP
// (15 here) on top of each one's HERALD_MAX_SUBSCRIPTIONS (10): past it a
// subscribe is answered too_many_subscriptions, while another address
// subscribes as it likes; an unsubscribe, and a connection that closes,
// give theirs back.
func TestAnAddressHoldsItsSubscriptionsBound(t *testing.T) {
	conns := connLimiter(t, limits.ConnConfig{MaxOpen: 100, Rate: 1e6, Burst: 1e6, Subscriptions: 15})
	nc := heraldnode.Config{NodeID: "test-node", API: api.Config{Conns: conns}}
	nc.Broker.MaxSubscriptions, nc.Broker.RateLimit = 10, -1
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	addr := netip.MustParseAddrPort(n.Addr)
	buf := make([]byte, 4096)
	one, other := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	a1 := newReplyReader(rawWebSocketFrom(t, one, addr, 0, buf))
	a2 := newReplyReader(rawWebSocketFrom(t, one, addr, 0, buf))
	b := newReplyReader(rawWebSocketFrom(t, other, addr, 0, buf))

	for i := range 10 {
		a1.want(t, a1.subscribe(t, fmt.Sprintf("t%d", i)), `"subscribed"`)
	}
	for i := 10; i < 15; i++ {
		a2.want(t, a2.subscribe(t, fmt.Sprintf("t%d", i)), `"subscribed"`)
	}
	a2.want(t, a2.subscribe(t, "t15"), `"code":"too_many_subscriptions","message":"at most 15 subscriptions from this address"`)
	for i := range 10 {
		b.want(t, b.subscribe(t, fmt.Sprintf("u%d", i)), `"subscribed"`)
	}

	rawWrite(t, a1.fd, maskedText(`{"type":"unsubscribe","id":"u","topic":"t0"}`))
	a1.want(t, a1.next(t), `"unsubscribed"`)
	a2.want(t, a2.subscribe(t, "t15"), `"subscribed"`)

	if err := unix.Shutdown(a1.fd, unix.SHUT_RDWR); err != nil { // the test's cleanup closes it
		t.Fatal(err)
	}
	for try := 0; ; try++ {
		reply := a2.subscribe(t, "t16")
		if strings.Contains(reply, `"subscribed"`) {
			break
		}
		if try == 500 {
			t.Fatalf("a closed connection's subscriptions were not given back: %s", reply)
		}
		time.Sleep(10 * time.Millisecond) // its session ends once the node reads the close
	}
}

// replyReader reads a bare WebSocket's server frames one by one.
type replyReader struct {
	fd   int
	have []byte
}

func newReplyReader(fd int) *replyReader { return &replyReader{fd: fd} }

// subscribe sends a subscribe to topic and returns its reply.
func (r *replyReader) subscribe(t *testing.T, topic string) string {
	t.Helper()
	rawWrite(t, r.fd, maskedText(`{"type":"subscribe","id":"s","topic":"`+topic+`"}`))
	return r.next(t)
}

// next returns the payload of the next text frame, past pings.
func (r *replyReader) next(t *testing.T) string {
	t.Helper()
	chunk := make([]byte, 4096)
	for {
		if op, payload, rest, ok := serverFrame(r.have); ok {
			r.have = rest
			if op == 0x1 {
				return string(payload)
			}
			continue
		}
		n, err := unix.Read(r.fd, chunk)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("read: %d bytes, %v", n, err)
		}
		r.have = append(r.have, chunk[:n]...)
	}
}

func (r *replyReader) want(t *testing.T, reply, want string) {
	t.Helper()
	if !strings.Contains(reply, want) {
		t.Fatalf("reply %s, want %s", reply, want)
	}
}
