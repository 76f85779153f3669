package redis_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A node behind lists the topics it is busy delivering; the other nodes
// read the union of the lists of the nodes behind, or all topics when
// one of them said all, on one server and on Cluster alike. A withdrawn
// word takes its list with it.
func TestLagBoardTopics(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) { testLagBoardTopics(t, redistest.Start(t).URL()) })
	t.Run("cluster", func(t *testing.T) { testLagBoardTopics(t, redistest.StartCluster(t, 3, 0).URL()) })
}

func testLagBoardTopics(t *testing.T, url string) {
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix})
	b := newEngine(t, url, redis.Config{Prefix: prefix})
	c := newEngine(t, url, redis.Config{Prefix: prefix})
	ctx := ctxFor(t)
	mark := func(e *redis.Engine, topics ...string) {
		t.Helper()
		if err := e.MarkBehind(ctx, time.Minute, topics); err != nil {
			t.Fatalf("MarkBehind: %v", err)
		}
	}
	others := func(e *redis.Engine, wantAll bool, want ...string) {
		t.Helper()
		all, topics, err := e.OthersBehind(ctx)
		if err != nil {
			t.Fatalf("OthersBehind: %v", err)
		}
		if all != wantAll || !slices.Equal(topics, want) {
			t.Fatalf("OthersBehind = %v, %q; want %v, %q", all, topics, wantAll, want)
		}
	}
	mark(a, "room.hot", "news", "room.hot") // a repeat is taken once
	others(b, false, "news", "room.hot")
	others(a, false) // its own word holds nobody here
	mark(a, "room.hot", "news")
	others(b, false, "news", "room.hot") // unchanged, from what b read before
	mark(c, "news", "sport")
	others(b, false, "news", "room.hot", "sport")
	mark(a, "room.hot")
	others(b, false, "news", "room.hot", "sport")
	others(c, false, "room.hot")
	mark(c) // no list: all topics
	others(b, true)
	others(a, true)
	if err := c.MarkBehind(ctx, 0, nil); err != nil {
		t.Fatal(err)
	}
	others(b, false, "room.hot")
	if err := a.MarkBehind(ctx, 50*time.Millisecond, []string{"room.hot"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, topics, err := b.OthersBehind(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !all && len(topics) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a's word outlived its time: %v, %q", all, topics)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A list the board would not keep small says "all topics" instead: more
// than MaxBehindTopics topics, or one that is no topic.
func TestLagBoardListIsBounded(t *testing.T) {
	url := redistest.Start(t).URL()
	prefix := uniquePrefix(t)
	a := newEngine(t, url, redis.Config{Prefix: prefix})
	b := newEngine(t, url, redis.Config{Prefix: prefix})
	ctx := ctxFor(t)
	many := make([]string, redis.MaxBehindTopics+1)
	for i := range many {
		many[i] = fmt.Sprintf("t.%d", i)
	}
	for _, list := range [][]string{many, {"ok", "no\nline"}, {strings.Repeat("x", 256)}, {"a.*"}} {
		if err := a.MarkBehind(ctx, time.Minute, list); err != nil {
			t.Fatal(err)
		}
		if all, topics, err := b.OthersBehind(ctx); err != nil || !all {
			t.Fatalf("list of %d topics starting %.20q: OthersBehind = %v, %d topics, %v; want all",
				len(list), list[0], all, len(topics), err)
		}
	}
	if err := a.MarkBehind(ctx, time.Minute, many[:redis.MaxBehindTopics]); err != nil {
		t.Fatal(err)
	}
	if all, topics, err := b.OthersBehind(ctx); err != nil || all || len(topics) != redis.MaxBehindTopics {
		t.Fatalf("a list of MaxBehindTopics: OthersBehind = %v, %d topics, %v", all, len(topics), err)
	}
}

// An unchanged list is neither written nor sent again: a node behind
// marks itself every tick, and each other node publishing reads the
// board every tick. A list gone from the board (Redis lost it) is
// written again at the next mark. A node on the board without a list (a
// release before the lists) holds every topic.
func TestLagBoardSendsAListOnce(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	a := newEngine(t, srv.URL(), redis.Config{Prefix: prefix})
	b := newEngine(t, srv.URL(), redis.Config{Prefix: prefix})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := ctxFor(t)
	hash, node := redis.LagTopicsKey(a), redis.ProbeID(a)
	stored := func() string {
		t.Helper()
		v, err := admin.HGet(ctx, hash, node).Result()
		if err != nil && err != goredis.Nil {
			t.Fatal(err)
		}
		return v
	}
	mark := func() {
		t.Helper()
		if err := a.MarkBehind(ctx, time.Minute, []string{"hot"}); err != nil {
			t.Fatal(err)
		}
	}
	others := func() []string {
		t.Helper()
		all, topics, err := b.OthersBehind(ctx)
		if err != nil || all {
			t.Fatalf("OthersBehind = %v, %q, %v", all, topics, err)
		}
		return topics
	}
	mark()
	first := stored()
	gen, list, _ := strings.Cut(first, "\n")
	if list != "hot" {
		t.Fatalf("stored %q, want a gen and hot", first)
	}
	if got := others(); !slices.Equal(got, []string{"hot"}) {
		t.Fatalf("b read %q", got)
	}
	// Another list under the same gen: a mark that wrote its list would
	// replace it, a read that fetched it would see it.
	if err := admin.HSet(ctx, hash, node, gen+"\nplanted").Err(); err != nil {
		t.Fatal(err)
	}
	mark()
	if got := stored(); got != gen+"\nplanted" {
		t.Fatalf("an unchanged list was written again: %q", got)
	}
	if got := others(); !slices.Equal(got, []string{"hot"}) {
		t.Fatalf("an unchanged list was read again: b read %q", got)
	}
	if err := admin.HDel(ctx, hash, node).Err(); err != nil {
		t.Fatal(err)
	}
	mark()
	if got := stored(); !strings.HasSuffix(got, "\nhot") || strings.HasPrefix(got, gen+"\n") {
		t.Fatalf("a list gone from the board: stored %q after a mark, want hot under a new gen", got)
	}
	if got := others(); !slices.Equal(got, []string{"hot"}) {
		t.Fatalf("b read %q", got)
	}
	now, err := admin.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.ZAdd(ctx, redis.LagBoardKey(a), goredis.Z{Score: float64(now.Add(5 * time.Second).UnixMilli()), Member: "old-release"}).Err(); err != nil {
		t.Fatal(err)
	}
	if all, _, err := b.OthersBehind(ctx); err != nil || !all {
		t.Fatalf("a node behind without a list: OthersBehind = %v, %v; want all topics", all, err)
	}
	if err := a.MarkBehind(ctx, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "" {
		t.Fatalf("a withdrawn word left its list: %q", got)
	}
	if err := a.MarkBehind(ctx, time.Millisecond, []string{"hot"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, _, err := b.OthersBehind(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "" {
		t.Fatalf("a word whose time ran out left its list: %q", got)
	}
}
