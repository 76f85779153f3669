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

// spellNode is a broker whose one connection subscribes to topics, and
// the lag sharing of a node behind all along, on a board that keeps its
// last list.
func spellNode(t *testing.T, topics ...string) (publish func(topic string, n int), board *listBoard, s *lagShare) {
	tr, err := transport.New(transport.Config{MaxDeliveryLag: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	b := broker.New(broker.Config{}, memory.New(memory.Config{}))
	b.Connect(&countingConn{}, broker.ClientInfo{Subs: topics})
	publish = func(topic string, n int) {
		t.Helper()
		for range n {
			if _, err := b.Publish(context.Background(), topic, []byte(`1`), ""); err != nil {
				t.Fatalf("publish to %s: %v", topic, err)
			}
		}
	}
	board = &listBoard{limitedBoard: limitedBoard{limit: 8}}
	var published atomic.Uint64 // never moves: the others' word is not read
	s = shareLag(board, behindTransport{tr}, b, published.Load, zaptest.NewLogger(t))
	t.Cleanup(s.close)
	return publish, board, s
}

// listedWithin publishes n messages to topic a lag tick until the node
// says it is behind on want, and returns how many it published.
func listedWithin(t *testing.T, publish func(string, int), board *listBoard, s *lagShare, topic string, n int, want []string) int {
	t.Helper()
	published := 0
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(board.said(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("after %d messages to %s the node says it is behind on %q, want %q", published, topic, board.said(), want)
		}
		publish(topic, n)
		published += n
		time.Sleep(s.tick)
	}
	return published
}

// A node behind for a long spell lists what it delivers now, not what it
// delivered when the spell began: a topic that cooled down leaves the
// list, and one that became hot is listed well before it had most of the
// deliveries since the spell began.
func TestLagShareListFollowsTheTopicsThroughASpell(t *testing.T) {
	publish, board, s := spellNode(t, "old", "new")
	listedWithin(t, publish, board, s, "old", 1, []string{"old"})
	const oldBurst = 20_000
	publish("old", oldBurst)
	// Counted since the spell began, "new" would be listed alone only
	// once it had 90 % of the deliveries: nine times "old"'s.
	n := listedWithin(t, publish, board, s, "new", 1_000, []string{"new"})
	if n >= 9*oldBurst {
		t.Fatalf("the node listed the topic it delivers now only after %d messages to it, %d to the old one", n, oldBurst)
	}
}

// A node behind whose deliveries fall to a trickle (its publishers wait
// for its backlog) keeps listing what filled its backlog: the trickle of
// a quiet topic does not take the list over.
func TestLagShareListOutlastsATrickle(t *testing.T) {
	publish, board, s := spellNode(t, "hot", "quiet")
	listedWithin(t, publish, board, s, "hot", 500, []string{"hot"})
	// Two windows of it at full rate. A busy machine stretches the sleeps
	// over many ticks, so that a window may hold one round of hot alone:
	// with 500 a round, the trickle's 80 then passed a tenth of the two
	// windows' frames, and quiet was listed for no fault of the windows.
	for range 2 * countTicks {
		publish("hot", 5000)
		time.Sleep(s.tick)
	}
	for range 10 * countTicks { // ten windows' worth of ticks: under 1 % of a round of hot
		publish("quiet", 1)
		time.Sleep(s.tick)
		if said := board.said(); !slices.Equal(said, []string{"hot"}) {
			t.Fatalf("the node behind says it is behind on %q while it delivers a trickle of quiet, want [hot]", said)
		}
	}
}
