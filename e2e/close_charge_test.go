package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// One address that subscribes to new topics as fast as its command budget
// lets it, closes and connects again, over and over, has Redis subscribe
// and unsubscribe no more often than its budget counts commands: a close
// counts the unsubscribes it makes the node do, as the unsubscribe
// commands would have counted, and the address's next connection finds
// its budget as the last one left it. Without either, each round had
// Redis do twice the work its budget counted, or more.
func TestClosesCountTheUnsubscribesTheyCause(t *testing.T) {
	redis := redistest.Start(t)
	const rate, burst, perConn = 50, 50, 20
	n := startProcess(t, "a", "HERALD_REDIS_URL="+redis.URL(),
		"HERALD_COMMAND_RATE_PER_IP="+strconv.Itoa(rate), "HERALD_COMMAND_BURST_PER_IP="+strconv.Itoa(burst))
	pubsub := func() (subscribes, unsubscribes int) {
		return redistest.CommandCalls(t, redis.Addr(), "subscribe"), redistest.CommandCalls(t, redis.Addr(), "unsubscribe")
	}
	subs0, unsubs0 := pubsub()
	const run = 3 * time.Second
	start := time.Now()
	topics, refused := 0, 0
	for round := 0; time.Since(start) < run; round++ {
		c := dial(t, n.ws)
		for held := 0; held < perConn && time.Since(start) < run; {
			c.send(`{"type":"subscribe","id":"s","topic":"close.%d.%d"}`, round, held)
			if f := c.reply("s"); f.Type == "subscribed" {
				held++
				topics++
			} else {
				refused++
				time.Sleep(5 * time.Millisecond)
			}
		}
		c.clientClose()
	}
	spent := time.Since(start)
	var subscribes, unsubscribes int
	eventually(t, "Redis unsubscribed from every topic", func() bool {
		s, u := pubsub()
		subscribes, unsubscribes = s-subs0, u-unsubs0
		return unsubscribes >= topics
	})
	// Each topic counts 2 commands, its subscribe and its close's
	// unsubscribe: the burst and the rate over the run pay for that many,
	// and the last close may owe the unsubscribes of its connection.
	allowed := burst + int(spent.Seconds()*rate) + 1 + perConn
	t.Logf("%d topics subscribed in %v (%d refused); Redis ran %d SUBSCRIBE and %d UNSUBSCRIBE; the budget allows %d commands",
		topics, spent.Round(time.Millisecond), refused, subscribes, unsubscribes, allowed)
	if subscribes+unsubscribes > allowed {
		t.Errorf("Redis ran %d SUBSCRIBE and UNSUBSCRIBE for one address in %v, whose budget allows %d commands (a burst of %d, %d a second)",
			subscribes+unsubscribes, spent.Round(time.Millisecond), allowed, burst, rate)
	}
	if subscribes < topics {
		t.Errorf("Redis ran %d SUBSCRIBE for %d new topics: the count misses the node's subscribes", subscribes, topics)
	}
	if refused == 0 {
		t.Error("no subscribe was refused: the run never reached the budget")
	}
}
