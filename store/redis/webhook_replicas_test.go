//go:build unix

package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A webhook report counts as stored only once the master's replica holds
// it (docs/protocol.md section 11), on Sentinel here: a replica that does
// not confirm is waited for a bounded time, and a master killed before
// its replica took a report loses none, as the report goes to the new
// master. A vacating sent again so lets its topic go at once, as the
// sender may have sent its topic_vacated from the master that died.
func TestWebhookReportsWaitForTheReplica(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	master, replica := sentinelServers(t, s)
	ctx := context.Background()

	// A replica that stopped answering holds a report back only so long:
	// the reports are then taken from the master alone.
	late := newEngine(t, s.URL(), redis.Config{NodeID: "late"})
	replica.Pause()
	for _, ev := range []string{`"late 1"`, `"late 2"`} {
		if _, err := late.QueueEvent(ctx, []byte(ev), 100); err != nil {
			t.Fatalf("QueueEvent(%s) while the replica is stopped: %v", ev, err)
		}
	}
	replica.Resume()
	s.WaitSynced()

	// The master's replication link is full and its replica stopped, so
	// that what the master takes next dies with it: an event, and the
	// vacating of a topic, whose topic_vacated the sender moves into the
	// queue at once.
	prefix := uniquePrefix(t)
	e := newEngine(t, s.URL(), redis.Config{Prefix: prefix, NodeID: "a"})
	occupied, vacated := []byte(`"occupied"`), []byte(`"vacated"`)
	if _, err := e.OccupyTopic(ctx, "room.x", "a", occupied, vacated, 100, 100); err != nil {
		t.Fatal(err)
	}
	replica.Pause()
	fillReplicationLink(t, master.Addr())
	queued, vacating := make(chan error, 1), make(chan error, 1)
	go func() {
		queued <- untilStored(func(ctx context.Context) error { _, err := e.QueueEvent(ctx, []byte(`"cut off"`), 100); return err })
	}()
	go func() {
		vacating <- untilStored(func(ctx context.Context) error { return e.VacateTopic(ctx, "room.x", "a", time.Now(), vacated) })
	}()
	onMaster := redisOn(t, master.Addr())
	if !eventually(func() bool {
		return streamHolds(t, onMaster, prefix+"{webhooks}:events", `"cut off"`) &&
			onMaster.HExists(ctx, prefix+"{webhooks}:vac", "room.x").Val()
	}) {
		t.Fatal("the master never took the reports")
	}
	if _, err := e.QueueVacated(ctx, time.Now().Add(time.Second), 100, 100); err != nil {
		t.Fatal(err)
	}
	if !streamHolds(t, onMaster, prefix+"{webhooks}:events", `"vacated"`) {
		t.Fatal("topic_vacated not queued on the master")
	}
	old := master.Addr()
	master.Kill()
	replica.Resume()
	s.WaitFailover(old)
	if err := <-queued; err != nil {
		t.Fatalf("the event was never stored: %v", err)
	}
	if err := <-vacating; err != nil {
		t.Fatalf("the vacating was never stored: %v", err)
	}
	// The sender may have sent topic_vacated: a subscriber who comes now
	// is reported.
	if _, err := e.OccupyTopic(ctx, "room.x", "a", occupied, vacated, 100, 100); err != nil {
		t.Fatal(err)
	}
	var events [][]byte
	if !eventually(func() bool {
		var err error
		events, _, _, _, err = e.NextEvents(ctx, "a", 10, time.Second)
		return err == nil
	}) {
		t.Fatal("the queue was never read from the new master")
	}
	var others, topic []string
	for _, ev := range events {
		if s := string(ev); s == string(occupied) || s == string(vacated) {
			topic = append(topic, s)
		} else {
			others = append(others, s)
		}
	}
	if got := strings.Join(others, " "); got != `"cut off"` {
		t.Errorf("the events after the failover: %s, want \"cut off\"", got)
	}
	if got := strings.Join(topic, " "); got != `"occupied" "vacated" "occupied"` {
		t.Errorf("the topic's events after the failover: %s, want \"occupied\" \"vacated\" \"occupied\"", got)
	}
}

// sentinelServers are s's master and replica.
func sentinelServers(t *testing.T, s *redistest.Sentinel) (master, replica *redistest.Node) {
	t.Helper()
	addr := s.MasterAddr()
	for _, n := range s.Servers() {
		if n.Addr() == addr {
			master = n
		} else {
			replica = n
		}
	}
	if master == nil || replica == nil {
		t.Fatal("the sentinels' master is none of the servers")
	}
	return master, replica
}

// untilStored runs report as api/hooks does: again while it fails, here
// for 30 s at most.
func untilStored(report func(context.Context) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := report(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// redisOn is a client of the server at addr, closed when the test ends.
func redisOn(t *testing.T, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// fillReplicationLink writes a value of 32 MiB on the master at addr,
// whose replica is stopped, so that what comes next stays in the
// master's buffers: the kernel's would otherwise keep it for the replica
// to read once it runs again, and no kill would lose it.
func fillReplicationLink(t *testing.T, addr string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.Set(ctxFor(t), "filler", strings.Repeat("x", 32<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// streamHolds reports whether the stream key on c's server holds an
// entry whose field e is event.
func streamHolds(t *testing.T, c *goredis.Client, key, event string) bool {
	t.Helper()
	entries, err := c.XRange(ctxFor(t), key, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", key, err)
	}
	for _, entry := range entries {
		if entry.Values["e"] == event {
			return true
		}
	}
	return false
}
