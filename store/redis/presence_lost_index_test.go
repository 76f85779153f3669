//go:build unix

package redis_test

import (
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// A node's set of the topics with reports of lost joins' leaves unqueued
// holds a topic only while such a report is: it has no expiry, and a
// node that lives on kept in it every topic it reported a leave on (and
// on Cluster every topic it checked, lost join or not), for whoever
// cleans up after it to read. On one server and on Cluster.
func TestLostJoinsTopicsLeaveTheSetOnceQueued(t *testing.T) {
	t.Parallel()
	onOneServerAndCluster(t, testLostJoinsTopicsLeaveTheSet)
}

func testLostJoinsTopicsLeaveTheSet(t *testing.T, url string, masterOf func(key string) string) {
	const lostTopic, keptTopic = "room.lost", "room.kept"
	es, _ := presenceCluster(t, url, 2, testLapse)
	reporter, other := es[0], es[1]
	q := &memberQueuer{t: t}
	queue := q.queueBy(reporter)
	reporter.WatchMembers(func(c broker.PresenceChange) {
		queue(c)
		q.told(c)
	})
	dave := broker.PresenceEntry{Topic: lostTopic, Session: "s-dave", User: "dave"}
	carol := broker.PresenceEntry{Topic: keptTopic, Session: "s-carol", User: "carol"}
	mustAdd(t, other, dave)
	mustAdd(t, other, carol)
	keys, _ := redis.PresenceKeys(reporter, lostTopic, "")
	losePresence(t, admin(t, masterOf(keys[0])), reporter, lostTopic, dave.Session, dave.User)
	set := redis.LostJoinsTopics(reporter)
	setAdmin := admin(t, masterOf(set))

	kept := []broker.SentJoin{{User: "carol", Session: carol.Session}}
	if gone, err := reporter.LostJoins(ctxFor(t), keptTopic, kept); err != nil || len(gone) != 0 {
		t.Fatalf("LostJoins of carol: %v, %v; want none", gone, err)
	}
	if held, _ := setAdmin.SMembers(ctxFor(t), set).Result(); len(held) != 0 {
		t.Fatalf("after a check that found nothing lost the set holds %v, want nothing", held)
	}

	lost := []broker.SentJoin{{User: "dave", Session: dave.Session}}
	if gone, err := reporter.LostJoins(ctxFor(t), lostTopic, lost); err != nil || !slices.Equal(gone, []string{"dave"}) {
		t.Fatalf("LostJoins of dave: %v, %v; want [dave]", gone, err)
	}
	q.wait(t) // told, and queued as it was told
	if got := q.events(t, reporter); !slices.Equal(got, []string{"removed dave"}) {
		t.Fatalf("queued %v, want [removed dave]", got)
	}
	if held, _ := setAdmin.SMembers(ctxFor(t), set).Result(); len(held) != 0 {
		t.Errorf("with dave's leave queued the set holds %v, want nothing", held)
	}
	if n := admin(t, masterOf(keys[0])).HLen(ctxFor(t), redis.LostJoinsUnqueued(reporter, lostTopic)).Val(); n != 0 {
		t.Errorf("%d reports left unqueued", n)
	}
	q.check(t)
}
