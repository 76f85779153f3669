package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// holdScript keeps Redis busy for ARGV[1] microseconds, answering nobody.
var holdScript = goredis.NewScript(`local s = redis.call('TIME')
repeat local n = redis.call('TIME') until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) >= tonumber(ARGV[1])
return 'held'`)

// newPipelines returns pipelines and a client of a fresh Redis, with
// holdScript loaded.
func newPipelines(t *testing.T) (*pipelines, *goredis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	p := &pipelines{}
	t.Cleanup(func() { c.Close(); p.close() })
	if err := holdScript.Load(context.Background(), c).Err(); err != nil {
		t.Fatal(err)
	}
	return p, c
}

// hold fills c's pipelines in flight with holdScript calls of d each, so
// that the next calls wait; the returned func waits for them.
func hold(t *testing.T, p *pipelines, c *goredis.Client, d time.Duration) (wait func()) {
	t.Helper()
	errs := make(chan error, maxSenders)
	for range maxSenders {
		go func() { _, err := p.run(context.Background(), c, holdScript, nil, d.Microseconds()); errs <- err }()
	}
	for p.roundTrips.Load() < maxSenders {
		time.Sleep(time.Millisecond)
	}
	return func() {
		t.Helper()
		for range maxSenders {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}

// waitQueued waits until n calls wait in c's group.
func waitQueued(p *pipelines, c *goredis.Client, n int) {
	b := p.group(c)
	for queued := 0; queued < n; {
		time.Sleep(time.Millisecond)
		b.mu.Lock()
		queued = len(b.queue)
		b.mu.Unlock()
	}
}

// One pipeline answers each call its own: a refusal fails that call alone,
// and only the calls whose script Redis did not have are sent again.
func TestPipelineAnswersEachCallItsOwn(t *testing.T) {
	p, c := newPipelines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	loaded := goredis.NewScript(`return 'loaded ' .. ARGV[1]`)
	missing := goredis.NewScript(`return 'missing ' .. ARGV[1]`) // never loaded
	refused := goredis.NewScript(`return redis.error_reply('OOM command not allowed when used memory > maxmemory')`)
	for _, s := range []*goredis.Script{loaded, refused} {
		if err := s.Load(ctx, c).Err(); err != nil {
			t.Fatal(err)
		}
	}
	held := hold(t, p, c, 300*time.Millisecond)
	scripts := []*goredis.Script{refused, loaded, missing, refused, loaded, missing, loaded}
	replies := make([]string, len(scripts))
	errs := make([]error, len(scripts))
	var wg sync.WaitGroup
	for i, s := range scripts {
		wg.Go(func() { replies[i], errs[i] = p.run(ctx, c, s, nil, i) })
	}
	waitQueued(p, c, len(scripts)) // all go in one pipeline
	wg.Wait()
	held()

	for i, s := range scripts {
		want := ""
		switch s {
		case loaded:
			want = fmt.Sprintf("loaded %d", i)
		case missing:
			want = fmt.Sprintf("missing %d", i)
		}
		if code, _ := refusal(errs[i]); s == refused && code != "OOM" {
			t.Errorf("call %d: %q %v, want its own OOM refusal", i, replies[i], errs[i])
		} else if s != refused && (replies[i] != want || errs[i] != nil) {
			t.Errorf("call %d: %q %v, want %q", i, replies[i], errs[i], want)
		}
	}
	if trips, calls := p.roundTrips.Load(), p.calls.Load(); trips != maxSenders+2 || calls != maxSenders+7+2 {
		t.Errorf("%d calls in %d round trips, want the %d holding, the 7 together, the 2 missing again", calls, trips, maxSenders)
	}
}

// A caller whose call went in another's pipeline returns when its context
// ends, without the errNoTurn that would say nothing ran; the call runs.
func TestSentCallWhoseContextEndsReturnsAtOnce(t *testing.T) {
	p, c := newPipelines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	incr := goredis.NewScript(`return redis.call('INCR', KEYS[1])`)
	if err := incr.Load(ctx, c).Err(); err != nil { // or it would run in a second round trip
		t.Fatal(err)
	}
	held := hold(t, p, c, 300*time.Millisecond)
	// Behind the holding calls, one pipeline: a long hold, then the call
	// whose caller leaves while Redis runs the hold.
	long := make(chan error, 1)
	go func() { _, err := p.run(ctx, c, holdScript, nil, time.Second.Microseconds()); long <- err }()
	waitQueued(p, c, 1)
	leaving, leave := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() { _, err := p.run(leaving, c, incr, []string{"ran"}); left <- err }()
	waitQueued(p, c, 2)
	for p.roundTrips.Load() < maxSenders+1 { // their pipeline went
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	leave()
	err := <-left
	if d := time.Since(start); d > 300*time.Millisecond || !errors.Is(err, context.Canceled) || errors.Is(err, errNoTurn) {
		t.Fatalf("a sent call whose context ended: %v after %v, want context.Canceled at once, and not errNoTurn", err, d)
	}
	held()
	if err := <-long; err != nil {
		t.Fatal(err)
	}
	if n, err := c.Get(ctx, "ran").Int(); n != 1 {
		t.Fatalf("the left call ran %d times (%v), want once", n, err)
	}
}

// A call that waits for its turn past its deadline returns then, as one
// whose context ended does: with context.DeadlineExceeded and errNoTurn,
// and it never runs. The next calls, which may get its pooled timer,
// wait as long as they need to.
func TestWaitingCallLeavesAtItsDeadline(t *testing.T) {
	p, c := newPipelines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	incr := goredis.NewScript(`return tostring(redis.call('INCR', KEYS[1]))`)
	if err := incr.Load(ctx, c).Err(); err != nil {
		t.Fatal(err)
	}
	held := hold(t, p, c, 300*time.Millisecond)
	call := newCall()
	call.setCommand(incr, []string{"late"}, nil)
	start := time.Now()
	_, err := p.runCall(ctx, start.Add(50*time.Millisecond), c, call)
	if d := time.Since(start); d > 250*time.Millisecond || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errNoTurn) {
		t.Fatalf("a waiting call past its deadline: %v after %v, want context.DeadlineExceeded and errNoTurn before the hold ends", err, d)
	}
	held()
	for i := range 3 { // no stale timer fires in a reused call
		held := hold(t, p, c, 100*time.Millisecond)
		call := newCall()
		call.setCommand(incr, []string{"in-time"}, nil)
		if _, err := p.runCall(ctx, time.Now().Add(5*time.Second), c, call); err != nil {
			t.Fatalf("call %d with time to spare: %v", i, err)
		}
		held()
	}
	if n, err := c.Exists(ctx, "late").Result(); n != 0 || err != nil {
		t.Fatalf("the call past its deadline ran (%d, %v)", n, err)
	}
	if n, err := c.Get(ctx, "in-time").Int(); n != 3 {
		t.Fatalf("the calls in time ran %d times (%v), want 3", n, err)
	}
}
