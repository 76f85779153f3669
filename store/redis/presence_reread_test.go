package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// pausedReads is an engine whose presence reads, once read, wait for the
// test before they answer: what Redis and the other nodes do meanwhile
// lands between a read and its answer, as it may when they are quick.
type pausedReads struct {
	*redis.Engine
	read   chan struct{} // a read was made; room for one
	resume chan struct{} // its answer may go: closed
}

func (e *pausedReads) Presence(ctx context.Context, topic string, page broker.PresencePage) (broker.PresenceState, error) {
	st, err := e.Engine.Presence(ctx, topic, page)
	e.read <- struct{}{}
	<-e.resume
	return st, err
}

// A subscription that asks presence again while a failover has lost a
// join it was sent, and whose read is made before the node that made the
// join adds it again, lists nobody; when the join made again comes while
// that read is on its way back, it is sent to the subscription with the
// answer, which it is applied to: the member list holds the user.
func TestRepeatWhileReadingReachesTheReader(t *testing.T) {
	t.Parallel()
	const topic = "room.reread"
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	watching := &pausedReads{
		Engine: newEngine(t, srv.URL(), redis.Config{Prefix: prefix, NodeID: "watching", PresenceLapse: time.Hour}),
		read:   make(chan struct{}, 1), resume: make(chan struct{}),
	}
	b := broker.New(broker.Config{PresenceTopics: []string{"room.*"}}, watching)
	t.Cleanup(func() { _ = b.Close(ctxFor(t)) })
	var resumeOnce sync.Once
	resume := func() { resumeOnce.Do(func() { close(watching.resume) }) }
	t.Cleanup(resume) // before the broker closes: a read the test left waits no more
	e := newEngine(t, "redis://"+px.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "cut", PresenceLapse: resyncLapse})
	if !eventually(func() bool { return redis.Probes(e) > 0 }) {
		t.Fatal("the engine never probed its pub/sub connection")
	}
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	topicKeys, lifeKeys := redis.PresenceKeys(e, topic, redis.PresenceLife(e))
	keys := append(topicKeys, lifeKeys...)
	ch := changer{t, e, topic}

	reader := watchFrom(t, b, topic)
	before := snapshotKeys(t, admin, keys)
	ch.add("s1", "a")
	reader.waitChanges(t, "join a")
	goBackTo(t, admin, keys, before)
	later := watchFrom(t, b, topic) // gets the join made again: a sign it came

	reader.s.HandleText([]byte(fmt.Sprintf(`{"type":"presence","id":"p","topic":%q}`, topic)))
	select {
	case <-watching.read:
	case <-time.After(waitTimeout):
		t.Fatal("the presence command never read")
	}
	reconnected(t, px, e)
	later.waitChanges(t, "join a")
	resume()
	if list := reader.reply(t, "p")["members"].([]any); len(list) != 0 {
		t.Fatalf("the members read before the join was made again: %v, want none", list)
	}
	ch.add("s2", "b")
	reader.waitChanges(t, "join a", "join a", "join b")
}
