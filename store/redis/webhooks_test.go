package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The webhooks' state on one server and on Cluster, where every key is in
// the {webhooks} slot and the scripts reach the keys they compose there.
func TestWebhookState(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) { testWebhookState(t, redistest.Start(t).URL()) })
	t.Run("cluster", func(t *testing.T) { testWebhookState(t, redistest.StartCluster(t, 3, 0).URL()) })
}

func testWebhookState(t *testing.T, url string) {
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "a"})
	b := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "b"})
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ev := func(name, topic string) []byte { return []byte(fmt.Sprintf(`{"name":%q,"topic":%q}`, name, topic)) }
	occupy := func(e *redis.Engine, node, topic string) {
		t.Helper()
		dropped, err := e.OccupyTopic(ctx, topic, node, ev("topic_occupied", topic), ev("topic_vacated", topic), 100, 100)
		must(err)
		if dropped {
			t.Fatal("dropped with room in the queue")
		}
	}
	next := func(e *redis.Engine, node string) ([]string, string, bool) {
		t.Helper()
		events, cursor, sender, _, err := e.NextEvents(ctx, node, 10, time.Second)
		must(err)
		var out []string
		for _, e := range events {
			out = append(out, string(e))
		}
		return out, cursor, sender
	}

	occupy(a, "a", "room.1")
	occupy(b, "b", "room.1") // not the first: nothing
	must(a.VacateTopic(ctx, "room.1", "a", time.Now(), ev("topic_vacated", "room.1")))
	must(b.VacateTopic(ctx, "room.1", "b", time.Now(), ev("topic_vacated", "room.1")))
	occupy(a, "a", "room.2")
	must(a.VacateTopic(ctx, "room.2", "a", time.Now().Add(time.Hour), ev("topic_vacated", "room.2")))
	occupy(b, "b", "room.2") // back within the delay: neither event
	dropped, err := a.QueueVacated(ctx, time.Now().Add(time.Second), 100, 100)
	must(err)
	if dropped != 0 {
		t.Fatalf("%d dropped", dropped)
	}
	got, cursor, sender := next(a, "a")
	want := fmt.Sprint([]string{string(ev("topic_occupied", "room.1")), string(ev("topic_occupied", "room.2")),
		string(ev("topic_vacated", "room.1"))})
	if !sender || fmt.Sprint(got) != want {
		t.Fatalf("sender %v, events %v, want %v", sender, got, want)
	}
	if _, _, other := next(b, "b"); other {
		t.Fatal("two senders at once")
	}
	must(b.AckEvents(ctx, "b", cursor)) // not the sender: nothing taken
	if again, _, _ := next(a, "a"); fmt.Sprint(again) != want {
		t.Fatalf("after a stranger's ack: %v", again)
	}
	must(a.AckEvents(ctx, "a", cursor))
	if left, _, _ := next(a, "a"); len(left) != 0 {
		t.Fatalf("after the ack: %v", left)
	}

	// A connection's end goes out when it ends; one still open on b when b
	// lapses goes out as lost.
	must(a.AddClient(ctx, "a", "s1", []byte(`{"s1":"lost"}`)))
	full, err := a.RemoveClient(ctx, "a", "s1", []byte(`{"s1":"ended"}`), 100)
	must(err)
	if full {
		t.Fatal("dropped with room in the queue")
	}
	must(b.AddClient(ctx, "b", "s2", []byte(`{"s2":"lost"}`)))
	// b stops saying it runs while it holds room.2 and s2: a releases them.
	must(b.NodeAlive(ctx, "b", time.Millisecond))
	time.Sleep(10 * time.Millisecond)
	if dropped, err := a.ReleaseNodes(ctx, "", 0, 100); err != nil || dropped != 0 {
		t.Fatalf("release: %d dropped, %v", dropped, err)
	}
	_, err = a.QueueVacated(ctx, time.Now().Add(time.Second), 100, 100)
	must(err)
	got, cursor, _ = next(a, "a")
	if fmt.Sprint(got) != fmt.Sprint([]string{`{"s1":"ended"}`, `{"s2":"lost"}`, string(ev("topic_vacated", "room.2"))}) {
		t.Fatalf("after b lapsed: %v", got)
	}
	must(a.AckEvents(ctx, "a", cursor))

	// The queue is bounded.
	full, err = a.QueueEvent(ctx, []byte(`{}`), 0)
	must(err)
	if !full {
		t.Fatal("an event past the bound was queued")
	}
}

