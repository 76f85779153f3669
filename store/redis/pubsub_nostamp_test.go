package redis_test

import (
	"fmt"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A Redis full under noeviction refuses the SET of the run key to every
// connection that finds it naming another process, as after a restart:
// such a connection, which would run scripts, is closed before it serves
// (runstamp.go). A pub/sub connection runs none, nor does a probe's
// PUBLISH: the subscriber's node opens one all the same, keeps it, and
// what reaches the topic's channel is delivered.
func TestPubSubWithoutStampWhileRedisIsFull(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	const topic = "full"
	mustSubscribe(t, sub, topic)
	first := mustPublish(t, pub, request(topic))
	sub.rec.waitFor(t, topic, 1)

	do(t, a, "SET", prefix+"run", "0000000000000000") // another process's, as a restart leaves it
	do(t, a, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	do(t, a, "CONFIG", "SET", "maxmemory", "1")  // full: every write refused
	do(t, a, "CLIENT", "KILL", "TYPE", "normal") // no connection stamped before is left, as after a restart
	do(t, a, "CLIENT", "KILL", "TYPE", "pubsub")
	channel := prefix + "m." + topic
	if !eventually(func() bool { return do(t, a, "PUBSUB", "NUMSUB", channel).([]any)[1] == int64(1) }) {
		t.Fatalf("the subscriber's node never subscribed %s again while Redis was full", channel)
	}
	// Its probes find the connection alive: a probe that failed would
	// have it replaced, and what reaches the channel meanwhile lost.
	probes := redis.Probes(sub.Engine)
	if !eventually(func() bool { return redis.Probes(sub.Engine) >= probes+2 }) {
		t.Fatal("the subscriber's node probed its pub/sub connection no more")
	}
	next := request(topic)
	payload := fmt.Sprintf("%s\n%s\n%d\n%s\n%d\n%s", topic, first.Epoch, first.Seq+1, next.ID, next.Time, next.Data)
	do(t, a, "PUBLISH", channel, payload) // PUBLISH takes no memory Redis refuses
	if got := sub.rec.waitFor(t, topic, 2); got[1].ID != next.ID {
		t.Fatalf("delivered %s after the reconnect, want %s", got[1].ID, next.ID)
	}
}
