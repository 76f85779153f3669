package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

func TestStatsCountErrorsAndReconnects(t *testing.T) {
	srv := redistest.Start(t)
	n := cluster(t, srv, 1, redis.Config{
		ProbeInterval: 50 * time.Millisecond, Timeout: 500 * time.Millisecond,
		CheckInterval: time.Hour, // no background call may fail between the counts below
	})[0]
	mustPublish(t, n, request("stats"))
	if st := n.Stats(); st.Errors != 0 || st.Reconnects != 0 {
		t.Fatalf("with Redis up: %+v, want no errors and no reconnects", st)
	}

	srv.Stop()
	if _, err := n.Publish(ctxFor(t), request("stats")); err == nil {
		t.Fatal("Publish with Redis down succeeded")
	}
	if st := n.Stats(); st.Errors != 1 {
		t.Fatalf("after one failed publish: Errors = %d, want 1", st.Errors)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	before := n.Stats().Errors
	if _, err := n.History(cancelled, "stats", 0, 0); err == nil {
		t.Fatal("History with a cancelled context succeeded")
	}
	if st := n.Stats(); st.Errors != before {
		t.Fatalf("a call its caller cancelled counted as a Redis error: %d, was %d", st.Errors, before)
	}

	srv.Restart()
	if !eventually(func() bool { return n.Ready(ctxFor(t)) == nil && n.Stats().Reconnects > 0 }) {
		t.Fatalf("after Redis returned: %+v, want ready and at least one reconnect", n.Stats())
	}
	mustPublish(t, n, request("stats"))
}
