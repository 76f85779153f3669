package node_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
)

// A node behind holds the other nodes' publishes to the topics it is busy
// delivering, and only those: node A's readers of "hot" read slower than
// A's publishers publish and answer its probe pings late, so A falls
// behind. Node B's publishes to "hot" wait for A (or are refused), while
// its publishes to "cold", which nobody on A subscribes to, and to
// "quiet", which two readers on A that keep up subscribe to, never do.
func TestNodeBehindHoldsOthersOnItsTopicsOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("overloads a node")
	}
	r := topicHoldRun(t, "hot", []string{"hot"}, func(r topicHoldResult) bool { return r.hotHeld >= 3 })
	t.Logf("%d rounds: B's publishes to hot waited in %d (%d refused); to cold and quiet %d waits",
		r.rounds, r.hotHeld, r.hotRefused, r.otherWaits)
	if r.hotHeld < 3 {
		t.Fatalf("B's publishes to the topic A is behind on waited %d times in %v", r.hotHeld, runFor)
	}
	if r.otherWaits != 0 {
		t.Fatalf("B's publishes to topics A is not busy with waited %d times", r.otherWaits)
	}
}

// A node behind on many topics at once, more than it lists, says "all":
// then every other node's publishes wait for it, to any topic. Its
// readers subscribe to a pattern: the counts are of the published topics.
func TestNodeBehindOnManyTopicsHoldsAll(t *testing.T) {
	if testing.Short() {
		t.Skip("overloads a node")
	}
	topics := make([]string, redis.MaxBehindTopics*5/4) // as many as a list holds: 80 % of the deliveries
	for i := range topics {
		topics[i] = fmt.Sprintf("hot.%d", i)
	}
	r := topicHoldRun(t, "hot.>", topics, func(r topicHoldResult) bool { return r.otherWaits >= 2 })
	t.Logf("%d rounds: B's publishes to hot.0 waited in %d (%d refused); to cold and quiet %d waits",
		r.rounds, r.hotHeld, r.hotRefused, r.otherWaits)
	if r.otherWaits < 2 {
		t.Fatalf("B's publishes to a topic nobody on A subscribes to waited %d times in %v for A, behind on %d topics",
			r.otherWaits, runFor, len(topics))
	}
}

// runFor bounds a topicHoldRun: A falls behind a few times in 4 s.
const runFor = 20 * time.Second

type topicHoldResult struct {
	rounds, hotHeld, hotRefused int
	otherWaits                  uint64
}

// topicHoldRun puts node A behind on hot: 20 readers on A, most of A's,
// subscribe to sub and read a message every 10 ms, a third of what A's
// publishers publish to hot; A has one loop, so that its fan-out writes
// are enough for its readers to be probed. The publishers are A's, so
// that B's waits are all B's own publishes: B publishes to hot[0],
// "cold" and "quiet" in rounds and counts which of them waited, until
// enough holds were seen, or runFor.
func topicHoldRun(t *testing.T, sub string, hot []string, enough func(topicHoldResult) bool) topicHoldResult {
	const (
		// A bound wide enough that the probes see the readers fall
		// behind well before they are a stall window (ten bounds)
		// behind, past which they would be left to their queue bound,
		// and whose lag ticks are long enough for a few hundred
		// messages a second to make A's one loop busy.
		bound = 400 * time.Millisecond
	)
	url := redistest.Start(t).URL()
	cfg := node.Config{Transport: transport.Config{MaxDeliveryLag: bound, MaxQueueBytes: 1 << 20}}
	b, _ := serveOnRedis(t, url, cfg)
	cfg.Transport.Loops = 1
	a, addrA := serveOnRedis(t, url, cfg)
	for range 20 {
		c := subscriber(t, addrA, sub)
		// Room for the whole run in the socket's buffers (the kernel
		// doubles it), so that the probes, not the queue bound, answer.
		if err := c.Conn.(*net.TCPConn).SetReadBuffer(4 << 20); err != nil {
			t.Fatal(err)
		}
		(&reader{patterned: len(hot) > 1, pause: func(int) { time.Sleep(10 * time.Millisecond) }}).start(t, c)
	}
	for range 2 {
		(&reader{}).start(t, subscriber(t, addrA, "quiet"))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The publishers end with the run, also when it fails: one still
	// publishing after the test ended would fail a test that is over.
	var stopOnce sync.Once
	end := func() { stopOnce.Do(func() { close(stop); wg.Wait() }) }
	defer end()
	pad := strings.Repeat("x", 64)
	publishOnA := func(topics []string, every time.Duration) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(every):
				}
				_, err := a.Broker.Publish(context.Background(), topics[i%len(topics)], []byte(`"`+pad+`"`), "")
				if err != nil && !errors.Is(err, broker.ErrOverloaded) {
					t.Errorf("publish on A: %v", err)
					return
				}
			}
		}()
	}
	for range 3 { // each about what the readers read
		publishOnA(hot, 5*time.Millisecond)
	}
	publishOnA([]string{"quiet"}, 50*time.Millisecond)

	var res topicHoldResult
	waits := func() uint64 { return b.Transport.Stats().PublishWaits }
	publishOnB := func(topic string) error {
		ctx, cancel := context.WithTimeout(context.Background(), bound) // a wait that ends refuses
		defer cancel()
		_, err := b.Broker.Publish(ctx, topic, []byte(`"b"`), "")
		// The deadline can also end the publish while it waits its turn
		// for Redis on a busy machine, as unavailable: a refusal too.
		if err != nil && !errors.Is(err, broker.ErrOverloaded) && (ctx.Err() == nil || !errors.Is(err, broker.ErrUnavailable)) {
			t.Fatalf("publish %s on B: %v", topic, err)
		}
		return err
	}
	for end := time.Now().Add(runFor); !enough(res) && time.Now().Before(end); {
		res.rounds++
		before := waits()
		publishOnB("cold")      // first, to meet each hold of A's from its start
		if res.rounds%10 == 0 { // quiet: a small share of A's deliveries
			publishOnB("quiet")
		}
		res.otherWaits += waits() - before
		before = waits()
		if err := publishOnB(hot[0]); err != nil {
			res.hotRefused++
		}
		if waits() > before {
			res.hotHeld++
		}
		time.Sleep(5 * time.Millisecond)
	}
	end()
	st := a.Transport.Stats()
	t.Logf("A: waits %d, refused %d, reader lag %v", st.PublishWaits, st.PublishRefused, st.ReaderLag)
	return res
}
