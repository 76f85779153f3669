//go:build unix

package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A Redis user refused WAIT but not ROLE (an ACL that takes WAIT out by
// name, or @connection's other commands being allowed one by one) has
// its reports taken without a replica's confirmation, as one refused
// ROLE has: the script ran before WAIT was refused, and a report failed
// for it was sent again and queued again, every time, for good.
func TestReportsOfAUserRefusedWaitAreQueuedOnce(t *testing.T) {
	t.Parallel()
	master, replica := redistest.Start(t), redistest.Start(t)
	replicate(t, master, replica, master.Addr())
	onMaster := redisOn(t, master.Addr())
	if err := onMaster.Do(ctxFor(t), "ACL", "SETUSER", "herald", "on", ">pw", "+@all", "-wait", "~*", "&*").Err(); err != nil {
		t.Fatal(err)
	}
	prefix := uniquePrefix(t)
	e := newEngine(t, "redis://herald:pw@"+master.Addr()+"/0", redis.Config{Prefix: prefix, NodeID: "a"})
	for _, ev := range []string{`"one"`, `"two"`} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := e.QueueEvent(ctx, []byte(ev), 100)
		cancel()
		if err != nil {
			t.Fatalf("QueueEvent(%s) as a user refused WAIT: %v", ev, err)
		}
	}
	if n := onMaster.XLen(ctxFor(t), prefix+"{webhooks}:events").Val(); n != 2 {
		t.Errorf("%d events queued, want 2", n)
	}
}
