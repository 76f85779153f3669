package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node's word that it is behind reaches the other nodes, not itself,
// until it withdraws it or its time runs out, on one server and on
// Cluster alike.
func TestLagBoard(t *testing.T) {
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
		got, err := e.OthersBehind(ctx)
		if err != nil {
			t.Fatalf("OthersBehind: %v", err)
		}
		return got
	}
	mark := func(e *redis.Engine, ttl time.Duration) {
		t.Helper()
		if err := e.MarkBehind(ctx, ttl); err != nil {
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
