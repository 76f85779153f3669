package redis_test

import (
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A replica that took over holds seqs it did not write itself: its master
// may have acknowledged later ones that are lost, so a resume of such a
// topic is unsure until the topic's next publish starts a new epoch
// (docs/protocol.md section 12).
func TestPromotedReplicaIsUnsureOfItsHistory(t *testing.T) {
	master, replica := redistest.Start(t), redistest.Start(t)
	cfg := redis.Config{HistorySize: 100, Prefix: uniquePrefix(t)}
	onMaster := newEngine(t, master.URL(), cfg)
	for range 3 {
		mustPublish(t, onMaster, request("unsure"))
	}
	a := admin(t, replica.Addr())
	host, port, _ := strings.Cut(master.Addr(), ":")
	do(t, a, "REPLICAOF", host, port)
	for !strings.Contains(a.Info(ctxFor(t), "replication").Val(), "master_link_status:up") {
		time.Sleep(10 * time.Millisecond)
	}
	last := mustPublish(t, onMaster, request("unsure")) // replicated without its mark
	if n, err := admin(t, master.Addr()).Do(ctxFor(t), "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	do(t, a, "REPLICAOF", "NO", "ONE")

	h, err := onMaster.History(ctxFor(t), "unsure", 2, 0)
	if err != nil || h.Unsure || h.Seq != last.Seq {
		t.Fatalf("on the master that wrote it: %+v, %v; want seq %d, sure", h.Position, err, last.Seq)
	}
	onReplica := newEngine(t, replica.URL(), cfg)
	h, err = onReplica.History(ctxFor(t), "unsure", 2, 0)
	if err != nil || !h.Unsure || h.Epoch != last.Epoch || h.Seq != last.Seq || len(h.Messages) != 2 {
		t.Fatalf("on the promoted replica: %+v, %d messages, %v; want epoch %s seq %d, 2 messages, unsure",
			h.Position, len(h.Messages), err, last.Epoch, last.Seq)
	}
	if h, err := onReplica.ResumeHistory(ctxFor(t), "unsure", broker.Position{Epoch: last.Epoch, Seq: 2}, 1<<20); err != nil || !h.Unsure {
		t.Fatalf("a resume on the promoted replica: %+v, %v; want unsure", h.Position, err)
	}
	next := mustPublish(t, onReplica, request("unsure"))
	h, err = onReplica.History(ctxFor(t), "unsure", 0, 0)
	if err != nil || h.Unsure || next.Epoch == last.Epoch || h.Epoch != next.Epoch {
		t.Fatalf("after a publish on the promoted replica: %+v, %v; want the new epoch %s, sure", h.Position, err, next.Epoch)
	}
}
