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

// stallingPresence is a recorder whose first HandlePresence blocks until
// release: a Handler that takes its time over a join.
type stallingPresence struct {
	*recorder
	once, released sync.Once
	stalled, gate  chan struct{}
}

func (s *stallingPresence) HandlePresence(c broker.PresenceChange) {
	s.once.Do(func() { close(s.stalled); <-s.gate })
	s.recorder.HandlePresence(c)
}

func (s *stallingPresence) release() { s.released.Do(func() { close(s.gate) }) }

// stallingPair starts two engines on srv with cfg, sharing its prefix (a
// new one if it has none): pub, and sub with a stallingPresence attached,
// released before sub's Close (which waits for the Handler).
func stallingPair(t *testing.T, srv *redistest.Server, cfg redis.Config) (pub, sub *redis.Engine, h *stallingPresence) {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix(t)
	}
	pub = newEngine(t, srv.URL(), cfg)
	sub = newEngine(t, srv.URL(), cfg)
	h = &stallingPresence{recorder: newRecorder(), stalled: make(chan struct{}), gate: make(chan struct{})}
	sub.Attach(h)
	t.Cleanup(h.release)
	return pub, sub, h
}

// A Handler that blocks on a join holds up neither the probes nor the
// position checks of the other topics, and the joins and leaves that
// come meanwhile, live or replayed after a reconnect, reach it once it
// goes on, in order, each once.
func TestSlowPresenceHandlerHoldsUpNothingElse(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	prefix := uniquePrefix(t)
	pub, sub, h := stallingPair(t, srv, redis.Config{Prefix: prefix, HistorySize: 10})
	const room, other = "slow.room", "slow.other"
	mustSubscribe(t, sub, room)
	mustSubscribe(t, sub, other)
	mustPublish(t, pub, request(other))
	h.waitFor(t, other, 1)

	ch := changer{t, pub, room}
	ch.add("s1", "a")
	<-h.stalled
	ch.add("s2", "b")
	ch.remove("s1", "a")
	probes := redis.Probes(sub)
	if !eventually(func() bool { return redis.Probes(sub) >= probes+3 }) {
		t.Fatalf("%d probes while the Handler blocked, want 3 or more", redis.Probes(sub)-probes)
	}
	if st := sub.Stats(); st.Reconnects != 0 {
		t.Fatalf("the pub/sub connection was replaced while the Handler blocked: %+v", st)
	}
	// A message pub/sub lost, which only the check after a reconnect finds.
	lost := inject(t, srv, prefix, other)
	if err := admin.ClientKillByFilter(ctxFor(t), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	if got := h.waitFor(t, other, 2); got[1].ID != lost.ID {
		t.Fatalf("%s got %s after the reconnect, want the lost %s", other, got[1].ID, lost.ID)
	}
	if n := len(h.presenceChanges(room)); n != 0 {
		t.Fatalf("%d changes handed over while the Handler blocked on the first", n)
	}
	h.release()
	ch.add("s3", "c") // queued after anything queued twice, which would come before it
	waitChanges(t, h.recorder, room, "+a", "+b", "-a", "+c")
	h.checkBreaches(t)
}

// More joins than the queue holds, while the Handler blocks, have the
// node wait for it rather than drop any: each reaches it once, in order.
func TestPresenceQueueOverflowLosesNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	pub, sub, h := stallingPair(t, srv, redis.Config{})
	const room = "full.room"
	mustSubscribe(t, sub, room)
	ch := changer{t, pub, room}
	ch.add("s0", "u0")
	<-h.stalled
	want := []string{"+u0"}
	for i := 1; i <= redis.PresenceQueue+100; i++ {
		user := fmt.Sprintf("u%d", i)
		ch.add("s"+user, user)
		want = append(want, "+"+user)
	}
	h.release()
	waitChanges(t, h.recorder, room, want...)
	h.checkBreaches(t)
}

// Unsubscribing a topic whose change the Handler is taking its time over
// waits for that change, and holds up nothing else: the node's other
// subscriptions come and go meanwhile.
func TestUnsubscribeDuringSlowHandoverHoldsUpNoOtherTopic(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	pub, sub, h := stallingPair(t, srv, redis.Config{})
	const room = "held.room"
	mustSubscribe(t, sub, room)
	ch := changer{t, pub, room}
	ch.add("s1", "a")
	<-h.stalled
	unsubscribed := make(chan error, 1)
	go func() { unsubscribed <- sub.Unsubscribe(context.Background(), room) }()
	if !eventually(func() bool { return redis.ChangeMarks(sub) == 0 }) { // it waits for the change from here on
		t.Fatal("Unsubscribe did not drop the topic's mark")
	}
	subscribed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := sub.Subscribe(ctx, "held.other")
		if err == nil {
			err = sub.Unsubscribe(ctx, "held.other")
		}
		subscribed <- err
	}()
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("another topic, while the Handler held a change of one being unsubscribed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("another topic's subscription waited for the Handler to hand over a change of the one being unsubscribed")
	}
	select {
	case err := <-unsubscribed:
		t.Fatalf("Unsubscribe returned (%v) while a change of its topic was being handed over", err)
	default:
	}
	h.release()
	if err := <-unsubscribed; err != nil {
		t.Fatal(err)
	}
}
