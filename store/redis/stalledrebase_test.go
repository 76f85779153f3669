package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// A rebase waits for Redis without holding up the connection of the
// topic it rebases: whether the receive loop meets a seq given again or a
// check finds the topic's position gone back, the other topics of the
// connection are delivered, and the topic's next message is met,
// however long Redis takes to answer the rebase. The messages of the
// epoch left are not handed over meanwhile, and the topic goes on in the
// new epoch once Redis answers.
func TestStalledRebaseHoldsUpNoOtherTopic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		back    uint64 // the seq Redis is put back to, after 4
		byCheck bool   // a check finds it, rather than the receive loop
	}{
		{"SeqGivenAgain", 3, false}, // the next publish gives seq 4 again
		{"PositionGoneBack", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, prefix, pub, sub, px := stalledReads(t)
			var last broker.PublishResult
			for range 3 {
				last = mustPublish(t, pub, request("hole"))
			}
			sub.rec.waitCovered(t, "hole", last.Epoch, 4)
			admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { admin.Close() })
			ctx := ctxFor(t)
			meta, hist := prefix+"{hole}:meta", prefix+"{hole}:hist"
			if err := admin.HSet(ctx, meta, "seq", tc.back, "mark", tc.back).Err(); err != nil {
				t.Fatal(err)
			}
			if err := admin.Del(ctx, hist).Err(); err != nil { // a stream ending at 4 would refuse seq back+1
				t.Fatal(err)
			}
			px.Hold(hist) // the rebase script names the topic's stream; the position read does not
			checked := make(chan error, 1)
			if tc.byCheck {
				check := redis.CheckLater(sub.Engine)
				go func() { checked <- check() }() // the test waits for it below
				if !eventually(func() bool { return px.Held() > 0 }) {
					t.Fatal("the check did not rebase the topic")
				}
			}
			again := mustPublish(t, pub, request("hole"))
			if !tc.byCheck && !eventually(func() bool { return px.Held() > 0 }) {
				t.Fatal("the seq given again did not have the topic rebased")
			}
			other := mustPublish(t, pub, request("other"))
			sub.rec.waitCovered(t, "other", other.Epoch, 1)
			px.Release()
			if tc.byCheck {
				if err := <-checked; err != nil {
					t.Fatalf("check: %v", err)
				}
			}
			var pos broker.Position
			if !eventually(func() bool {
				var err error
				pos, err = pub.Position(ctx, "hole")
				return err == nil && pos.Epoch != last.Epoch
			}) {
				t.Fatalf("topic still at %+v: no new epoch once Redis answered the rebase", pos)
			}
			next := mustPublish(t, pub, request("hole"))
			got := sub.rec.waitCovered(t, "hole", next.Epoch, 1)
			if s := summary(got); s != "m1-4 m1-1" {
				t.Errorf("the topic was handed %s, want m1-4 and then seq 1 of the new epoch", s)
			}
			for _, m := range sub.rec.messages("hole") {
				if m.ID == again.ID {
					t.Errorf("the subscriber was handed %+v of the epoch left", m)
				}
			}
			// The rebase is counted by the goroutine that waited for Redis's
			// answer, which may take it after the receive loop met the next
			// message in the new epoch.
			eventually(func() bool { return sub.Stats().Rebases > 0 })
			if n := sub.Stats().Rebases; n != 1 {
				t.Errorf("%d rebases, want 1", n)
			}
			sub.rec.checkBreaches(t)
		})
	}
}
