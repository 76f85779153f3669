package redis_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Member events reach the webhook queue in the order the presence
// scripts decided their changes, whichever order two nodes report them
// in; one whose predecessor never comes goes after its wait. On one
// server and on Cluster, where the topic's slot and {webhooks} differ.
func TestWebhookMembersInOrder(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) { testWebhookMembersInOrder(t, redistest.Start(t).URL()) })
	t.Run("cluster", func(t *testing.T) { testWebhookMembersInOrder(t, redistest.StartCluster(t, 3, 0).URL()) })
}

// orderedChanges records what WatchMembers tells, in the order told.
type orderedChanges struct {
	mu      sync.Mutex
	changes []broker.PresenceChange
}

func (o *orderedChanges) add(c broker.PresenceChange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.changes = append(o.changes, c)
}

func (o *orderedChanges) take() []broker.PresenceChange {
	o.mu.Lock()
	defer o.mu.Unlock()
	cs := o.changes
	o.changes = nil
	return cs
}

// watchMembers has each of es tell its member changes to one
// orderedChanges of its own, at the same index.
func watchMembers(es []*redis.Engine) []*orderedChanges {
	told := make([]*orderedChanges, len(es))
	for i, e := range es {
		told[i] = &orderedChanges{}
		e.WatchMembers(told[i].add)
	}
	return told
}

func testWebhookMembersInOrder(t *testing.T, url string) {
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "a"})
	b := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "b"})
	var told orderedChanges
	a.WatchMembers(told.add)
	b.WatchMembers(told.add)
	ctx := ctxFor(t)
	// flip has user u join and leave topic n times, alternating the nodes,
	// and returns the changes in the order they were decided.
	flip := func(topic string, n int) []broker.PresenceChange {
		t.Helper()
		for i := range n {
			e := []*redis.Engine{a, b}[i%2]
			p := broker.PresenceEntry{Topic: topic, Session: fmt.Sprint("s", i), User: "u"}
			mustAdd(t, e, p)
			if err := e.RemovePresence(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		cs := told.take()
		if len(cs) != 2*n {
			t.Fatalf("%d changes told, want %d", len(cs), 2*n)
		}
		for i, c := range cs {
			if c.Seq == 0 || (i > 0 && c.After != cs[i-1].Seq) || c.Join != (i%2 == 0) {
				t.Fatalf("change %d: %+v follows %+v", i, c, cs[max(i-1, 0)])
			}
		}
		return cs
	}
	queue := func(c broker.PresenceChange, hold time.Duration) {
		t.Helper()
		event := fmt.Sprintf(`{"topic":%q,"seq":%d}`, c.Topic, c.Seq)
		if dropped, err := a.QueueMember(ctx, c.Topic, c.After, c.Seq, []byte(event), hold, 100); err != nil || dropped != 0 {
			t.Fatalf("QueueMember: %d dropped, %v", dropped, err)
		}
	}
	queued := func(want ...broker.PresenceChange) {
		t.Helper()
		events, cursor, _, _, err := a.NextEvents(ctx, "a", 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got, wanted []string
		for _, ev := range events {
			got = append(got, string(ev))
		}
		for _, c := range want {
			wanted = append(wanted, fmt.Sprintf(`{"topic":%q,"seq":%d}`, c.Topic, c.Seq))
		}
		if !slices.Equal(got, wanted) {
			t.Fatalf("queued:\n%v\nwant\n%v", got, wanted)
		}
		if err := a.AckEvents(ctx, "a", cursor); err != nil {
			t.Fatal(err)
		}
	}

	// Reported last first: nothing goes until the first, then all in order.
	cs := flip("room.flip", 2)
	if cs[0].After != 0 {
		t.Fatalf("the topic's first change follows %d", cs[0].After)
	}
	for i := len(cs) - 1; i > 0; i-- {
		queue(cs[i], time.Hour)
	}
	queued()
	queue(cs[0], time.Hour)
	queued(cs...)
	// The topic's next change follows on at once.
	next := flip("room.flip", 1)
	queue(next[0], time.Hour)
	queue(next[1], time.Hour)
	queued(next...)

	// The node that decided the first change died before reporting it: the
	// others wait for it, then go in order; were it reported late, it
	// would go at once, and so do the changes after.
	died := flip("room.died", 2)
	queue(died[2], 50*time.Millisecond)
	queue(died[1], 50*time.Millisecond)
	queue(died[3], 50*time.Millisecond)
	queued()
	if !eventually(func() bool {
		dropped, err := a.QueueVacated(ctx, time.Now(), 100, 100)
		return err == nil && dropped == 0 && held(t, a)
	}) {
		t.Fatal("the held events never went")
	}
	queued(died[1:]...)
	queue(died[0], time.Hour)
	queued(died[0])
	after := flip("room.died", 1)
	queue(after[0], time.Hour)
	queued(after[0])
}

// held reports whether e's queue holds events to send.
func held(t *testing.T, e *redis.Engine) bool {
	events, _, _, _, err := e.NextEvents(context.Background(), "a", 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return len(events) > 0
}

// The events held are bounded per topic and in all: past either, they go
// at once, in order.
func TestWebhookMembersHeldBounded(t *testing.T) {
	t.Parallel()
	e := newEngine(t, redistest.Start(t).URL(), redis.Config{NodeID: "a"})
	ctx := ctxFor(t)
	count := func() int {
		t.Helper()
		events, _, _, _, err := e.NextEvents(ctx, "a", 10_000, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	// One topic: seq 1 never comes; 2 to 33 are held, the next lets all go.
	for seq := uint64(2); seq <= 33; seq++ {
		if _, err := e.QueueMember(ctx, "room.gap", seq-1, seq, []byte(fmt.Sprint(seq)), time.Hour, 100_000); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 0 {
		t.Fatalf("%d events went while 32 were held", n)
	}
	if _, err := e.QueueMember(ctx, "room.gap", 33, 34, []byte("34"), time.Hour, 100_000); err != nil {
		t.Fatal(err)
	}
	events, cursor, _, _, err := e.NextEvents(ctx, "a", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range events {
		if string(ev) != fmt.Sprint(i+2) {
			t.Fatalf("event %d is %s, in %q", i, ev, events)
		}
	}
	if len(events) != 33 {
		t.Fatalf("%d events went past the bound, want 33", len(events))
	}
	if err := e.AckEvents(ctx, "a", cursor); err != nil {
		t.Fatal(err)
	}
	// Many topics: 1000 hold one event each; the next topic's goes at once.
	for i := range 1000 {
		if _, err := e.QueueMember(ctx, fmt.Sprint("room.", i), 1, 2, []byte("held"), time.Hour, 100_000); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 0 {
		t.Fatalf("%d events went while 1000 topics held one", n)
	}
	if _, err := e.QueueMember(ctx, "room.past", 1, 2, []byte("past"), time.Hour, 100_000); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d events went past the topics' bound, want 1", n)
	}
}
