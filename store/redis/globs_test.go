package redis_test

import (
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// manyPattern is the i-th of many distinct patterns, of three kinds: a
// literal first token each, a wildcard first token, and one shared first
// token; manyTopic(i) is a topic only it matches.
func manyPattern(i int) string {
	switch i % 3 {
	case 0:
		return fmt.Sprintf("u%d.*", i)
	case 1:
		return fmt.Sprintf("*.v%d", i)
	default:
		return fmt.Sprintf("w.%d.>", i)
	}
}

func manyTopic(i int) string {
	switch i % 3 {
	case 0:
		return fmt.Sprintf("u%d.a", i)
	case 1:
		return fmt.Sprintf("x.v%d", i)
	default:
		return fmt.Sprintf("w.%d.z", i)
	}
}

// numpat is how many pattern subscriptions Redis matches every PUBLISH
// against.
func numpat(t *testing.T, rdb *goredis.Client) int64 {
	t.Helper()
	n, err := rdb.PubSubNumPat(ctxFor(t)).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMPAT: %v", err)
	}
	return n
}

// publishEach publishes one message to the topic of each pattern of is,
// and waits until sub got want of each.
func publishEach(t *testing.T, pub, sub node, is []int, want int) {
	t.Helper()
	for _, i := range is {
		mustPublish(t, pub, request(manyTopic(i)))
	}
	for _, i := range is {
		sub.rec.waitFor(t, manyTopic(i), want)
	}
}

// A thousand patterns of one node reach Redis as a bounded number of
// pattern subscriptions, and each still delivers exactly its topics,
// after a reconnect and after others are unsubscribed.
func TestManyPatternsReachRedisAsFewGlobs(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 10})
	pub, sub := nodes[0], nodes[1]
	const n = 1000
	all := make([]int, n)
	for i := range all {
		all[i] = i
		mustSubscribe(t, sub, manyPattern(i))
	}
	if got := numpat(t, admin); got > redis.MaxGlobs {
		t.Fatalf("%d patterns became %d Redis pattern subscriptions, want at most %d", n, got, redis.MaxGlobs)
	}
	publishEach(t, pub, sub, all, 1)

	if err := admin.ClientKillByFilter(ctxFor(t), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	publishEach(t, pub, sub, all, 2) // what the kill lost comes from history
	if st := sub.Stats(); st.Reconnects == 0 {
		t.Fatalf("no reconnect after CLIENT KILL: %+v", st)
	}
	if got := numpat(t, admin); got > redis.MaxGlobs {
		t.Fatalf("after a reconnect: %d Redis pattern subscriptions, want at most %d", got, redis.MaxGlobs)
	}

	var gone, kept []int
	for i := range all {
		if i%2 == 0 {
			gone = append(gone, i)
			if err := sub.Unsubscribe(ctxFor(t), manyPattern(i)); err != nil {
				t.Fatalf("Unsubscribe: %v", err)
			}
		} else {
			kept = append(kept, i)
		}
	}
	for _, i := range gone {
		mustPublish(t, pub, request(manyTopic(i)))
	}
	publishEach(t, pub, sub, kept, 3) // after those on the same connection
	for _, i := range gone {
		if got := len(sub.rec.messages(manyTopic(i))); got != 2 {
			t.Fatalf("%s got %d messages, want the 2 from before %s was unsubscribed", manyTopic(i), got, manyPattern(i))
		}
	}
	for _, i := range kept {
		if err := sub.Unsubscribe(ctxFor(t), manyPattern(i)); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
	}
	if got := numpat(t, admin); got != 0 {
		t.Fatalf("every pattern unsubscribed: %d Redis pattern subscriptions left", got)
	}
	for _, topic := range []string{manyTopic(0), manyTopic(1)} {
		if gaps := sub.rec.gaps(topic); len(gaps) != 0 {
			t.Errorf("%s: gaps %v, want none: history held everything", topic, gaps)
		}
	}
	sub.rec.checkBreaches(t)
}
