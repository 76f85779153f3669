//go:build unix

package redis_test

import (
	"context"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The check of the joins sent after a reconnect reads Redis once per
// topic watched here, however many: a node keeps beating while it runs.
// Run inside the heartbeat's loop, a check longer than the lapse (tens of
// thousands of watched topics, or a slow Redis) had the node taken for
// dead, its members' leaves sent by the others.
func TestNodeBeatsWhileItChecksTheJoinsItSent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{NodeID: "a", PresenceLapse: testLapse})
	h := &slowLostLeaves{recorder: newRecorder(), started: make(chan struct{}, 1)}
	e.Attach(h)
	mustSubscribe(t, e, "room.a")
	mustAdd(t, e, broker.PresenceEntry{Topic: "room.a", Session: "s1", User: "ada"})

	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.Do(ctxFor(t), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.started:
	case <-ctxFor(t).Done():
		t.Fatal("the joins sent were never checked after the reconnect")
	}
	beat := func() float64 {
		return admin.ZScore(ctxFor(t), redis.PresenceNodes(e), redis.PresenceLife(e)).Val()
	}
	first := beat()
	if !eventually(func() bool { return beat() > first+float64(testLapse.Milliseconds()) }) {
		t.Fatalf("no heartbeat for %v while the check ran", waitTimeout)
	}
}

// slowLostLeaves is a Handler whose check of the joins it sent takes
// until the engine closes.
type slowLostLeaves struct {
	*recorder
	started chan struct{}
}

func (h *slowLostLeaves) SendLostLeaves(ctx context.Context) error {
	select {
	case h.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}
