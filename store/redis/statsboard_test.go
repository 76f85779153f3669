package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The stats board reads every node's stats with a fixed number of calls,
// on one server and on Cluster alike, and forgets a node that stops
// posting or is removed.
func TestStatsBoard(t *testing.T) {
	t.Run("standalone", func(t *testing.T) { testStatsBoard(t, redistest.Start(t).URL()) })
	t.Run("cluster", func(t *testing.T) { testStatsBoard(t, redistest.StartCluster(t, 3, 0).URL()) })
}

func testStatsBoard(t *testing.T, url string) {
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "a"})
	b := newEngine(t, url, redis.Config{Prefix: prefix, NodeID: "b"})
	ctx := context.Background()
	read := func(e *redis.Engine, max int) []string {
		t.Helper()
		got, err := e.ReadStats(ctx, max)
		if err != nil {
			t.Fatalf("ReadStats: %v", err)
		}
		var out []string
		for _, s := range got {
			out = append(out, string(s))
		}
		slices.Sort(out)
		return out
	}
	mustPost := func(e *redis.Engine, node, stats string, ttl time.Duration) {
		t.Helper()
		if err := e.PostStats(ctx, node, []byte(stats), ttl); err != nil {
			t.Fatalf("PostStats: %v", err)
		}
	}
	mustPost(a, "a", `{"node":"a"}`, time.Minute)
	mustPost(b, "b", `{"node":"b","v":1}`, time.Minute)
	mustPost(b, "b", `{"node":"b","v":2}`, time.Minute) // replaces
	if got := read(a, 10); len(got) != 2 || got[0] != `{"node":"a"}` || got[1] != `{"node":"b","v":2}` {
		t.Fatalf("a reads %q, want both nodes' latest", got)
	}
	if got := read(b, 1); len(got) != 1 {
		t.Fatalf("read at most 1 gave %q", got)
	}

	if err := a.RemoveStats(ctx, "a"); err != nil {
		t.Fatalf("RemoveStats: %v", err)
	}
	if got := read(b, 10); len(got) != 1 || got[0] != `{"node":"b","v":2}` {
		t.Fatalf("after a left, b reads %q", got)
	}

	mustPost(a, "c", `{"node":"c"}`, 100*time.Millisecond)
	if got := read(b, 10); len(got) != 2 {
		t.Fatalf("b reads %q, want b and c", got)
	}
	for deadline := time.Now().Add(5 * time.Second); len(read(b, 10)) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("c's stats did not expire: %q", read(b, 10))
		}
	}
}
