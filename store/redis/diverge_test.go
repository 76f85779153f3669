package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// TestSeqGoneBackStartsNewEpoch puts a topic's position in Redis back
// below what a node handed over, as a Redis restarted from an older
// snapshot would (the failover tests cover a replica taking over, which
// the publish script itself notices). The node that handed the lost seqs
// over starts the topic a new epoch, whether it sees the position go back
// or a seq it handed over arrive again naming another message.
func TestSeqGoneBackStartsNewEpoch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	for _, tc := range []struct {
		name string
		back uint64 // the seq Redis is put back to, after 8
	}{
		{"Below", 5},        // found by the position check
		{"SameSeqOther", 7}, // the next publish gives seq 8 again
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const topic = "back"
			prefix := uniquePrefix(t)
			nodes := cluster(t, srv, 2, redis.Config{HistorySize: 100, Prefix: prefix})
			pub, sub := nodes[0], nodes[1]
			mustSubscribe(t, sub, topic)
			var last broker.PublishResult
			for range 8 {
				last = mustPublish(t, pub, request(topic))
			}
			sub.rec.waitFor(t, topic, 8)
			ctx := ctxFor(t)
			meta, hist := prefix+"{"+topic+"}:meta", prefix+"{"+topic+"}:hist"
			if err := admin.HSet(ctx, meta, "seq", tc.back, "mark", tc.back).Err(); err != nil {
				t.Fatal(err)
			}
			if err := admin.Del(ctx, hist).Err(); err != nil { // a stream ending at 8 would refuse seq back+1
				t.Fatal(err)
			}
			again := mustPublish(t, pub, request(topic))
			if again.Epoch != last.Epoch || again.Seq != tc.back+1 {
				t.Fatalf("publish after the loss = %+v, want seq %d of the same epoch", again, tc.back+1)
			}
			var pos broker.Position
			if !eventually(func() bool {
				var err error
				pos, err = pub.Position(ctx, topic)
				return err == nil && pos.Epoch != last.Epoch
			}) {
				t.Fatalf("topic still at %+v: no new epoch after its seq went back from 8 to %d", pos, tc.back)
			}
			// The node counts its rebase once Redis took it: a moment after
			// the new epoch shows there.
			eventually(func() bool { return sub.Stats().Rebases >= 1 })
			if got := sub.Stats().Rebases; got != 1 {
				t.Errorf("the subscriber's node counted %d rebases, want 1", got)
			}
			next := mustPublish(t, pub, request(topic))
			if next.Epoch != pos.Epoch || next.Seq != 1 {
				t.Fatalf("publish in the new epoch = %+v, want seq 1 of %s", next, pos.Epoch)
			}
			if !eventually(func() bool {
				got := sub.rec.messages(topic)
				return got[len(got)-1].ID == next.ID
			}) {
				t.Fatal("the subscriber never got the message of the new epoch")
			}
			for _, m := range sub.rec.messages(topic) {
				if m.ID == again.ID {
					t.Errorf("the subscriber was handed %+v, which reused seq %d", m, m.Seq)
				}
			}
			sub.rec.checkBreaches(t)
		})
	}
}
