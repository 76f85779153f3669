package redis_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// The largest user and info a presence entry may carry (docs/protocol.md
// section 8), which make the largest change log entries.
var (
	largestUser = strings.Repeat("u", 256)
	largestInfo = []byte(`{"x":"` + strings.Repeat("i", 1016) + `"}`)
)

// The change log lasts while the topic has presence entries, named or
// anonymous, and goes in the same step as the last one: no node needs it
// then, as every node with subscribers on the topic is present there.
func TestChangeLogGoesWithTheTopicsLastEntry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{PresenceLapse: time.Hour})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ch := changer{t, e, "room.log"}
	logKey := changeLogKey(e, "room.log")
	ttl := func() time.Duration {
		t.Helper()
		d, err := admin.PTTL(ctxFor(t), logKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ch.add("s1", "a")
	ch.add("s2", "") // anonymous: no change, but an entry
	ch.remove("s1", "a")
	if d := ttl(); d != -1 {
		t.Errorf("PTTL of the log while an entry is left = %v, want a log without expiry (-1)", d)
	}
	last, err := admin.XRevRangeN(ctxFor(t), logKey, "+", "-", 1).Result()
	if err != nil || len(last) != 1 {
		t.Fatalf("the log's last entry: %v, %v", last, err)
	}
	ch.remove("s2", "")
	if d := ttl(); d != -2 {
		t.Errorf("PTTL of the log once the topic is empty = %v, want no log (-2)", d)
	}
	endKey := logEndKey(e, "room.log")
	end, err := admin.Get(ctxFor(t), endKey).Result()
	if err != nil || end != last[0].ID {
		t.Errorf("the log's end = %q, %v; want its last entry's ID, %s", end, err, last[0].ID)
	}
	if d, err := admin.PTTL(ctxFor(t), endKey).Result(); err != nil || d <= 0 || d > redis.ChangeLogKeep(time.Hour) {
		t.Errorf("PTTL of the log's end = %v, %v; want up to %v", d, err, redis.ChangeLogKeep(time.Hour))
	}
	ch.add("s3", "b")
	next, err := admin.XRange(ctxFor(t), logKey, "-", "+").Result()
	if err != nil || len(next) != 1 || next[0].Values["p"] != end || !redis.IDAfter(next[0].ID, end) {
		t.Errorf("the log the next join starts = %v, %v; want its one entry, after %s and naming it as the one before", next, err, end)
	}
	if n, err := admin.Exists(ctxFor(t), endKey).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS of the old log's end once a new log started = %d, %v; want it gone", n, err)
	}
}

// An occupied topic's log keeps the changes a node may still need, those
// of the last ChangeLogKeep: a change trims the older ones (whole stream
// nodes of them).
func TestChangeLogKeepsRecentChanges(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// Long enough for the 250 changes to be made within the log's keep
	// (twice the lapse) on a busy machine: made over 600 ms, the first
	// were trimmed by age before they were counted.
	const lapse = 2 * time.Second
	e := newEngine(t, srv.URL(), redis.Config{PresenceLapse: lapse})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ch := changer{t, e, "room.keep"}
	logKey := changeLogKey(e, "room.keep")
	ch.add("holder", "") // keeps the topic occupied
	for i := range 125 {
		u := fmt.Sprint("u", i)
		ch.add("s"+u, u)
		ch.remove("s"+u, u)
	}
	if n, err := admin.XLen(ctxFor(t), logKey).Result(); err != nil || n != 250 {
		t.Fatalf("XLEN after 250 changes = %d, %v", n, err)
	}
	time.Sleep(redis.ChangeLogKeep(lapse) + 100*time.Millisecond)
	ch.add("s-late", "late")
	n, err := admin.XLen(ctxFor(t), logKey).Result()
	if err != nil || n == 0 || n > 100 {
		t.Fatalf("XLEN once the 250 changes are older than %v and one more came = %d, %v; want the last stream node's, at most 100",
			redis.ChangeLogKeep(lapse), n, err)
	}
	last, err := admin.XRevRangeN(ctxFor(t), logKey, "+", "-", 1).Result()
	if err != nil || len(last) != 1 || !strings.Contains(fmt.Sprint(last[0].Values["c"]), "late") {
		t.Errorf("the log's last entry = %v, %v; want the join of late", last, err)
	}
}

// What change logs take in Redis's memory (MEMORY USAGE): once a topic
// is empty, however its users came and went, only the ID of its last
// change, for ChangeLogKeep; and, while it is occupied, at most a full
// log. The figures logged are those of docs/protocol.md section 12.
func TestChangeLogMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{PresenceLapse: time.Hour})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	usage := func(key string) int64 {
		t.Helper()
		n, err := admin.MemoryUsage(ctxFor(t), key, 0).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		return n
	}
	var logs, ends int64
	for i := range 200 {
		topic := fmt.Sprint("room.", i)
		p := broker.PresenceEntry{Topic: topic, Session: "s", User: largestUser, Info: largestInfo}
		mustAdd(t, e, p)
		if err := e.RemovePresence(ctxFor(t), p); err != nil {
			t.Fatal(err)
		}
		logs += usage(changeLogKey(e, topic))
		ends += usage(logEndKey(e, topic))
	}
	t.Logf("one join and leave of the largest user on each of 200 topics, nobody present: logs %d bytes, their ends %d bytes a topic",
		logs, ends/200)
	if logs != 0 || ends > 200*256 {
		t.Errorf("one join and leave on each of 200 topics left %d bytes of change logs and %d of their ends once nobody is present; "+
			"want none and at most 256 bytes a topic", logs, ends)
	}
	// A topic kept occupied while users come and go, as fast as they can:
	// its log holds about ChangeLogCap changes.
	full := func(topic, user string, info []byte) (entries, bytes int64) {
		t.Helper()
		mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "holder"})
		for i := range redis.ChangeLogCap/2 + 100 {
			p := broker.PresenceEntry{Topic: topic, Session: fmt.Sprintf("5e55e55e-0000-4000-8000-%012d", i), User: user, Info: info}
			mustAdd(t, e, p)
			if err := e.RemovePresence(ctxFor(t), p); err != nil {
				t.Fatal(err)
			}
		}
		n, err := admin.XLen(ctxFor(t), changeLogKey(e, topic)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n, usage(changeLogKey(e, topic))
	}
	mustAdd(t, e, broker.PresenceEntry{Topic: "room.one", Session: "holder"})
	changer{t, e, "room.one"}.add("s", "a")
	changer{t, e, "room.one"}.remove("s", "a")
	t.Logf("the change log of an occupied topic after one join and leave: %d bytes", usage(changeLogKey(e, "room.one")))
	const slack = 100 // entries: XADD MAXLEN ~ trims whole stream nodes
	n, largest := full("room.largest", largestUser, largestInfo)
	t.Logf("a full change log of the largest users and infos: %d entries, %d bytes", n, largest)
	if n > redis.ChangeLogCap+slack || largest > (redis.ChangeLogCap+slack)*1536 {
		t.Errorf("a full change log of the largest entries: %d entries, %d bytes; want at most %d, of at most 1.5 KiB each",
			n, largest, redis.ChangeLogCap+slack)
	}
	n, short := full("room.short", "user-000001", benchInfo)
	t.Logf("a full change log of short users and a %d-byte info: %d entries, %d bytes", len(benchInfo), n, short)
	if n > redis.ChangeLogCap+slack {
		t.Errorf("a full change log of short entries: %d entries, want at most %d", n, redis.ChangeLogCap+slack)
	}
}
