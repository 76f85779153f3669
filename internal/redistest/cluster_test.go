package redistest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestClusterServesKeysAndFailsOver(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, 1)
	if got, want := c.URL(), "redis+cluster://"+strings.Join(c.Addrs(), ","); got != want || len(c.Addrs()) != 6 {
		t.Fatalf("URL() = %q with %d seeds, want %q with 6", got, len(c.Addrs()), want)
	}
	const key = "herald-key"
	old := c.MasterOfKey(key)
	// Set through that one node, then read through the cluster's client.
	// WAIT makes the replica hold it before its master dies below.
	if _, err := do(old.Addr(), "SET", key, "v"); err != nil {
		t.Fatal(err)
	}
	if n, err := do(old.Addr(), "WAIT", "1", "5000"); err != nil || n != int64(1) {
		t.Fatalf("WAIT 1 = %v, %v: the replica did not take the write", n, err)
	}
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rc.Close()
	readKey(t, rc, key, "v")

	old.Kill()
	start := time.Now()
	c.WaitOK()
	now := c.MasterOfKey(key)
	if now == old || !now.Running() {
		t.Fatalf("after killing master %s of %q its slot is mastered by %s", old.Addr(), key, now.Addr())
	}
	t.Logf("replica %s took over from %s in %v", now.Addr(), old.Addr(), time.Since(start))
	// A new client: go-redis's ClusterClient keeps its slot map after a
	// master dies and may take a minute to find the new one.
	rc2 := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rc2.Close()
	readKey(t, rc2, key, "v")

	old.Restart() // comes back empty, and the cluster makes it a replica
	c.WaitOK()
	if role, _ := replication(old.Addr()); role != "slave" {
		t.Fatalf("restarted old master is a %q, want a replica of %s", role, now.Addr())
	}
}

// readKey reads key through the cluster client, letting it find a moved
// slot for a few seconds.
func readKey(t *testing.T, rc *redis.ClusterClient, key, want string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := rc.Get(ctx, key).Result()
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s through the cluster = %q, %v; want %q", key, got, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStartClusterWantsThreeMasters(t *testing.T) {
	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); StartCluster(f, 1, 0) }()
	<-done
	if !strings.Contains(f.msg, "at least 3 masters") {
		t.Fatalf("StartCluster(1, 0) failed with %q, want it to say 3 masters are needed", f.msg)
	}
}
