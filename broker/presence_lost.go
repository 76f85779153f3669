package broker

import (
	"context"
	"fmt"
)

// A failover of the engine's backend may lose a join after the nodes
// handed it over: the subscriptions here were sent it, and the new
// master never had the member. The node that made it adds the member
// again once it is back (and the join goes a second time, only where it
// is needed, presence_watchers.go), and its leave comes in time; but a
// node that died before it could never does, and the cleanup after a
// dead node sends the leaves only of the members the backend lists
// (docs/protocol.md section 8 wants them all). So the engine, after a
// reconnect and once the live nodes have added back what they lost (it
// waits for every live one), has the broker check what it sent: each user whose last change
// sent here on a topic was a join, and whom the backend no longer lists,
// is sent a leave, unless a change of that user came meanwhile. The
// nodes that saw the join are the ones whose subscriptions need the
// leave, and each sends it to its own. The backend's member_removed
// (section 11) is the engine's to report, once for the cluster: it
// decides, in the step that finds the user unlisted, whether another
// node reported this join's end already, and tells the join by the
// session that caused it. It costs, per reconnect, a read of the listed
// users of every topic with presence:true subscriptions here, in
// batches.

// SentJoin is a join sent here that no change of its user followed.
type SentJoin struct {
	User    string
	Session string // the session whose arrival caused it
}

// MemberLister is an Engine that tells which joins it no longer lists.
// store/redis implements it.
type MemberLister interface {
	// LostJoins returns the users of those of joins whose user is not a
	// member of topic now (with an error, those it found before it).
	// The first node to find a join so lost has its leave reported to
	// the engine's member watcher (once for the cluster, as the
	// engine's own leaves are); the others only learn that the user is
	// gone.
	LostJoins(ctx context.Context, topic string, joins []SentJoin) ([]string, error)
}

// SendLostLeaves sends, on each topic with presence:true subscriptions
// here, a leave of every user whose last change sent here was a join
// and whom the engine does not list as a member. It does nothing for an
// engine that is no MemberLister. It stops at the first read that fails,
// once it has sent the leaves the engine found before it.
func (b *Broker) SendLostLeaves(ctx context.Context) error {
	lister, ok := b.engine.(MemberLister)
	if !ok {
		return nil
	}
	for i := range b.idx.shards {
		for _, topic := range b.idx.shards[i].watchedTopics() {
			joined := b.idx.shards[i].sentJoins(topic)
			joins := make([]SentJoin, 0, len(joined))
			for u, t := range joined {
				joins = append(joins, SentJoin{User: u, Session: t.session})
			}
			gone, err := lister.LostJoins(ctx, topic, joins)
			for _, u := range gone { // their member_removed may be queued already
				b.sendLostLeave(topic, u, joined[u].n)
			}
			if err != nil {
				return fmt.Errorf("herald: check the joins sent on %s: %w", topic, err)
			}
		}
	}
	return nil
}

// watchedTopics lists the shard's topics with presence:true subscriptions.
func (sh *exactShard) watchedTopics() []string {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	topics := make([]string, 0, len(sh.watched))
	for t := range sh.watched {
		topics = append(topics, t)
	}
	return topics
}

// sentJoins returns, by user, the last change sent of each user of topic
// whose last change was a join.
func (sh *exactShard) sentJoins(topic string) map[string]toldChange {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	joined := make(map[string]toldChange)
	w := sh.watched[topic]
	if w == nil {
		return joined
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for u, t := range w.told {
		if t.join {
			joined[u] = t
		}
	}
	return joined
}

// sendLostLeave sends the leave of user on topic to the subscriptions
// that would get a leave from the engine, if the last change sent of the
// user is still the join numbered n.
func (b *Broker) sendLostLeave(topic, user string, n uint64) {
	c := PresenceChange{Topic: topic, User: user}
	frame := presenceChangeFrame(c)
	batch := batchPool.Get().(*Batch)
	sh := b.idx.shard(topic)
	sh.mu.RLock()
	if w := sh.watched[topic]; w != nil {
		w.mu.Lock()
		if t := w.told[user]; t.join && t.n == n {
			w.sendLocked(c, [16]byte{}, frame, batch)
		}
		w.mu.Unlock()
	}
	sh.mu.RUnlock()
	batch.Flush()
	batchPool.Put(batch)
}
