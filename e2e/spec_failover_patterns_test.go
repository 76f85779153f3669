//go:build unix

package e2e

import (
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// newTopicWhilePatternsAreCutOff: on Cluster a node's wildcard
// subscriptions hear every topic over one classic pub/sub connection, on
// one master. That master stops answering, then dies, while a topic of
// another master is published to for the first time; pattern
// subscribers on that node, over WebSocket and /sse, get every
// acknowledged message of it, or are told (sections 2, 6, 12).
func newTopicWhilePatternsAreCutOff(t *testing.T, cluster *redistest.Cluster, a, b *process, node string) *redistest.Node {
	wsPat := wsOpen(t, b.ws+"?mode=ok&user=np", dialOpts{})
	wsPat.subscribe("s", "open.*")
	ssePat := openStream(t, b.base+"/sse?mode=ok&user=nps&topic=open.*", nil)
	master := classicMaster(t, cluster, node)
	topic := ""
	for i := 0; topic == ""; i++ {
		if name := fmt.Sprint("open.n", i); cluster.MasterOfKey(name) != master {
			topic = name
		}
	}

	master.Pause()
	pub := startPublisher(t, &a.node, topic)
	pub.waitAcked(t, 0, 10)
	master.Kill()
	cluster.WaitOK()
	pub.waitAcked(t, pub.acked(), 20)
	acks := pub.halt()
	pub.oddAnswers(t)
	last := acks[len(acks)-1].i
	watched := map[string][]seen{"WebSocket, open.*": watchWS(t, wsPat, last), "/sse, open.*": watchSSE(t, ssePat, last)}
	for what, got := range watched {
		t.Logf("%s: %s", what, runs(got))
		checkSeen(t, what, acks, got, 1)
	}
	oneMessagePerSeq(t, watched)
	return master
}

// classicMaster is the master on which node's classic pub/sub
// connection is: the one where it subscribed its probe channel.
func classicMaster(t *testing.T, cluster *redistest.Cluster, node string) *redistest.Node {
	t.Helper()
	for _, n := range cluster.Nodes() {
		if !n.Running() {
			continue
		}
		c := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
		chans, err := c.PubSubChannels(t.Context(), "herald:probe."+node+".{classic.*").Result()
		c.Close()
		if err == nil && len(chans) > 0 {
			return n
		}
	}
	t.Fatalf("no master holds %s's classic pub/sub connection", node)
	return nil
}
