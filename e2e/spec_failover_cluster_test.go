//go:build unix

package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 12 on a Redis Cluster of three masters with a replica each, two
// herald processes on it, masters SIGKILLed under what sections 2, 8-11
// promise. Each subtest that kills a master, but the last, starts it
// again after, as a replica of the one that took over, so the next finds
// every master with a replica.
func TestSpecClusterFailovers(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	backend, url := startHookBackend(t, 0)
	env := append(hooksEnv(cluster.URL(), url), "HERALD_HISTORY_SIZE="+historySize)
	a, b := startProcess(t, "a", env...), startProcess(t, "b", env...)
	takeover := func(master *redistest.Node) func() {
		return func() {
			master.Kill()
			cluster.WaitOK()
		}
	}
	rejoin := func(t *testing.T, master *redistest.Node) {
		master.Restart()
		cluster.WaitOK()
		eventually(t, "the old master back as a replica", func() bool { return clusterReplicas(t, cluster) == 3 })
	}

	t.Run("NewTopicWhilePatternsAreCutOff", func(t *testing.T) {
		defer rejoin(t, newTopicWhilePatternsAreCutOff(t, cluster, a, b, "b"))
	})
	t.Run("StreamsAcrossAnOutage", func(t *testing.T) {
		// The master of the pattern lease, and of the topic.
		master := cluster.MasterOfKey("herald:patterns")
		replica := replicaOf(t, cluster, master)
		defer rejoin(t, master)
		streamsAcrossAnOutage(t, a, b, topicOn(t, cluster, "room.s", master), clusterOutage(t, cluster, master, replica))
	})
	t.Run("PresenceThroughAnOutage", func(t *testing.T) {
		master := cluster.MasterOfKey("herald:presence.nodes")
		replica := replicaOf(t, cluster, master)
		defer rejoin(t, master)
		presenceThroughAnOutage(t, a, b, topicOn(t, cluster, "room.p", master), clusterOutage(t, cluster, master, replica))
	})
	t.Run("PresenceThroughAnOutageOfATopicsMaster", func(t *testing.T) {
		// A master that keeps neither the nodes' registry nor, where
		// another is left, the webhook queue or a node's classic pub/sub
		// connection: the nodes' heartbeats go on, and only the topic's
		// sharded connections break.
		master := otherMaster(t, cluster, cluster.MasterOfKey("herald:presence.nodes"), cluster.MasterOfKey("{webhooks}"),
			classicMaster(t, cluster, "a"), classicMaster(t, cluster, "b"))
		replica := replicaOf(t, cluster, master)
		defer rejoin(t, master)
		topic := topicOn(t, cluster, "room.q", master)
		presenceThroughAnOutage(t, a, b, topic, clusterOutage(t, cluster, master, replica))
		// The webhook's member events alternate as joins and leaves do, and
		// end on what is true (sections 8, 11).
		want := map[string]string{"ada": "-", "bob": "-", "carl": "+", "dan": "+", "eve": "-", "w3": "+"}
		got := map[string]string{}
		eventually(t, "the member events of "+topic, func() bool {
			events := memberEvents(backend, topic)
			clear(got)
			for ev := range strings.FieldsSeq(events) {
				user := ev[1:]
				if got[user] == ev[:1] || got[user] == "" && ev[:1] == "-" {
					t.Fatalf("the member events of %s do not alternate: %s", topic, events)
				}
				got[user] = ev[:1]
			}
			return maps.Equal(got, want)
		})
	})
	t.Run("ControlsRightAfterATakeover", func(t *testing.T) {
		// The master of the controls' stream, and of the topic.
		master := cluster.MasterOfKey("herald:controls")
		controlsRightAfterATakeover(t, a, b, topicOn(t, cluster, "room.c", master), takeover(master))
	})
	t.Run("DeadNode", func(t *testing.T) {
		topic := ""
		for i := 0; topic == ""; i++ {
			if name := fmt.Sprint("room.d", i); cluster.MasterOfKey(name) != cluster.MasterOfKey("herald:presence.nodes") {
				topic = name
			}
		}
		deadNode(t, env, a, b, topic)
	})
}

// clusterOutage: the cut pauses replica, then fills master's replication
// link to it (the kernel's buffers would otherwise keep what comes next
// for the replica to read once it runs again), so that what master takes
// next is lost with it; the end lets replica take over.
func clusterOutage(t *testing.T, cluster *redistest.Cluster, master, replica *redistest.Node) outage {
	return outage{
		cut: func() {
			replica.Pause()
			filler := ""
			for i := 0; filler == ""; i++ {
				if key := fmt.Sprintf("filler{%d}", i); cluster.MasterOfKey(key) == master {
					filler = key
				}
			}
			fillLink(t, master.Addr(), filler)
		},
		kill: master.Kill,
		end:  func() { replica.Resume(); cluster.WaitOK() },
	}
}

// topicOn is the first of prefix0, prefix1, ... whose slot master is
// on (any master when on is nil).
func topicOn(t *testing.T, cluster *redistest.Cluster, prefix string, on *redistest.Node) string {
	t.Helper()
	for i := range 1000 {
		topic := fmt.Sprint(prefix, i)
		if on == nil || cluster.MasterOfKey(topic) == on {
			return topic
		}
	}
	t.Fatalf("no topic %s* on %s", prefix, on.Addr())
	return ""
}

// otherMaster is a master that is none of avoid, or failing that none of
// the first of them that leave one.
func otherMaster(t *testing.T, cluster *redistest.Cluster, avoid ...*redistest.Node) *redistest.Node {
	t.Helper()
	var masters []*redistest.Node
	for i := 0; len(masters) < 3 && i < 1000; i++ {
		if m := cluster.MasterOfKey(fmt.Sprint("m", i)); !slices.Contains(masters, m) {
			masters = append(masters, m)
		}
	}
	for k := len(avoid); k > 0; k-- {
		for _, m := range masters {
			if !slices.Contains(avoid[:k], m) {
				return m
			}
		}
	}
	t.Fatal("no master but the one to avoid")
	return nil
}

// replicaOf is the cluster node that replicates master.
func replicaOf(t *testing.T, cluster *redistest.Cluster, master *redistest.Node) *redistest.Node {
	t.Helper()
	for _, n := range cluster.Nodes() {
		if n.Running() && n != master && replicationInfo(t, n.Addr())["master_port"] == master.Addr()[strings.LastIndex(master.Addr(), ":")+1:] {
			return n
		}
	}
	t.Fatalf("no replica of %s", master.Addr())
	return nil
}

// clusterReplicas counts the running nodes that are replicas in sync.
func clusterReplicas(t *testing.T, cluster *redistest.Cluster) int {
	n := 0
	for _, node := range cluster.Nodes() {
		if node.Running() && replicationInfo(t, node.Addr())["master_link_status"] == "up" {
			n++
		}
	}
	return n
}

// replicationInfo is INFO replication of addr as fields.
func replicationInfo(t *testing.T, addr string) map[string]string {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	info, _ := c.Info(t.Context(), "replication").Result()
	fields := map[string]string{}
	for line := range strings.SplitSeq(info, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}
