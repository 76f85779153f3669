package redis

import (
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// The {webhooks} slot handed to a master whose copies of its keys are
// older than the node left them, as redis-cli --cluster fix does when a
// failover cut short a migration of the slot (it picks the master with
// more of the slot's keys, and the other drops its own): no connection of
// the node broke and no call failed, yet a topic the node left since the
// copy is listed as held by it again. The node's next rounds set Redis
// right: the topic gets its topic_vacated, and no node is listed for it.
func TestWebhookSlotBackOlderIsSetRight(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	const node, topic = "n1", "room.moved"
	e := startEngine(t, Config{URL: c.URL(), NodeID: node, PresenceLapse: time.Hour})
	ctx := t.Context()
	k := e.keys
	e.resyncHeldTopics(ctx) // notes the slot's master
	if _, err := e.OccupyTopic(ctx, topic, node, topicEvent("topic_occupied", topic), topicEvent("topic_vacated", topic), 1_000_000, 1_000_000); err != nil {
		t.Fatal(err)
	}

	slot := c.Slot(k.webhooks("held:"))
	src := c.MasterOf(slot)
	var dst *redistest.Node
	for _, n := range c.Nodes() {
		if n != src {
			dst = n
			break
		}
	}
	from, to := nodeClient(t, src), nodeClient(t, dst)
	fromID, toID := clusterID(t, from), clusterID(t, to)
	// The slot's keys as they are now go to dst, as a migration does,
	// and stay on src, which goes on serving the slot.
	mustDo(t, to.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID).Err())
	mustDo(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID).Err())
	keys, err := from.ClusterGetKeysInSlot(ctx, slot, 1000).Result()
	mustDo(t, err)
	host, port, _ := strings.Cut(dst.Addr(), ":")
	args := []any{"MIGRATE", host, port, "", 0, 5000, "COPY", "KEYS"}
	for _, key := range keys {
		args = append(args, key)
	}
	mustDo(t, from.Do(ctx, args...).Err())
	mustDo(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE").Err())

	// The node leaves the topic on src; then dst takes the slot with its
	// older copies, and src drops its own.
	if err := e.VacateTopic(ctx, topic, node, time.Now(), topicEvent("topic_vacated", topic)); err != nil {
		t.Fatal(err)
	}
	mustDo(t, to.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
	c.WaitOK()
	if c.MasterOf(slot) != dst {
		t.Fatalf("slot %d did not go to %s", slot, dst.Addr())
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		e.resyncHeldTopics(ctx)
		listed, err := e.rdb.HExists(ctx, k.webhooks("occ:"+topic), node).Result()
		if err == nil && !listed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the topic left is still listed as held by the node after the slot came back older (err %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if names := queuedTopicEvents(t, e)[topic]; !slices.Equal(names, []string{"topic_occupied", "topic_vacated"}) {
		t.Errorf("queued %v, want topic_occupied then topic_vacated", names)
	}
}

func nodeClient(t *testing.T, n *redistest.Node) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func clusterID(t *testing.T, c *goredis.Client) string {
	t.Helper()
	id, err := c.Do(t.Context(), "CLUSTER", "MYID").Text()
	mustDo(t, err)
	return id
}
