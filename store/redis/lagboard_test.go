package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node's word that it is behind reaches the other nodes, not itself,
// until it withdraws it or its time runs out, on one server and on
// Cluster alike.
func TestLagBoard(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) { testLagBoard(t, redistest.Start(t).URL()) })
	t.Run("cluster", func(t *testing.T) { testLagBoard(t, redistest.StartCluster(t, 3, 0).URL()) })
}

func testLagBoard(t *testing.T, url string) {
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "n"})
	b := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "n"}) // named alike, still two
	ctx := context.Background()
	behind := func(e *redis.Engine) bool {
		t.Helper()
		all, topics, err := e.OthersBehind(ctx)
		if err != nil {
			t.Fatalf("OthersBehind: %v", err)
		}
		return all || len(topics) > 0
	}
	mark := func(e *redis.Engine, ttl time.Duration) {
		t.Helper()
		if err := e.MarkBehind(ctx, ttl, nil); err != nil {
			t.Fatalf("MarkBehind: %v", err)
		}
	}
	if behind(b) {
		t.Fatal("a node is behind before any said so")
	}
	mark(a, time.Minute)
	if !behind(b) || behind(a) {
		t.Fatal("a's word reaches b, and only b")
	}
	mark(a, 0)
	if behind(b) {
		t.Fatal("a's withdrawn word still holds")
	}
	mark(a, 50*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for behind(b) {
		if time.Now().After(deadline) {
			t.Fatal("a's word outlived its time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A word scored further ahead than any node marks itself for was scored
// by a clock ahead of Redis's (a master replaced since by one whose clock
// is behind, or a clock stepped back). Left, it would hold every other
// node's publishers once Redis's clock came near it, though no node is
// behind; so the next look at the board, or mark on it, drops it. A word
// within reach stays.
func TestLagBoardDropsWordsFromAClockAhead(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	a := newEngine(t, srv.URL(), redis.Config{Prefix: prefix})
	b := newEngine(t, srv.URL(), redis.Config{Prefix: prefix})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := ctxFor(t)
	key := redis.LagBoardKey(b)
	leave := func(member string, ahead time.Duration) {
		t.Helper()
		now, err := admin.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := admin.ZAdd(ctx, key, goredis.Z{Score: float64(now.Add(ahead).UnixMilli()), Member: member}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	held := func(member string) bool {
		t.Helper()
		_, err := admin.ZScore(ctx, key, member).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			t.Fatal(err)
		}
		return err == nil
	}
	leave("ghost", 15*time.Second)
	leave("behind", 9*time.Second)
	if all, _, err := b.OthersBehind(ctx); err != nil || !all {
		t.Fatalf("OthersBehind = %v, %v; want the word within reach, without a list, to hold all", all, err)
	}
	if held("ghost") || !held("behind") {
		t.Fatalf("after a look at the board: ghost held %v, want dropped; the word within reach held %v, want kept",
			held("ghost"), held("behind"))
	}
	leave("ghost", time.Minute)
	if err := a.MarkBehind(ctx, 0, nil); err != nil {
		t.Fatal(err)
	}
	if held("ghost") {
		t.Fatal("a mark on the board left the word from a clock ahead")
	}
}
