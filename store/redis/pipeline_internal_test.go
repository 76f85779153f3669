package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// One pipeline answers each call its own: a refusal fails that call alone,
// and only the calls whose script Redis did not have are sent again.
func TestPipelineAnswersEachCallItsOwn(t *testing.T) {
	srv := redistest.Start(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	var p pipelines
	t.Cleanup(func() { c.Close(); p.close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hold := goredis.NewScript(`local s = redis.call('TIME')
repeat local n = redis.call('TIME') until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) >= tonumber(ARGV[1])
return 'held'`)
	loaded := goredis.NewScript(`return 'loaded ' .. ARGV[1]`)
	missing := goredis.NewScript(`return 'missing ' .. ARGV[1]`) // never loaded
	refused := goredis.NewScript(`return redis.error_reply('OOM command not allowed when used memory > maxmemory')`)
	for _, s := range []*goredis.Script{hold, loaded, refused} {
		if err := s.Load(ctx, c).Err(); err != nil {
			t.Fatal(err)
		}
	}

	held := make(chan error, 1)
	go func() { _, err := p.run(ctx, c, hold, nil, 300_000); held <- err }()
	for p.roundTrips.Load() == 0 { // it goes at once; the next calls gather behind it
		time.Sleep(time.Millisecond)
	}
	scripts := []*goredis.Script{loaded, missing, refused, loaded, missing, loaded}
	replies := make([]string, len(scripts))
	errs := make([]error, len(scripts))
	var wg sync.WaitGroup
	for i, s := range scripts {
		wg.Go(func() { replies[i], errs[i] = p.run(ctx, c, s, nil, i) })
	}
	b := p.group(c)
	for queued := 0; queued < len(scripts); {
		time.Sleep(time.Millisecond)
		b.mu.Lock()
		queued = len(b.queue)
		b.mu.Unlock()
	}
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}

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
	if trips, calls := p.roundTrips.Load(), p.calls.Load(); trips != 3 || calls != 1+6+2 {
		t.Errorf("%d calls in %d round trips, want the holding one, the 6 together, the 2 missing again", calls, trips)
	}
}
