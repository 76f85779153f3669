package redis_test

import (
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// replicate returns once the replica holds the master's data, not only
// once the master sent it all: a test that promotes the replica right
// after (a failover) would else find it keeping the data it had, the
// sync given up (TestLostJoinOfASessionBackAgainIsToldAgain did, under
// load). The replica's link to the master goes through a proxy that
// holds what the master sends for a second after the master counts the
// replica online.
func TestReplicateWaitsForTheReplicaToHoldTheData(t *testing.T) {
	t.Parallel()
	master, replica := redistest.Start(t), redistest.Start(t)
	do(t, redisOn(t, master.Addr()), "SET", "k", "v")
	link := redistest.StartProxy(t, master.Addr())
	link.Hold("PSYNC")
	released := make(chan struct{})
	go func() {
		defer close(released)
		defer link.Release()
		onMaster := redisOn(t, master.Addr())
		for {
			info, err := onMaster.Info(ctxFor(t), "replication").Result()
			if err != nil || strings.Contains(info, "state=online") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
	}()
	replicate(t, master, replica, link.Addr())
	info, err := redisOn(t, replica.Addr()).Info(ctxFor(t), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "master_link_status:up") {
		t.Errorf("replicate returned while the replica was still taking the master's data:\n%s", info)
	}
	<-released
}
