//go:build unix

package redis_test

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// pollEvery is how often a round asks the replica whether it is a master
// yet (and the sentinels whom they name): the promotion is known to within
// this, plus one INFO's round trip.
const pollEvery = 5 * time.Millisecond

// BenchmarkTakeoverRecovery kills (SIGKILL) the master of a topic that one
// node publishes to every publishEvery and another node subscribes to,
// once a round, and reports how long after the replica said it was a
// master (INFO replication, role:master) the first publish of the new
// epoch was accepted and the subscriber was handed its first message, and
// how many seqs the subscriber was handed as gaps. Both nodes run with the
// default timeout, probe and check intervals and backoff. Between rounds
// the killed server is started again (empty), and the next round waits
// until it is a replica in sync, so every round kills a master whose
// replica is ready. On Cluster the topic lives on another master than the
// nodes' classic connection, whose loss would cost every topic.
//
// Each round takes 5-25 s, most of it waiting for the set to settle, so
// run it with a count of rounds (make test runs no benchmark):
//
//	go test -run '^$' -bench BenchmarkTakeoverRecovery -benchtime 5x ./store/redis/
func BenchmarkTakeoverRecovery(b *testing.B) {
	b.Run("cluster", func(b *testing.B) {
		c := redistest.StartCluster(b, 3, 1)
		prefix := uniquePrefix(b)
		classic := c.MasterOfKey(prefix + "probe.sub.{classic.0}")
		topic := "takeover.0"
		for i := 1; c.MasterOfKey(topic) == classic; i++ {
			topic = fmt.Sprintf("takeover.%d", i)
		}
		servers := func() (master, replica *redistest.Node) {
			master = c.MasterOfKey(topic)
			if !eventually(func() bool { replica = replicaOf(b, c, master); return replica != nil }) {
				b.Fatalf("no replica of %s, the master of %s", master.Addr(), topic)
			}
			c.WaitOK() // the replica is in sync
			return master, replica
		}
		benchTakeovers(b, takeoverSet{url: c.URL(), prefix: prefix, topic: topic, servers: servers})
	})
	b.Run("sentinel", func(b *testing.B) {
		s := redistest.StartSentinel(b)
		servers := func() (master, replica *redistest.Node) {
			s.WaitSynced()
			addr := s.MasterAddr()
			for _, n := range s.Servers() {
				if n.Addr() == addr {
					master = n
				} else {
					replica = n
				}
			}
			return master, replica
		}
		benchTakeovers(b, takeoverSet{url: s.URL(), prefix: uniquePrefix(b), topic: "takeover",
			servers: servers, named: s.MasterAddr})
	})
}

// takeoverSet is a Redis deployment seen from one topic.
type takeoverSet struct {
	url, prefix, topic string
	// servers waits until the set is settled, and returns the topic's
	// master and the replica that is to take over from it.
	servers func() (master, replica *redistest.Node)
	// named is the master the sentinels name; nil on Cluster.
	named func() string
}

// takeover is what one round measured.
type takeover struct {
	promoted  time.Duration // from the kill to the replica's role:master
	named     time.Duration // from the promotion until the sentinels name it (Sentinel only)
	published time.Duration // from the promotion to the first publish of the new epoch accepted
	delivered time.Duration // from the promotion to its first message handed to the subscriber
	gapSeqs   uint64        // seqs handed to the subscriber as gaps
	handed    string        // what the subscriber was handed in the round (messages, gaps), summarised
	refused   int           // publishes that failed
}

