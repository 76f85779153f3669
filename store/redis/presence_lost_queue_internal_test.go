package redis

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLostQueuedReports notes, then takes, the reports of a failover
// that had one node report 10,000 lost joins' leaves over 2,000 topics.
func BenchmarkLostQueuedReports(b *testing.B) {
	const reports, topics = 10000, 2000
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("room.%d", i)
	}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		var q lostQueueds
		for i := range reports {
			q.add(lostReport{names[i%topics], uint64(i)}, lostPending{life: "l", keep: time.Minute, at: at})
		}
		for i := range reports {
			q.take(names[i%topics], uint64(i))
			q.pendingOn("l", names[i%topics])
		}
	}
}

// A report is forgotten once a later one comes past its keep, and a
// topic has reports pending until its last is taken or forgotten.
func TestLostQueuedReportsOfATopic(t *testing.T) {
	var q lostQueueds
	at := time.Now()
	q.add(lostReport{"room.a", 1}, lostPending{life: "l", keep: time.Minute, at: at})
	q.add(lostReport{"room.a", 2}, lostPending{life: "l", keep: time.Minute, at: at})
	q.add(lostReport{"room.b", 3}, lostPending{life: "l", keep: time.Minute, at: at})
	if _, ok := q.take("room.a", 1); !ok || !q.pendingOn("l", "room.a") || q.pendingOn("other", "room.a") {
		t.Fatal("room.a's second report is not pending for its life alone after the first was taken")
	}
	q.add(lostReport{"room.c", 4}, lostPending{life: "l", keep: time.Minute, at: at.Add(2 * time.Minute)})
	for _, topic := range []string{"room.a", "room.b"} {
		if q.pendingOn("l", topic) {
			t.Errorf("%s's report is pending past its keep", topic)
		}
	}
	if !q.pendingOn("l", "room.c") {
		t.Error("room.c's report is not pending")
	}
	if _, ok := q.take("room.c", 4); !ok || q.pendingOn("l", "room.c") {
		t.Error("room.c's report is still pending once taken")
	}
}

// BenchmarkLostBacks notes, then forgets, the joins of 10,000 marked
// users that came back while their member events could not be queued.
func BenchmarkLostBacks(b *testing.B) {
	const joins = 10000
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		var q lostQueueds
		for i := range joins {
			q.addBack(lostReport{"room", uint64(i)}, lostPending{user: "u", keep: time.Minute, at: at})
		}
		for i := range joins {
			q.forgetBack("room", uint64(i))
		}
	}
}

// A noted join is forgotten once a later one comes past its keep, and
// kept within it.
func TestLostBacksForgottenPastTheirKeep(t *testing.T) {
	var q lostQueueds
	at := time.Now()
	q.addBack(lostReport{"room.a", 1}, lostPending{user: "u", keep: 10 * time.Millisecond, at: at})
	q.addBack(lostReport{"room.a", 2}, lostPending{user: "u", keep: time.Minute, at: at})
	q.addBack(lostReport{"room.b", 3}, lostPending{user: "v", keep: time.Minute, at: at.Add(2 * time.Second)})
	if _, ok := q.peekBack("room.a", 1); ok {
		t.Error("a join is still noted past its keep")
	}
	for _, r := range []lostReport{{"room.a", 2}, {"room.b", 3}} {
		if _, ok := q.peekBack(r.topic, r.seq); !ok {
			t.Errorf("the join %v is forgotten within its keep", r)
		}
	}
	q.forgetBack("room.b", 3)
	if _, ok := q.peekBack("room.b", 3); ok {
		t.Error("a join is still noted once forgotten")
	}
}
