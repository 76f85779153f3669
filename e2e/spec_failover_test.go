//go:build unix

package e2e

import (
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 12: a message acknowledged before a failover and lost by Redis's
// asynchronous replication is reported to resuming clients as
// recovered:false, even before anything is published on the new master.
func TestSpecResumeAfterAFailoverThatLostMessages(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	p := startProcess(t, "lossy", "HERALD_REDIS_URL="+s.URL())
	for range 5 {
		publish(t, &p.node, "lossy", "1")
	}
	c := dial(t, p.ws)
	epoch := c.subscribe("s", "lossy").Epoch
	c.clientClose()

	lose := loseWhatFollows(t, s)
	for range 3 {
		publish(t, &p.node, "lossy", "2") // acknowledged, never replicated
	}
	lose()

	for _, since := range []int{3, 5, 8} {
		var r frame
		eventually(t, "a resume after the failover", func() bool {
			c := dial(t, p.ws)
			c.send(`{"type":"subscribe","id":"r","topic":"lossy","since":{"epoch":%q,"seq":%d}}`, epoch, since)
			r = c.reply("r")
			return r.Type == "subscribed"
		})
		if r.Recovered == nil || *r.Recovered {
			t.Errorf("resume from seq %d after messages 6 to 8 were lost: %s, want recovered:false", since, r.text)
		}
	}
}

func replicaPID(t *testing.T, addr string) int {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(t.Context(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatal("no process_id in INFO")
	return 0
}