// NextEvents says when another node took the sender's lease since a node
// last held it: the sender forgets then what it sent of each member, as
// it no longer knows what the backend was sent last.
func TestNextEventsSaysWhenAnotherNodeSent(t *testing.T) {
	url := redistest.Start(t).URL()
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "a"})
	b := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "b"})
	ctx := context.Background()
	next := func(e *redis.Engine, node string, lease time.Duration) (sender, others bool) {
		t.Helper()
		_, _, sender, others, err := e.NextEvents(ctx, node, 10, lease)
		if err != nil {
			t.Fatal(err)
		}
		return sender, others
	}
	lease := 40 * time.Millisecond
	steps := []struct {
		e            *redis.Engine
		node         string
		lease        time.Duration
		sender, othr bool
	}{
		{a, "a", lease, true, true},   // nobody sent before
		{a, "a", lease, true, false},  // its lease lapsed, nobody took it: a takes it again
		{b, "b", lease, false, false}, // b finds it lapsed, and leaves it to a for a while
		{b, "b", lease, true, true},   // a quarter of a lease later b takes it
		{a, "a", lease, false, false}, // b holds it, or sent last
	}
	for i, s := range steps {
		if i == 1 || i == 2 {
			time.Sleep(2 * lease)
		}
		if i == 3 {
			time.Sleep(2100 * time.Millisecond)
		}
		if sender, others := next(s.e, s.node, s.lease); sender != s.sender || others != s.othr {
			t.Fatalf("step %d, %s: sender %v others %v, want %v %v", i, s.node, sender, others, s.sender, s.othr)
		}
	}
}

// A read of the queue whose answer a node lost (a timeout, here another
// engine reading for it) may have taken the lease from another node; the
// node's next read still says another node sent since it last knew, as
// what it remembers of what it sent is older than what the other sent.
func TestNextEventsSaysAnotherNodeSentAfterALostAnswer(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t).URL()
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "a"})
	b := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "b"})
	lost := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "b"})
	ctx := context.Background()
	lease := 40 * time.Millisecond
	// takeOver reads for node until it holds the lease, once it lapsed
	// and the wait for the last sender passed.
	takeOver := func(e *redis.Engine, node string) (others bool) {
		t.Helper()
		for give := time.Now().Add(10 * time.Second); time.Now().Before(give); time.Sleep(50 * time.Millisecond) {
			_, _, sender, others, err := e.NextEvents(ctx, node, 10, lease)
			if err != nil {
				t.Fatal(err)
			}
			if sender {
				return others
			}
		}
		t.Fatalf("%s never took the lease", node)
		return false
	}
	takeOver(b, "b")
	takeOver(a, "a")    // b's lease lapsed, and a sends
	takeOver(lost, "b") // b takes it back, but never hears so
	_, _, sender, others, err := b.NextEvents(ctx, "b", 10, lease)
	if err != nil || !sender {
		t.Fatalf("sender %v, %v", sender, err)
	}
	if !others {
		t.Fatal("b's read says no other node sent since b last knew, but a did")
	}
}

// A report is sent again when its call failed after Redis ran it (its
// master died before a replica confirmed it): a topic's vacating run
// twice queues its topic_vacated once, though the first wait ended and
// its topic_vacated was queued before the second came.
func TestVacateTopicTwiceQueuesOneVacated(t *testing.T) {
	url := redistest.Start(t).URL()
	e := newEngine(t, url, redis.Config{NodeID: "a"})
	ctx := context.Background()
	occupied, vacated := []byte(`"occupied"`), []byte(`"vacated"`)
	if _, err := e.OccupyTopic(ctx, "room.v", "a", occupied, vacated, 100, 100); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.VacateTopic(ctx, "room.v", "a", time.Now(), vacated); err != nil {
			t.Fatal(err)
		}
		if _, err := e.QueueVacated(ctx, time.Now().Add(time.Second), 100, 100); err != nil {
			t.Fatal(err)
		}
	}
	events, _, _, _, err := e.NextEvents(ctx, "a", 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(joinEvents(events)); got != `"occupied" "vacated"` {
		t.Errorf("the queue: %s, want \"occupied\" \"vacated\"", got)
	}
}

// joinEvents is events separated by spaces.
func joinEvents(events [][]byte) []byte {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = string(ev)
	}
	return []byte(strings.Join(out, " "))
}
