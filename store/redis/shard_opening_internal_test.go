package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// A subscribe that waited for a shard being opened on its master does not
// take that opening's refusal for the opener's slot (onSlotMaster's MOVED,
// by a slot map behind a move) as its own when its topic's slot is
// another: it opens the shard itself.
func TestShardOpeningRefusedForAnotherSlotIsNotShared(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	e := startEngine(t, Config{URL: c.URL()})
	if !e.shards.on() {
		t.Fatal("no sharded pub/sub on Cluster")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	moved, topic := "op.moved", ""
	for i := 0; topic == ""; i++ {
		if t := fmt.Sprintf("op.t%d", i); c.MasterOfKey("{"+t+"}") == c.MasterOfKey("{"+moved+"}") && hashSlot(t) != hashSlot(moved) {
			topic = t
		}
	}
	master, err := e.shards.cc.MasterForKey(ctx, e.keys.shardChannel(topic))
	if err != nil {
		t.Fatal(err)
	}
	addr := master.Options().Addr
	if sh, o := e.shards.claimOrOpen(addr, moved); sh != nil || o != nil {
		t.Fatalf("the node has a shard or an opening on %s before any subscribe", addr)
	}
	got := make(chan error, 1)
	go func() {
		sh, err := e.shardFor(ctx, topic)
		if err == nil {
			e.shards.unclaim(sh)
		}
		got <- err
	}()
	// For the waiter to find the opening: one that comes later opens the
	// shard itself, and the test passes whatever shardFor does.
	time.Sleep(200 * time.Millisecond)
	refused := fmt.Errorf("%s is not the master of the slot of %q: %w", addr, moved, replyError(fmt.Sprintf("MOVED %d 127.0.0.1:1", hashSlot(moved))))
	if !slotElsewhere(refused) {
		t.Fatalf("%v is not a refusal for the slot", refused)
	}
	e.shards.opened(addr, refused)
	if err := <-got; err != nil {
		t.Fatalf("shardFor(%q) after an opening refused for %q's slot: %v", topic, moved, err)
	}
	if e.shards.at(addr) == nil {
		t.Fatalf("no shard kept on %s", addr)
	}
}
