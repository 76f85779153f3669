package redis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DeliveryState describes, for a failing test, where delivery of each tracked
// topic stands next to the topic's position in Redis.
func DeliveryState(e *Engine) string {
	out := ""
	for _, st := range e.subs.all() {
		st.mu.Lock()
		res, err := e.read(context.Background(), st.topic, "", 0, 0, 0)
		out += fmt.Sprintf("%s: epoch %s last %d; redis %+v %v\n", st.topic, st.epoch, st.last, res.Position, err)
		st.mu.Unlock()
	}
	return out
}

// CoverageEvaluations counts how often e checked a topic against all of its
// subscriptions.
func CoverageEvaluations(e *Engine) uint64 { return e.subs.coverEvals.Load() }

// MaxGlobs bounds the Redis pattern subscriptions of one engine.
const MaxGlobs = maxGlobs

// TrackedTopics is how many topics e keeps a delivery state for.
func TrackedTopics(e *Engine) int {
	e.subs.mu.RLock()
	defer e.subs.mu.RUnlock()
	return len(e.subs.topics)
}

// PublishRoundTrips returns how many pipelines e sent for publishes and how
// many calls they held.
func PublishRoundTrips(e *Engine) (roundTrips, calls uint64) {
	return e.pubs.roundTrips.Load(), e.pubs.calls.Load()
}

// QueuedCalls returns how many of e's script calls wait for a pipeline,
// in every connection group.
func QueuedCalls(e *Engine) int {
	e.pubs.mu.Lock()
	groups := make([]*batcher, 0, len(e.pubs.groups))
	for _, b := range e.pubs.groups {
		groups = append(groups, b)
	}
	e.pubs.mu.Unlock()
	n := 0
	for _, b := range groups {
		b.mu.Lock()
		for _, c := range b.queue {
			if c.state == queued {
				n++
			}
		}
		b.mu.Unlock()
	}
	return n
}

// MaxSenders is how many pipelines of publishes one client has in flight
// at most.
const MaxSenders = maxSenders

// ShardRepairs counts the times e replaced broken shard connections alone.
func ShardRepairs(e *Engine) uint64 { return e.shards.repairs.Load() }

// TopicShard returns the shard topic is homed on in e (nil: none), told
// apart from another by identity alone.
func TopicShard(e *Engine, topic string) any {
	e.shards.mu.Lock()
	defer e.shards.mu.Unlock()
	if sh := e.shards.home[topic]; sh != nil {
		return sh
	}
	return nil
}

// ShardEnded reports whether the receive loop of sh, a TopicShard, has
// ended: the node closed its connection.
func ShardEnded(sh any) bool {
	select {
	case <-sh.(*shard).done:
		return true
	default:
		return false
	}
}

// ClassicPublishing reports whether e's publishes go on classic channels
// too (always but on Cluster, where only while some node holds a pattern).
func ClassicPublishing(e *Engine) bool {
	classic, _ := e.channels()
	return classic
}

// Die stops e's presence as a process that died would: no heartbeat, no
// cleanup, and Close removes none of its entries.
func Die(e *Engine) { e.pres.dead.Store(true) }

// PresenceLife is the life e's presence entries are added under now.
func PresenceLife(e *Engine) string { return e.pres.currentLife() }

// Revive undoes Die: e heartbeats again, and finds its life lapsed.
func Revive(e *Engine) { e.pres.dead.Store(false) }

// PresenceKeys names the Redis keys of topic's presence kept for life,
// and the keys of life itself.
func PresenceKeys(e *Engine, topic, life string) (topicKeys, lifeKeys []string) {
	return e.presKeys(topic, life), []string{e.keys.presTopics(life), e.keys.presReaper(life)}
}

// PresenceNodes is the key of the lives' heartbeats.
func PresenceNodes(e *Engine) string { return e.keys.presNodes() }

// HeldTopicsKey is the key of the webhook topics node holds.
func HeldTopicsKey(e *Engine, node string) string { return e.keys.webhooks("held:" + node) }

// BetweenPresenceReads makes e run fn in every presence read between
// reading the page's names and its members. Set it before e is used.
func BetweenPresenceReads(e *Engine, fn func()) { e.betweenPresenceReads = fn }

// PruneAfterShardOpens has e close its idle shards, as the supervisor's
// probe tick does, each time it found or opened the shard a topic is to
// be homed on, before it homes the topic there. Set it before e is used.
func PruneAfterShardOpens(e *Engine) { e.afterShardFor = e.pruneShards }