func benchTakeovers(b *testing.B, set takeoverSet) {
	cfg := redis.Config{Prefix: set.prefix, HistorySize: 100, Timeout: redis.DefaultTimeout,
		ProbeInterval: redis.DefaultProbeInterval, CheckInterval: redis.DefaultCheckInterval,
		BackoffMax: redis.DefaultBackoffMax}
	// Errors only: a benchmark's log is cut to its first ten lines, and
	// the warnings of every failover (a connection lost, a check put off)
	// would push the rounds' lines out of them.
	cfg.Logger = zaptest.NewLogger(b, zaptest.Level(zap.ErrorLevel))
	cfg.NodeID = "pub"
	pub := newEngine(b, set.url, cfg)
	cfg.NodeID = "sub"
	sub := newEngine(b, set.url, cfg)
	rec := &timedRecorder{recorder: newRecorder(), firsts: make(map[string]time.Time)}
	sub.Attach(rec)
	mustSubscribe(b, sub, set.topic)
	var sum takeover
	round := 0
	for b.Loop() {
		r := takeoverRound(b, set, pub, rec)
		b.Logf("round %d: promoted %v after the kill; %s publish accepted %v and delivered %v after the promotion; %d gap seqs, %d publishes refused; handed over: %s",
			round, rounded(r.promoted), namedAfter(r, set), rounded(r.published), rounded(r.delivered), r.gapSeqs, r.refused, r.handed)
		sum.promoted += r.promoted
		sum.published += r.published
		sum.delivered += r.delivered
		sum.gapSeqs += r.gapSeqs
		round++
	}
	rec.checkBreaches(b)
	perRound := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
	b.ReportMetric(0, "ns/op") // a round's length is mostly the wait for the set to settle
	b.ReportMetric(perRound(sum.promoted), "kill-to-promotion-ms")
	b.ReportMetric(perRound(sum.published), "promotion-to-publish-ms")
	b.ReportMetric(perRound(sum.delivered), "promotion-to-delivery-ms")
	b.ReportMetric(float64(sum.gapSeqs)/float64(b.N), "gap-seqs/round")
}

// takeoverRound kills the topic's master while publishes flow, measures
// until everything accepted has reached the subscriber, and starts the
// killed server again.
func takeoverRound(b *testing.B, set takeoverSet, pub *redis.Engine, rec *timedRecorder) takeover {
	master, replica := set.servers()
	before := mustPublish(b, pub, request(set.topic))
	rec.waitCovered(b, set.topic, before.Epoch, before.Seq)
	from := len(rec.covered(set.topic))
	p := startPublishing(pub, set.topic, before.Epoch)
	defer p.stop()
	time.Sleep(300 * time.Millisecond) // publishes flow at their pace when the master dies
	killed := time.Now()
	master.Kill()
	defer master.Restart()
	var r takeover
	promoted := pollUntil(b, "the replica's promotion", func() bool { return info(b, replica, "replication")["role"] == "master" })
	r.promoted = promoted.Sub(killed)
	if set.named != nil {
		r.named = pollUntil(b, "the sentinels naming the new master", func() bool { return set.named() != master.Addr() }).Sub(promoted)
	}
	pollUntil(b, "a message of the new epoch", func() bool { return !rec.firstSince(killed, before.Epoch).IsZero() })
	r.delivered = rec.firstSince(killed, before.Epoch).Sub(promoted)
	pollUntil(b, "a publish of the new epoch", func() bool { return !p.firstNewEpoch().IsZero() })
	r.published = p.firstNewEpoch().Sub(promoted)
	time.Sleep(time.Second) // a second of publishes in the new epoch
	p.stop()
	last, refused := p.result()
	rec.waitCovered(b, set.topic, last.Epoch, last.Seq)
	handed := rec.covered(set.topic)[from:]
	r.gapSeqs, r.handed = gapSeqs(handed), summary(handed)
	r.refused = refused
	return r
}

// pollUntil polls cond every pollEvery until it holds, and returns when
// it first did; it fails b past waitTimeout.
func pollUntil(b *testing.B, what string, cond func() bool) time.Time {
	b.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("no %s within %v", what, waitTimeout)
		}
		time.Sleep(pollEvery)
	}
	return time.Now()
}

// gapSeqs counts the seqs of spans that are gaps.
func gapSeqs(spans []span) (n uint64) {
	for _, sp := range spans {
		if sp.gap {
			n += sp.to - sp.from + 1
		}
	}
	return n
}

func namedAfter(r takeover, set takeoverSet) string {
	if set.named == nil {
		return "first"
	}
	return fmt.Sprintf("named by the sentinels %v after it; first", rounded(r.named))
}

func rounded(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
