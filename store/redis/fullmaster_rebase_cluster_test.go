package redis_test

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Topics a check finds behind what their subscriber got, on a Cluster
// master full after a restart from an older snapshot, are rebased once
// it takes writes, and until then cost the master one try of the stamp
// each round of checks, not one per topic: a rebase waits for the stamp
// of the master's run, which the full master refuses, and each rebase
// tried opened a connection of its own and sent it the stamp's reads
// (CLUSTER NODES among them) and its refused write, for every topic
// behind, at every check, for as long as the master stayed full.
func TestRefusedRebasesTryTheStampOnceAMasterARound(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	core, logs := observer.New(zap.DebugLevel)
	prefix := uniquePrefix(t)
	e := clusterNodes(t, c, 1, redis.Config{Prefix: prefix, HistorySize: 10, CheckInterval: 50 * time.Millisecond,
		Logger: zap.New(core)})[0]
	var full *redistest.Node
	for _, m := range masters(c) {
		if m.Addr() != redis.ClassicMaster(e.Engine) { // that connection notes the run too, and moves off a full master
			full = m
		}
	}
	const behind = 12
	var topics []string
	thirds := map[string]broker.PublishResult{}
	for i := 0; len(topics) < behind; i++ {
		topic := fmt.Sprintf("rebased.t%d", i)
		if c.MasterOfKey(topic) != full {
			continue
		}
		topics = append(topics, topic)
		mustSubscribe(t, e, topic)
		for j := range 5 {
			if res := mustPublish(t, e, request(topic)); j == 2 {
				thirds[topic] = res
			}
		}
		e.rec.waitFor(t, topic, 5)
	}

	a := admin(t, full.Addr())
	for _, topic := range topics {
		setBackToSnapshot(t, a, prefix, topic, thirds[topic])
	}
	f := clusterFull(t, c)
	f.makeFull(t, a)
	stamps := func() int { return redistest.CommandCalls(t, full.Addr(), "cluster|nodes") }
	before := stamps()
	refused := func() int { return logs.FilterMessageSnippet("cannot start a new epoch now").Len() }
	f.breakPubSub(t) // the topics are checked once their connection is back
	if !eventually(func() bool { return refused() >= 6*behind }) {
		t.Fatalf("%d rebases refused, want %d or more", refused(), 6*behind)
	}
	// A round of checks may find some of the topics behind, and another
	// one running beside it the others (the periodic check and the one
	// after a reconnect), and the node sends the master other scripts
	// (its presence heartbeat), each of which tries the stamp too, more
	// of them the busier the machine: 13 and 10 tries over some 72
	// refusals on a quiet one, 16 and 32 over 78 and 75 in whole runs of
	// the suite. Each refused rebase tried it once at least before (151
	// and 99 over some 72): fewer tries than refusals tells them apart.
	tried, n := stamps()-before, refused()
	t.Logf("%d stamps of the full master tried over %d rebases refused", tried, n)
	if tried >= n {
		t.Errorf("%d stamps of the full master tried over %d rebases refused, %d topics behind each round", tried, n, behind)
	}

	do(t, a, "CONFIG", "SET", "maxmemory", "0")
	if !eventually(func() bool { return e.Stats().Rebases == behind }) {
		t.Fatalf("%d rebases once the master took writes again, want %d", e.Stats().Rebases, behind)
	}
}
