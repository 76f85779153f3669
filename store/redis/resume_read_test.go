package redis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A resume's read copies in Redis little more than its byte budget: one
// entry first, then chunks sized by what it saw, where chunks of 16
// copied 480 KB of 30 KB messages to return 60 KB for a budget of 30 KiB;
// and it says what it copied (HistoryResult.Scanned), which the broker
// counts. Small messages are still read 16 an XRANGE.
func TestResumeReadCopiesLittleMoreThanItsBudget(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 100})
	publish := func(topic string, size, n int) string {
		data := []byte(`"` + strings.Repeat("x", size) + `"`)
		var epoch string
		for range n {
			res, err := e.Publish(context.Background(), broker.PublishRequest{Topic: topic, Data: data})
			if err != nil {
				t.Fatal(err)
			}
			epoch = res.Epoch
		}
		return epoch
	}
	const budget = 30 << 10
	for _, tc := range []struct {
		topic      string
		size       int
		returned   int // messages
		maxCopied  int // entries
		maxXRANGEs int
	}{
		{"large", 30_000, 2, 2, 2},
		{"small", 500, 62, 63, 5},
	} {
		epoch := publish(tc.topic, tc.size, 100)
		before := redistest.CommandCalls(t, srv.Addr(), "xrange")
		h, err := e.ResumeHistory(context.Background(), tc.topic, broker.Position{Epoch: epoch}, budget)
		if err != nil {
			t.Fatal(err)
		}
		xranges := redistest.CommandCalls(t, srv.Addr(), "xrange") - before
		returned := 0
		for _, m := range h.Messages {
			returned += broker.ResumeBytes(m)
		}
		t.Logf("%s: %d messages returned (%d bytes), %d entries copied (%d bytes) in %d XRANGEs",
			tc.topic, len(h.Messages), returned, h.Scanned.Entries, h.Scanned.Bytes, xranges)
		if len(h.Messages) != tc.returned {
			t.Errorf("%s: %d messages returned for a budget of %d, want %d", tc.topic, len(h.Messages), budget, tc.returned)
		}
		if h.Scanned.Entries < len(h.Messages) || h.Scanned.Bytes < returned {
			t.Errorf("%s: the read says it copied %+v, less than the %d messages (%d bytes) it returned", tc.topic, h.Scanned, len(h.Messages), returned)
		}
		if h.Scanned.Entries > tc.maxCopied || xranges > tc.maxXRANGEs {
			t.Errorf("%s: the read copied %d entries in %d XRANGEs to return %d, want at most %d in %d", tc.topic, h.Scanned.Entries, xranges, len(h.Messages), tc.maxCopied, tc.maxXRANGEs)
		}
	}
}
