//go:build unix

package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A {webhooks} master that freezes (its process stopped) while a report
// waits for its replica holds the report no longer than the call's
// deadline allows: the wait is sent in slices whose replies are read
// within the client's read timeout. Sent as one WAIT, its reply was read
// for its timeout plus the 10 s go-redis adds to a blocking command's
// read deadline, and the call ended some 12 s later, past its 5 s
// deadline and the engine's 1 s Timeout.
func TestAFrozenMasterEndsTheWaitByTheCallsDeadline(t *testing.T) {
	t.Parallel()
	master, replica := redistest.Start(t), redistest.Start(t)
	replicate(t, master, replica, master.Addr())
	onMaster := redisOn(t, master.Addr())
	e := newEngine(t, master.URL(), redis.Config{NodeID: "a", Timeout: time.Second})
	t.Cleanup(master.Resume) // before the engine closes
	t.Cleanup(replica.Resume)
	if _, err := e.QueueEvent(ctxFor(t), []byte(`"before"`), 100); err != nil {
		t.Fatal(err)
	}
	waits := func() int { return infoNumber(t, onMaster, "commandstats", "cmdstat_wait:calls=") }
	before := waits()

	// The replica stopped, the report's WAIT sent with its script is
	// answered 0 after a quarter of the Timeout, and the next one waits:
	// the master freezes then (Redis counts a WAIT as it starts).
	replica.Pause()
	const deadline = 5 * time.Second
	start := time.Now()
	queued := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		_, err := e.QueueEvent(ctx, []byte(`"frozen"`), 100)
		queued <- err
	}()
	if !eventually(func() bool { return waits() >= before+2 }) {
		t.Fatal("the report's second WAIT never reached the master")
	}
	master.Pause()

	const margin = 3 * time.Second // a deadline's check, not a speed measurement
	select {
	case err := <-queued:
		if err == nil {
			t.Fatal("a report was taken from a frozen master")
		}
		t.Logf("the report failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(deadline + margin - time.Since(start)):
		t.Fatalf("the report still waited on the frozen master %v after it was sent, its deadline being %v", deadline+margin, deadline)
	}
}
