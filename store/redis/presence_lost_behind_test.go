//go:build unix

package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node whose check of the joins sent comes while a user's ordinary
// leave is on its way to it (decided in Redis, not handed over yet: its
// pub/sub connection is milliseconds behind, held here) does not take
// the user for lost: the leave is in the topic's change log after where
// the node stands, and comes. Taken for lost, the leave was reported a
// second time, and the backend queued a second member_removed.
func TestLostJoinsCheckBehindAnOrdinaryLeaveReportsNothing(t *testing.T) {
	t.Parallel()
	const topic = "room.behind"
	srv := redistest.Start(t)
	toA := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	a := newEngine(t, "redis://"+toA.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "a", PresenceLapse: time.Minute})
	b := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "b", PresenceLapse: time.Minute})
	ra := newRecorder()
	a.Attach(ra)
	told := watchMembers([]*redis.Engine{a, b})
	mustSubscribe(t, a, topic)
	// a's subscriber is present on the topic, as every exact subscriber
	// of a presence topic is: the topic's change log stays.
	mustAdd(t, a, broker.PresenceEntry{Topic: topic, Session: "s-watcher"})
	dave := broker.PresenceEntry{Topic: topic, Session: "s-dave", User: "dave"}
	mustAdd(t, b, dave)
	waitChanges(t, ra, topic, "+dave")
	told[1].take()

	// What Redis sends a's pub/sub connection is held from its next
	// subscribe on.
	toA.Hold(prefix + "m.room.other")
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	go func() { _ = a.Subscribe(ctx, "room.other") }()
	if !eventually(func() bool { return toA.Held() == 1 }) {
		t.Fatal("a's pub/sub connection was never held")
	}
	if err := b.RemovePresence(ctxFor(t), dave); err != nil {
		t.Fatal(err)
	}
	if left := told[1].take(); len(left) != 1 || left[0].Join {
		t.Fatalf("b was told %+v for dave's leave", left)
	}
	gone, err := a.LostJoins(ctxFor(t), topic, []broker.SentJoin{{User: "dave", Session: dave.Session}})
	reported := told[0].take()
	toA.Release()
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 0 || len(reported) != 0 {
		t.Errorf("a, behind dave's leave, took him for lost (%v) and reported %+v", gone, reported)
	}
	waitChanges(t, ra, topic, "+dave", "-dave")
}
