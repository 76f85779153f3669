package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// watched records what WatchMembers tells one engine.
type watched struct {
	mu      sync.Mutex
	changes []string
}

func (w *watched) add(c broker.PresenceChange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sign := "-"
	if c.Join {
		sign = "+"
	}
	w.changes = append(w.changes, sign+c.User)
}

func (w *watched) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.changes)
}

// Every join and leave reaches the watcher of exactly one node: the one
// whose call decided it, or the one that cleaned up after a dead node.
func TestWatchMembersTellsOneNodePerChange(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	es, _ := presenceCluster(t, srv.URL(), 2, testLapse)
	dying, survivor := es[0], es[1]
	var wd, ws watched
	dying.WatchMembers(wd.add)
	survivor.WatchMembers(ws.add)
	const topic = "room.watched"
	mustSubscribe(t, survivor, topic)
	mustAdd(t, dying, broker.PresenceEntry{Topic: topic, Session: "s1", User: "alone"})
	mustAdd(t, dying, broker.PresenceEntry{Topic: topic, Session: "s2", User: "alone"}) // a second tab: nothing
	mustAdd(t, survivor, broker.PresenceEntry{Topic: topic, Session: "s3", User: "here"})
	mustAdd(t, dying, broker.PresenceEntry{Topic: topic, Session: "s4", User: "here"})
	if got := fmt.Sprint(wd.list(), ws.list()); got != "[+alone] [+here]" {
		t.Fatalf("before the death: %s", got)
	}
	redis.Die(dying)
	if !eventually(func() bool { return len(ws.list()) == 2 }) {
		t.Fatalf("the survivor was never told the dead node's leave: %v", ws.list())
	}
	if got := fmt.Sprint(wd.list(), ws.list()); got != "[+alone] [+here -alone]" {
		t.Fatalf("after the death: %s", got)
	}
}
