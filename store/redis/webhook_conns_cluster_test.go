//go:build unix

package redis_test

import (
	"context"
	"slices"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// On Cluster webhook reports go through a client of the {webhooks}
// slot's master with a pool of its own (webhook_conns.go). Once the slot
// has moved to another master, that client of the master it left, which
// stays a master, serves nothing: the node no longer keeps it, nor the
// connections it holds, once it read the slot map.
func TestReportsLetGoOfTheMasterTheWebhooksSlotLeft(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	e := newEngine(t, c.URL(), redis.Config{NodeID: "a"})
	if _, err := e.QueueEvent(ctxFor(t), []byte(`"before"`), 100); err != nil {
		t.Fatal(err)
	}
	slot := c.Slot("{webhooks}")
	src := c.MasterOf(slot)
	if got := redis.Reporters(e); !slices.Equal(got, []string{src.Addr()}) {
		t.Fatalf("reports' clients of %v, want of the {webhooks} master %s", got, src.Addr())
	}
	dst := otherMaster(c, src)
	moveSlot(t, slot, src, dst)
	c.WaitOK()
	if err := untilStored(func(ctx context.Context) error { _, err := e.QueueEvent(ctx, []byte(`"after"`), 100); return err }); err != nil {
		t.Fatalf("a report after the {webhooks} slot moved: %v", err)
	}
	var got []string
	if !eventually(func() bool { got = redis.Reporters(e); return slices.Equal(got, []string{dst.Addr()}) }) {
		t.Fatalf("reports' clients of %v once the {webhooks} slot moved from %s to %s, want of %s alone",
			got, src.Addr(), dst.Addr(), dst.Addr())
	}
}
