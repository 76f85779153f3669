package redis_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// How a node on Cluster repairs its sharded pub/sub (TestShardedPubSub):
// a shard connection killed under it, a slot moved to another master.

// testKilledShardConnectionLosesNothing kills a sharded pub/sub connection,
// then every pub/sub connection on its master: the shard's alone is
// replaced the first time, and what pub/sub lost either time comes from
// history, without a gap.
func testKilledShardConnectionLosesNothing(t *testing.T, c *redistest.Cluster, topics []string) {
	nodes := clusterNodes(t, c, 2, redis.Config{HistorySize: 100})
	pub, sub := nodes[0], nodes[1]
	for _, topic := range topics {
		mustSubscribe(t, sub, topic)
		publishN(t, pub, topic, 2)
		sub.rec.waitFor(t, topic, 2)
	}
	victim := topics[2]
	admin := goredis.NewClient(&goredis.Options{Addr: c.MasterOfKey(victim).Addr()})
	defer admin.Close()
	// First the shard's connection alone: it alone is replaced, and
	// what pub/sub lost meanwhile comes from history.
	for _, id := range shardClients(t, admin) {
		if err := admin.ClientKillByFilter(ctxFor(t), "ID", id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	last := publishN(t, pub, victim, 5)
	sub.rec.waitCovered(t, victim, last.Epoch, last.Seq)
	if !eventually(func() bool { return redis.ShardRepairs(sub.Engine) > 0 }) {
		t.Error("the killed shard connection was never replaced")
	}
	if st := sub.Stats(); st.Reconnects != redis.ShardRepairs(sub.Engine) {
		t.Errorf("killing one shard's connection replaced every connection: %+v, %d shard repairs", st, redis.ShardRepairs(sub.Engine))
	}
	// Then every pub/sub connection on that master.
	if n, err := admin.ClientKillByFilter(ctxFor(t), "TYPE", "pubsub").Result(); err != nil || n == 0 {
		t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v; want the shard's connection killed", n, err)
	}
	last = publishN(t, pub, victim, 5)
	for _, topic := range topics {
		publishN(t, pub, topic, 1)
	}
	sub.rec.waitCovered(t, victim, last.Epoch, last.Seq+1)
	if gaps := sub.rec.gaps(victim); len(gaps) != 0 {
		t.Errorf("gaps %v, want every message delivered from pub/sub or history", gaps)
	}
	for _, topic := range topics {
		sub.rec.waitFor(t, topic, 3)
		wantSeqs(t, topic, sub.rec.messages(topic), 1, uint64(len(sub.rec.messages(topic))))
	}
	sub.rec.checkBreaches(t)
}

// testKilledShardConnectionLosesNoPresenceChange kills a sharded pub/sub
// connection until a presence change made meanwhile missed it: that change
// comes from the topic's change log, and no presence gap is counted.
func testKilledShardConnectionLosesNoPresenceChange(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, PresenceLapse: time.Hour})
	pub, sub := nodes[0], nodes[1]
	topic := topics[1]
	mustSubscribe(t, sub, topic)
	mustAdd(t, sub.Engine, broker.PresenceEntry{Topic: topic, Session: "w", User: "watcher"})
	want := []string{"+watcher"}
	waitChanges(t, sub.rec, topic, want...)
	home := c.MasterOfKey(topic)
	admin := goredis.NewClient(&goredis.Options{Addr: home.Addr()})
	defer admin.Close()
	ch := changer{t, pub.Engine, topic}
	// A change made right after the kill nearly always misses the
	// node, which has yet to see its connection gone; until one did,
	// and came from the log, again.
	for i := 0; redis.ReplayedChanges(sub.Engine) == 0; i++ {
		if i == 5 {
			t.Fatal("no change missed the killed connection and came from the log")
		}
		if !eventually(func() bool { return shardNumSub(t, home, prefix+"m.{"+topic+"}") == 1 }) {
			t.Fatal("the node's shard connection is not subscribed to the topic")
		}
		for _, id := range shardClients(t, admin) {
			if err := admin.ClientKillByFilter(ctxFor(t), "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
		}
		u := fmt.Sprint("k", i)
		ch.add("s"+u, u)
		ch.remove("s"+u, u)
		want = append(want, "+"+u, "-"+u)
		waitChanges(t, sub.rec, topic, want...)
	}
	ch.add("live", "z")
	waitChanges(t, sub.rec, topic, append(want, "+z")...)
	if st := sub.Stats(); st.PresenceGaps != 0 {
		t.Errorf("%d presence gaps counted, though the log held every change missed", st.PresenceGaps)
	}
}

// testSlotMovedAway migrates a subscribed topic's slot to another master:
// the node subscribes to the topic there, a publish is accepted again, and
// nothing is lost.
func testSlotMovedAway(t *testing.T, c *redistest.Cluster, topics []string) {
	prefix := uniquePrefix(t)
	nodes := clusterNodes(t, c, 2, redis.Config{Prefix: prefix, HistorySize: 100})
	pub, sub := nodes[0], nodes[1]
	for _, topic := range topics {
		mustSubscribe(t, sub, topic)
		publishN(t, pub, topic, 2)
		sub.rec.waitFor(t, topic, 2)
	}
	moved := topics[0]
	src, dst := c.MasterOfKey(moved), c.MasterOfKey(topics[1])
	moveSlot(t, c.Slot(moved), src, dst)
	// Redis unsubscribes the node from the moved slot's channels; the
	// node homes the topic again, on its new master.
	if !eventually(func() bool { return redis.ShardRepairs(sub.Engine) > 0 }) {
		t.Fatal("the shard that lost a slot was never replaced")
	}
	channel := prefix + "m.{" + moved + "}"
	if !eventually(func() bool { return slices.Contains(shardChannels(t, dst, prefix), channel) }) {
		t.Fatalf("%s never subscribed on the slot's new master: %v", channel, shardChannels(t, dst, prefix))
	}
	var res broker.PublishResult
	if !eventually(func() bool { // the publisher's first try may meet the old master
		var err error
		res, err = pub.Publish(ctxFor(t), request(moved))
		return err == nil
	}) {
		t.Fatal("no publish accepted after the slot moved")
	}
	sub.rec.waitCovered(t, moved, res.Epoch, res.Seq)
	if gaps := sub.rec.gaps(moved); len(gaps) != 0 {
		t.Errorf("gaps %v after the slot moved", gaps)
	}
	// Every topic is subscribed on its master, two of them now on dst.
	for _, topic := range topics {
		ch := prefix + "m.{" + topic + "}"
		if !eventually(func() bool { return slices.Contains(shardChannels(t, c.MasterOfKey(topic), prefix), ch) }) {
			t.Errorf("%s is not subscribed on its master %s", ch, c.MasterOfKey(topic).Addr())
		}
	}
	sub.rec.checkBreaches(t)
}

// shardClients returns the ids of the sharded pub/sub clients of the
// server rdb talks to.
func shardClients(t *testing.T, rdb *goredis.Client) []string {
	t.Helper()
	list, err := rdb.ClientList(ctxFor(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := infoFieldsOf(line)
		if f["ssub"] != "" && f["ssub"] != "0" {
			ids = append(ids, f["id"])
		}
	}
	if len(ids) == 0 {
		t.Fatal("no sharded pub/sub client")
	}
	return ids
}

// infoFieldsOf reads a CLIENT LIST line: "id=3 addr=... ssub=1 ...".
func infoFieldsOf(line string) map[string]string {
	out := make(map[string]string)
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}
