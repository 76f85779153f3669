package broker

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// watch subscribes a new anonymous session, which nobody is told of, to
// room.1 with presence:true.
func watch(t *testing.T, b *Broker) *client {
	t.Helper()
	c := connect(t, b, ClientInfo{})
	if r := c.do(t, "w", `{"type":"subscribe","id":"w","topic":"room.1","presence":true}`); r["type"] != "subscribed" {
		t.Fatalf("%v", r)
	}
	return c
}

// change is a join (join) or leave of u on room.1 caused by a session of
// no one here.
func change(u string, join bool) PresenceChange {
	return PresenceChange{Topic: "room.1", User: u, Join: join, Session: uuid.NewString()}
}

// A change that says of a user what the last one sent of it said (an
// engine after a failover that lost the first) goes to the subscriptions
// that came after the first, whose member list was read without it, and
// to no other: each sees joins and leaves of the user alternate.
func TestRepeatedChangeGoesOnlyToLaterSubscriptions(t *testing.T) {
	b, _ := presenceBroker(t)
	first := watch(t, b)
	b.HandlePresence(change("u", true))
	first.waitChanges(t, 1)
	second := watch(t, b)
	b.HandlePresence(change("u", true)) // the join again
	b.HandlePresence(change("u", false))
	third := watch(t, b)
	late := connect(t, b, ClientInfo{}) // subscribed before the leave, presence asked after it
	late.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`)
	b.HandlePresence(change("u", false)) // the leave again
	late.do(t, "p", `{"type":"subscribe","id":"p","topic":"room.1","presence":true}`)
	b.HandlePresence(change("u", false)) // and once more
	b.HandlePresence(change("v", true))  // after them all, to wait for
	for _, w := range []struct {
		name string
		c    *client
		want []string
	}{
		{"the first watcher", first, []string{"join u", "leave u", "join v"}},
		{"the second", second, []string{"join u", "leave u", "join v"}},
		{"the third", third, []string{"leave u", "join v"}},
		{"the one that asked late", late, []string{"leave u", "join v"}},
	} {
		if got := w.c.waitChanges(t, len(w.want)); !slices.Equal(got, w.want) {
			t.Errorf("%s got %v, want %v", w.name, got, w.want)
		}
	}
}

// A topic's record of what it sent keeps the users present and at most
// maxLeftKept more who left, and forgets it all with its last watcher.
func TestPresenceRecordIsBounded(t *testing.T) {
	b, _ := presenceBroker(t)
	w := watch(t, b)
	const present = 10
	for i := range 3 * maxLeftKept {
		u := fmt.Sprint(i)
		b.HandlePresence(change(u, true))
		if i >= present {
			b.HandlePresence(change(u, false))
		}
	}
	sh := b.idx.shard("room.1")
	sh.mu.RLock()
	told, in := len(sh.watched["room.1"].told), sh.watched["room.1"].in
	sh.mu.RUnlock()
	if in != present || told > 2*present+maxLeftKept+1 {
		t.Errorf("the record keeps %d users, %d present: want %d present, at most %d in all", told, in, present, 2*present+maxLeftKept+1)
	}
	w.do(t, "u", `{"type":"unsubscribe","id":"u","topic":"room.1"}`)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if n := len(sh.watched); n != 0 {
		t.Errorf("%d topics watched after the last watcher left", n)
	}
}
