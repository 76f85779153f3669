package node

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/transport"
)

// behindTransport is a transport whose delivery is behind all along: one
// long spell.
type behindTransport struct{ *transport.Server }

func (behindTransport) Behind() bool { return true }

// listBoard keeps the last list of topics the node said it is behind on.
type listBoard struct {
	limitedBoard
	mu     sync.Mutex
	topics []string
}

func (b *listBoard) MarkBehind(_ context.Context, ttl time.Duration, topics []string) error {
	if ttl > 0 {
		b.mu.Lock()
		b.topics = slices.Clone(topics)
		b.mu.Unlock()
	}
	return nil
}

func (b *listBoard) said() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.topics
}

// countingConn counts the frames it is sent.
type countingConn struct{ frames atomic.Int64 }

func (c *countingConn) Send([]byte) bool  { c.frames.Add(1); return true }
func (c *countingConn) Close(int, string) {}

// A node behind for a long spell lists what it delivers now, not what it
// delivered when the spell began: a topic that cooled down leaves the
// list, and one that became hot is listed, although the old one had far
// more deliveries since the spell began.
func TestLagShareListFollowsTheTopicsThroughASpell(t *testing.T) {
	tr, err := transport.New(transport.Config{MaxDeliveryLag: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	b := broker.New(broker.Config{}, memory.New(memory.Config{}))
	conn := &countingConn{}
	b.Connect(conn, broker.ClientInfo{Subs: []string{"old", "new"}})
	publish := func(topic string) {
		t.Helper()
		if _, err := b.Publish(context.Background(), topic, []byte(`1`), ""); err != nil {
			t.Fatalf("publish to %s: %v", topic, err)
		}
	}
	board := &listBoard{limitedBoard: limitedBoard{limit: 8}}
	var published atomic.Uint64 // never moves: the others' word is not read
	s := shareLag(board, behindTransport{tr}, b, published.Load, zaptest.NewLogger(t))
	t.Cleanup(s.close)

	eventually := func(what string, topic string, want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Equal(board.said(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the node says it is behind on %q, want %q", what, board.said(), want)
			}
			publish(topic)
			time.Sleep(s.tick)
		}
	}
	eventually("a hot topic is not listed", "old", []string{"old"})
	// Far more of "old" than the run can publish of "new": counted since
	// the spell began, "old" would keep most of the share.
	const oldBurst = 20_000
	for range oldBurst {
		publish("old")
	}
	if n := conn.frames.Load(); n < oldBurst {
		t.Fatalf("the subscriber was sent %d frames of %d published", n, oldBurst)
	}
	eventually("the topic delivered now does not replace the one delivered before", "new", []string{"new"})
}
