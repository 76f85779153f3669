package redis

import (
	"context"
	"time"

	"github.com/herald-broker/herald/broker"
)

// CheckLostJoinsUnheard runs e's check of joins on topic in Redis as
// LostJoins does, its reply lost: what a read that timed out after Redis
// ran the script leaves.
func CheckLostJoinsUnheard(ctx context.Context, e *Engine, topic string, joins []broker.SentJoin) error {
	return lostJoinsScript.Run(ctx, e.rdb, e.lostJoinsKeys(topic), e.lostJoinsArgs("*", lostLeaveKeep(e.cfg.PresenceLapse), "", false, "", joins)...).Err()
}

// LostJoinsRecord is the key of topic's record of the lost joins whose
// leaves were reported.
func LostJoinsRecord(e *Engine, topic string) string { return e.keys.presLost(topic) }

// LostJoinsUnqueued is the key of topic's reports of lost joins' leaves
// whose member events may not be queued yet.
func LostJoinsUnqueued(e *Engine, topic string) string { return e.keys.presLostUnqueued(topic) }

// LostJoinsPatience is how long past its due time a check of the joins
// sent waits for the live nodes to add their entries back.
var LostJoinsPatience = lostJoinsPatience

// MaxLostLeaveKeep is the longest Redis keeps a record of a lost join's
// reported leave for a node whose own lapse is no longer than
// maxCountedLapse.
var MaxLostLeaveKeep = lostLeaveKeep(maxCountedLapse)

// LostJoinsTopics is the key of the set of the topics where e's life now
// has reports of lost joins' leaves unqueued.
func LostJoinsTopics(e *Engine) string { return e.keys.presLostTopics(e.pres.currentLife()) }

// LostOnceKey is the key that makes the queueing of the member event of
// the lost join's leave of user numbered seq on topic once.
func LostOnceKey(e *Engine, topic string, seq uint64, user string) string {
	return e.keys.lostOnceKey(topic, seq, user)
}

// PauseTakeOver has e call hook once it took over a dead node's reports
// of lost joins' leaves on a topic, before it has their member events
// queued (nil: none).
func PauseTakeOver(e *Engine, hook func(topic string)) {
	if hook == nil {
		e.pres.lostQueued.takenOver.Store(nil)
		return
	}
	e.pres.lostQueued.takenOver.Store(&hook)
}

// LostJoinsTaken is the key of topic's users with a report of a lost
// join's leave made or taken over, maybe unqueued.
func LostJoinsTaken(e *Engine, topic string) string { return e.keys.presLostTaken(topic) }

// ReportLostJoinsKept has e check joins on topic as LostJoins does,
// outside a check after a reconnect, with the leaves it reports kept
// for keep, and returns those leaves, untold to its member watcher.
func ReportLostJoinsKept(ctx context.Context, e *Engine, topic string, keep time.Duration, joins []broker.SentJoin) ([]broker.PresenceChange, error) {
	life := e.pres.currentLife()
	reply, err := e.checkLostBatch(ctx, topic, life, e.lostJoinsKeys(topic), func(indexed bool) []any {
		return e.lostJoinsArgs("*", keep, life, indexed, "", joins)
	}, keep)
	var leaves []broker.PresenceChange
	for i := 0; i+1 < len(reply); i += 2 {
		if after, seq, _, perr := parseOrder(reply[i+1]); perr == nil {
			leaves = append(leaves, broker.PresenceChange{Topic: topic, User: reply[i], After: after, Seq: seq})
		}
	}
	return leaves, err
}

// LostJoinsTakenEnds is the key of the users of topic's taken hash by
// when their marks end.
func LostJoinsTakenEnds(e *Engine, topic string) string { return e.keys.presLostTakenEnds(topic) }

// LostBackKey is the key holding the seq of user's last marked join on
// topic that the queue drops a lost join's leave of user before.
func LostBackKey(e *Engine, topic, user string) string { return e.keys.lostBackKey(topic, user) }

// WebhookKey is the key name of the webhook queue's slot.
func WebhookKey(e *Engine, name string) string { return e.keys.webhooks(name) }
