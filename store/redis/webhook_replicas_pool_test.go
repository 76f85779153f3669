//go:build unix

package redis_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A webhook report waiting for a replica that does not confirm (up to
// 2 s, see docs/protocol.md section 11) holds the connection its script
// went on, as WAIT counts that connection's writes. Borrowed from the
// pool of the engine's client, the eight recorders and a resync held as
// many of its connections (ten per CPU), and the node's calls that share
// it (publishes with an idempotency key, history reads and resumes,
// presence) waited for one: here, with two in the pool, they failed once
// the pool's wait ran out.
func TestReportsWaitingForAReplicaLeaveTheOtherCallsTheirConnections(t *testing.T) {
	t.Parallel()
	master, replica := redistest.Start(t), redistest.Start(t)
	replicate(t, master, replica, master.Addr())
	const pool = 2
	e := newEngine(t, fmt.Sprintf("%s?pool_size=%d&pool_timeout=300ms", master.URL(), pool),
		redis.Config{NodeID: "a", HistorySize: 10})
	t.Cleanup(replica.Resume) // before the engine closes
	if _, err := e.QueueEvent(ctxFor(t), []byte(`"before"`), 100); err != nil {
		t.Fatal(err)
	}

	replica.Pause()
	const reports = pool + 1
	done := make(chan error, reports)
	for i := range reports {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := e.QueueEvent(ctx, []byte(fmt.Sprintf(`"waiting %d"`, i)), 100)
			done <- err
		}()
	}
	onMaster := redisOn(t, master.Addr())
	if !eventually(func() bool { return infoNumber(t, onMaster, "clients", "blocked_clients:") >= pool }) {
		t.Fatal("the reports never waited for the replica")
	}
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := e.Publish(ctx, broker.PublishRequest{Topic: "room.a", Data: []byte("m"), IdempotencyKey: fmt.Sprint(i)})
		if err != nil {
			t.Errorf("publish %d while reports waited for the replica: %v", i, err)
		}
		if _, err := e.History(ctx, "room.a", 0, 10); err != nil {
			t.Errorf("history read %d while reports waited for the replica: %v", i, err)
		}
		cancel()
	}
	t.Logf("%d of %d reports ended while the node published", len(done), reports)
	if n := redis.PoolTimeouts(e); n != 0 {
		t.Errorf("%d calls found no free connection in the engine's pool", n)
	}
	for range reports {
		if err := <-done; err != nil {
			t.Errorf("a report waiting for the stopped replica: %v", err)
		}
	}
}

// replicate makes replica a replica of master, following the address via
// (master's own, or a link to it), and waits until master counts it
// online and the replica holds master's data. A master counts a replica
// online once it sent it the whole of its data, which the replica may
// still be reading then: one told REPLICAOF NO ONE in that time gives the
// sync up and keeps the data it had before.
func replicate(t *testing.T, master, replica *redistest.Server, via string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(via)
	onReplica := redisOn(t, replica.Addr())
	if err := onReplica.Do(ctxFor(t), "REPLICAOF", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	onMaster := redisOn(t, master.Addr())
	if !eventually(func() bool {
		info, _ := onMaster.Info(ctxFor(t), "replication").Result()
		mine, _ := onReplica.Info(ctxFor(t), "replication").Result()
		return strings.Contains(info, "state=online") && strings.Contains(mine, "master_link_status:up")
	}) {
		t.Fatal("the replica never synced")
	}
}

// infoNumber is the number after field in the section of INFO of the
// server c talks to.
func infoNumber(t *testing.T, c *goredis.Client, section, field string) int {
	t.Helper()
	info, err := c.Info(ctxFor(t), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(info, field)
	n := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
