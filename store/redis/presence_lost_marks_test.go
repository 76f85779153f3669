//go:build unix

package redis_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
	goredis "github.com/redis/go-redis/v9"
)

// The users a topic marked for their lost joins' leaves are forgotten
// once their marks end, though later marks keep the hash: before, a
// topic whose leaves kept being reported kept every user it ever
// marked, the hash renewed by each. On one server and on Cluster.
func TestLostJoinsMarksForgottenPastTheirEnd(t *testing.T) {
	t.Parallel()
	onOneServerAndCluster(t, testMarksForgottenPastTheirEnd)
}

func testMarksForgottenPastTheirEnd(t *testing.T, url string, masterOf func(key string) string) {
	const topic = "room.marks"
	es, _ := presenceCluster(t, url, 1, testLapse)
	e := es[0]
	report := func(keep time.Duration, users ...string) {
		t.Helper()
		var joins []broker.SentJoin
		for _, u := range users {
			joins = append(joins, broker.SentJoin{User: u, Session: "s-" + u})
		}
		if _, err := redis.ReportLostJoinsKept(ctxFor(t), e, topic, keep, joins); err != nil {
			t.Fatal(err)
		}
	}
	// keeper's mark keeps the hash while twenty short ones end.
	report(time.Minute, "keeper")
	var short []string
	for i := range 20 {
		short = append(short, fmt.Sprintf("u%02d", i))
	}
	report(200*time.Millisecond, short...) // none ends within the report
	taken := redis.LostJoinsTaken(e, topic)
	slot := admin(t, masterOf(taken))
	ends, err := slot.HGetAll(ctxFor(t), taken).Result()
	if err != nil || len(ends) != 21 {
		t.Fatalf("marked %d users (%v), want 21", len(ends), err)
	}
	var last int64
	for _, u := range short {
		end, _ := strconv.ParseInt(ends[u], 10, 64)
		last = max(last, end)
	}
	waitClockPast(t, slot, last, "the short marks' end")

	// Each later mark forgets up to 16 of those past their end.
	report(time.Minute, "late1")
	report(time.Minute, "late2")
	users, err := slot.HKeys(ctxFor(t), taken).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(users)
	if want := []string{"keeper", "late1", "late2"}; !slices.Equal(users, want) {
		t.Errorf("marked %v, want %v", users, want)
	}
	byEnd := redis.LostJoinsTakenEnds(e, topic)
	if n := slot.ZCard(ctxFor(t), byEnd).Val(); n != 3 {
		t.Errorf("%d users kept by end, want 3", n)
	}
	if ttl := slot.PTTL(ctxFor(t), byEnd).Val(); ttl <= 0 {
		t.Errorf("the users by end are kept %v, want until their marks end", ttl)
	}
}

// waitClockPast waits for Redis's clock at slot to pass ms, a time in
// Unix milliseconds (end says what it is).
func waitClockPast(t *testing.T, slot *goredis.Client, ms int64, end string) {
	t.Helper()
	if !eventually(func() bool {
		now, err := slot.Time(ctxFor(t)).Result()
		return err == nil && now.UnixMilli() > ms
	}) {
		t.Fatal("Redis's clock never passed " + end)
	}
}
