//go:build unix

package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node that closes while a presence round tells its terms leaves none
// in presence.synced, even when the round's write reaches Redis after
// Close removed them: Close removes them again once its last round has
// ended. Its life is gone from the registry, so no node would clean up
// after it, and the hash would keep a field for every such close.
func TestClosingNodeLeavesNoTermsBehind(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	// The round's write waits in the proxy; a long Timeout keeps the round
	// waiting for it rather than giving up before the test releases it.
	e := newEngine(t, "redis://"+proxy.Addr()+"/0", redis.Config{PresenceLapse: testLapse, Timeout: 10 * time.Second})
	admin := admin(t, srv.Addr())
	synced, life := redis.PresenceSynced(e), redis.PresenceLife(e)
	told := func() bool { return do(t, admin, "HEXISTS", synced, life).(int64) == 1 }
	if !eventually(told) {
		t.Fatal("the node never told its terms")
	}
	proxy.HoldSends(fmt.Sprintf("hset\r\n$%d\r\n%s\r\n", len(synced), synced)) // the next round's write of them
	if !eventually(func() bool { return proxy.Held() == 1 }) {
		t.Fatalf("%d connections held, want the round's", proxy.Held())
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close(ctxFor(t)) }()
	if !eventually(func() bool { return !told() }) {
		t.Fatal("Close did not remove the node's terms")
	}
	proxy.Release() // the round's write lands now, after Close removed them
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if told() {
		t.Fatalf("the closed node's terms are still in %s under %s", synced, life)
	}
}

// A round's write of the terms that reaches Redis only after the closing
// node gave up on it (its reply timed out, so Close did not wait for it)
// and after Close removed them is removed by a live node's next round:
// the life it is written under is in the registry no more, and nobody
// would clean up after it.
func TestTermsWrittenAfterTheirNodeClosedAreRemoved(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	prefix := uniquePrefix(t)
	// A short Timeout: the round gives up on its held write, and Close
	// returns while the proxy still holds it.
	e := newEngine(t, "redis://"+proxy.Addr()+"/0", redis.Config{Prefix: prefix, PresenceLapse: testLapse, Timeout: 300 * time.Millisecond})
	admin := admin(t, srv.Addr())
	synced, life := redis.PresenceSynced(e), redis.PresenceLife(e)
	told := func() bool { return do(t, admin, "HEXISTS", synced, life).(int64) == 1 }
	if !eventually(told) {
		t.Fatal("the node never told its terms")
	}
	proxy.HoldSends(fmt.Sprintf("hset\r\n$%d\r\n%s\r\n", len(synced), synced))
	if !eventually(func() bool { return proxy.Held() >= 1 }) {
		t.Fatal("no round's write of the terms was held")
	}
	if err := e.Close(ctxFor(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if told() {
		t.Fatal("Close left the node's terms")
	}
	proxy.Release() // the write lands now, after Close returned
	if !eventually(told) {
		t.Fatal("the held write of the terms never reached Redis")
	}
	newEngine(t, srv.URL(), redis.Config{Prefix: prefix, PresenceLapse: testLapse})
	if !eventually(func() bool { return !told() }) {
		t.Fatalf("the closed node's terms, written late, are still in %s under %s", synced, life)
	}
}