// AwaitingConfirmations is how many subscribes of e wait for Redis to
// confirm them.
func AwaitingConfirmations(e *Engine) int {
	e.acks.mu.Lock()
	defer e.acks.mu.Unlock()
	n := 0
	for _, w := range e.acks.waiting {
		n += len(w)
	}
	return n
}

// SlowStamps has each stamp of all of a master's slots by e wait d
// first, as on a machine busy enough to slow it so.
func SlowStamps(e *Engine, d time.Duration) { e.stamps.slowed.Store(int64(d)) }

// CheckingSlots is how many subscribes of e wait for a master they hold
// a shard on to say whether their topic's slot is its own.
func CheckingSlots(e *Engine) int { return int(e.shards.checking.Load()) }

// ForgetMasterOf makes e's slot map, as e reads it, know no master for
// the slots of topics, as before go-redis has read a map. Set it before
// e subscribes anything.
func ForgetMasterOf(e *Engine, topics ...string) {
	e.masterUnknown = func(topic string) bool { return slices.Contains(topics, topic) }
}

// ChangeLogCap is about how many entries a topic's presence change log
// keeps.
const ChangeLogCap = changeLogCap

// ChangeLogKeep is how long a change stays in its topic's log, on
// engines with that presence lapse.
func ChangeLogKeep(lapse time.Duration) time.Duration { return changeLogKeep(lapse) }

// ReplayedChanges counts the joins and leaves e handed over from the
// change logs rather than from pub/sub.
func ReplayedChanges(e *Engine) uint64 { return e.marks.replayed.Load() }

// ChangeMarks is how many topics e keeps a place in the change log for.
func ChangeMarks(e *Engine) int {
	e.marks.mu.Lock()
	defer e.marks.mu.Unlock()
	return len(e.marks.topics)
}

// LagBoardKey is the key of the nodes' word that their delivery is behind.
func LagBoardKey(e *Engine) string { return e.keys.lagBehind() }

// LagTopicsKey is the key of the topic lists beside LagBoardKey.
func LagTopicsKey(e *Engine) string { return e.keys.lagTopics() }

// ProbeID is e's id on the lag board.
func ProbeID(e *Engine) string { return e.probeID }

// TopicChannel is the classic channel topic's messages and presence
// changes go on.
func TopicChannel(e *Engine, topic string) string { return e.keys.channel(topic) }

// ReplayRounds bounds the rounds of log reads of one replay.
const ReplayRounds = replayRounds

// Probes counts the probes e sent on its pub/sub connection. The first
// comes once its first watch checked every topic and read every change
// log.
func Probes(e *Engine) uint64 { return e.probeN.Load() }

// IDAfter reports whether stream ID a comes after b.
func IDAfter(a, b string) bool { return idAfter(a, b) }

// WatchStarts has e's marks read their logs as its supervisor has them
// when a watch starts (watch).
func WatchStarts(e *Engine) {
	e.allMarksBehind()
	e.nudgeReplay()
}

// MarkBehind has e read the change logs of topics, as after a shard's
// connection was replaced.
func MarkBehind(e *Engine, topics ...string) { e.marksBehind(topics) }

// PresenceQueue bounds the joins and leaves queued for e's Handler.
const PresenceQueue = presenceQueue

// IdleConns is how many connections e's command pool holds idle.
func IdleConns(e *Engine) int { return int(e.rdb.PoolStats().IdleConns) }

// ChangeLogReads counts the reads of a topic's change log e's replays
// sent.
func ChangeLogReads(e *Engine) uint64 { return e.marks.logReads.Load() }

// FailHistoryReads makes the next n reads of history of e fail as if
// Redis could not be reached (0: none).
func FailHistoryReads(e *Engine, n int64) { e.failReads.Store(n) }

