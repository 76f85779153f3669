//go:build unix

package e2e

import (
	"strconv"
	"strings"
	"syscall"
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

	master := goredis.NewClient(&goredis.Options{Addr: s.MasterAddr()})
	defer master.Close()
	if n, err := master.Do(t.Context(), "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v: the replica does not hold the first messages", n, err)
	}
	// Stop the replica and fill the replication link's buffers: what the
	// master acknowledges next stays in its memory and dies with it.
	replica := s.Servers()[1]
	if replica.Addr() == s.MasterAddr() {
		replica = s.Servers()[0]
	}
	pid := replicaPID(t, replica.Addr())
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	if err := master.Set(t.Context(), "filler", strings.Repeat("x", 32<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		publish(t, &p.node, "lossy", "2") // acknowledged, never replicated
	}
	old := s.KillMaster()
	resume()
	s.WaitFailover(old)

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
