package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// A node whose link to Redis is down while more messages than history
// holds reach a topic tells its subscribers, who never disconnected, of
// the range it can no longer deliver (a gap), then goes on with what
// history still has and live messages: no seq is skipped in silence.
func TestLostLinkToRedisIsReportedAsAGap(t *testing.T) {
	redis := redistest.Start(t)
	proxy := redistest.StartProxy(t, redis.Addr())
	prefix := fmt.Sprintf("gap-%d:", time.Now().UnixNano())
	a := startNode(t, options{redisURL: "redis://" + proxy.Addr() + "/0", redisPrefix: prefix, nodeID: "a"})
	b := startNode(t, options{redisURL: redis.URL(), redisPrefix: prefix, nodeID: "b"})

	exact, wild := dial(t, a.ws), dial(t, a.ws)
	exact.subscribe("1", "gap.room")
	wild.subscribe("1", "gap.*")
	for i := 1; i <= 10; i++ {
		publish(t, b, "gap.room", fmt.Sprint(i))
	}
	for _, c := range []*client{exact, wild} {
		for want := uint64(1); want <= 10; want++ {
			if f := c.next(); f.Type != "message" || f.Seq != want {
				t.Fatalf("before the cut: got %+v, want message %d", f, want)
			}
		}
	}

	proxy.Cut()
	for i := 11; i <= 310; i++ { // history keeps the last 100: 211..310
		publish(t, b, "gap.room", fmt.Sprint(i))
	}
	proxy.Restore()

	for name, c := range map[string]*client{"exact": exact, "pattern": wild} {
		f := c.next()
		if f.Type != "gap" || f.Topic != "gap.room" || f.From != 11 || f.To != 210 || f.Epoch == "" {
			t.Fatalf("%s: got %+v, want a gap 11-210 of gap.room", name, f)
		}
		if wantPattern := map[string]string{"exact": "", "pattern": "gap.*"}[name]; f.Pattern != wantPattern {
			t.Errorf("%s: gap tagged %q, want %q", name, f.Pattern, wantPattern)
		}
		for want := uint64(211); want <= 310; want++ {
			if f := c.next(); f.Type != "message" || f.Seq != want {
				t.Fatalf("%s after the gap: got %+v, want message %d", name, f, want)
			}
		}
	}
	publish(t, b, "gap.room", "311")
	for _, c := range []*client{exact, wild} {
		if f := c.next(); f.Type != "message" || f.Seq != 311 {
			t.Fatalf("live after the gap: got %+v, want message 311", f)
		}
	}
}