// HoldChecks has e's periodic checks skip their ticks until the
// returned release, once e's supervisor is in its loop: the topics a test
// loses a message of meanwhile are in the first checks after the
// release, however late it comes. (A topic's last message before the
// loop's start counts as checked by the check of every topic it starts
// with: see newCheckRounds.)
func HoldChecks(e *Engine) (release func(), err error) {
	e.checksHeld.Store(true)
	release = func() { e.checksHeld.Store(false) }
	if err := supervisorWaiting(e); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// ClassicMaster is the address of the master e's classic pub/sub
// connection is on, by the slot map (Cluster only).
func ClassicMaster(e *Engine) string {
	e.psMu.Lock()
	probe := e.classicProbe
	e.psMu.Unlock()
	return e.slotMasterOf(context.Background(), probe)
}

// PresenceResynced reports whether e has checked its presence entries
// against Redis since its last reconnect.
func PresenceResynced(e *Engine) bool { return e.pres.resynced.Load() == e.stats.reconnects.Load() }

// MostRefilled is the most messages one read of holes brought back.
func MostRefilled(e *Engine) int64 { return e.refills.mostRead.Load() }

// SlotRunKey is the run key of slot on Cluster, under prefix.
func SlotRunKey(prefix string, slot int) string { return keys{prefix: prefix}.slotRun(uint16(slot)) }

// PingReplicas has e's Cluster clients each open a connection to every
// replica and keep it, as go-redis does to read the slot map from one.
func PingReplicas(ctx context.Context, e *Engine) error {
	for _, c := range []goredis.UniversalClient{e.rdb, e.once} {
		err := c.(*goredis.ClusterClient).ForEachSlave(ctx, func(ctx context.Context, n *goredis.Client) error {
			return n.Ping(ctx).Err()
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// RecheckEvery is how long a check of a Cluster node covers the commands
// sent to it.
const RecheckEvery = recheckEvery

// MaintNotificationModes lists the maintenance notification mode of each
// of e's clients and, on Cluster, of each master's node client.
func MaintNotificationModes(e *Engine) []string {
	var mu sync.Mutex
	var out []string
	add := func(c *maintnotifications.Config) {
		mu.Lock()
		defer mu.Unlock()
		if c == nil {
			out = append(out, "unset")
			return
		}
		out = append(out, string(c.Mode))
	}
	for _, c := range []goredis.UniversalClient{e.rdb, e.once, e.pubsub} {
		switch c := c.(type) {
		case *goredis.Client:
			add(c.Options().MaintNotificationsConfig)
		case *goredis.ClusterClient:
			add(c.Options().MaintNotificationsConfig)
			_ = c.ForEachMaster(context.Background(), func(_ context.Context, m *goredis.Client) error {
				add(m.Options().MaintNotificationsConfig)
				return nil
			})
		}
	}
	return out
}

// Twins returns the addresses e holds a master's twin for (twins.go),
// sorted; none off Cluster.
func Twins(e *Engine) []string {
	if e.stamps == nil {
		return nil
	}
	return e.stamps.twins.addrs()
}

// ReadMastersEvery returns cfg with a node that holds no pattern reading
// the masters for its twins' sake every every, not every clusterReload.
func ReadMastersEvery(cfg Config, every time.Duration) Config {
	cfg.mastersEvery = every
	return cfg
}

// ShardMasters returns the addresses e holds a shard on, sorted.
func ShardMasters(e *Engine) []string {
	e.shards.mu.Lock()
	defer e.shards.mu.Unlock()
	return slices.Sorted(maps.Keys(e.shards.byAddr))
}

// ReplicaLate reports whether e takes webhook reports without waiting for
// the {webhooks} master's replica.
func ReplicaLate(e *Engine) bool {
	e.repl.mu.Lock()
	defer e.repl.mu.Unlock()
	return e.repl.late
}

// PoolTimeouts is how many of e's calls found no free connection in its
// command pool within the pool's timeout.
func PoolTimeouts(e *Engine) uint32 { return e.rdb.PoolStats().Timeouts }

// Reporters returns the addresses e holds a reports' client for on
// Cluster (webhook_conns.go), sorted; none off Cluster.
func Reporters(e *Engine) []string {
	if e.stamps == nil {
		return nil
	}
	return e.stamps.reporters.addrs()
}

// addrs are the addresses t holds a twin for, sorted.
func (t *twins) addrs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Sorted(maps.Keys(t.by))
}

// LostJoinsRuns is how many times e ran the script that checks the joins
// sent against Redis.
func LostJoinsRuns(e *Engine) uint64 { return e.lostCheck.runs.Load() }

// PresenceSynced names the hash of the terms each node life tells its
// entries are in.
func PresenceSynced(e *Engine) string { return e.keys.presSynced() }

// SlowestLapse is the longest lapse of the live nodes e knows of: its own,
// or one its heartbeats read off the registry.
func SlowestLapse(e *Engine) time.Duration { return e.slowestLapse() }

// LogKeepOf is how long e's presence writes keep a topic's changes.
func LogKeepOf(e *Engine) time.Duration {
	return time.Duration(e.logKeep.Load().(int64)) * time.Millisecond
}
