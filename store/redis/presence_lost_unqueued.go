package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// The unqueued records of lost joins' leaves in Redis
// (presence_lost_queue.go says why they are kept): the life's set of
// topics with reports unqueued, the record taken out once its member
// event is queued, and the records of a dead life taken over and queued
// by whoever cleans up after it.

// lostReporterLife is the life the lost-joins script keeps the leaves it
// reports unqueued under, or "" when no member watcher would queue them.
func (e *Engine) lostReporterLife() string {
	if e.members.Load() == nil {
		return ""
	}
	return e.pres.currentLife()
}

// indexLostLocked puts topic in life's set of topics with reports
// unqueued, unless this node did already. The caller holds index.
func (e *Engine) indexLostLocked(ctx context.Context, life, topic string) error {
	q := &e.pres.lostQueued
	if q.indexed[lostTopic{life, topic}] {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := e.rdb.SAdd(ictx, e.keys.presLostTopics(life), topic).Err(); err != nil {
		return fmt.Errorf("herald/redis: note the reports unqueued on %s: %w", topic, err)
	}
	if q.indexed == nil {
		q.indexed = make(map[lostTopic]bool)
	}
	q.indexed[lostTopic{life, topic}] = true
	return nil
}

// unindexLostLocked takes topic out of life's set of topics with
// reports unqueued once no report of life on it is pending here. One
// that fails leaves the topic in the set, where it does no harm but
// cost whoever cleans up after the life a read. The caller holds index.
func (e *Engine) unindexLostLocked(ctx context.Context, life, topic string) {
	q := &e.pres.lostQueued
	t := lostTopic{life, topic}
	if !q.indexed[t] || q.pendingOn(life, topic) {
		return
	}
	uctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := e.rdb.SRem(uctx, e.keys.presLostTopics(life), topic).Err(); err != nil {
		e.log.Debug("cannot forget a topic's reports unqueued", zap.String("topic", topic), zap.Error(err))
		return
	}
	delete(q.indexed, t)
}

// lostQueuedScript takes the report of a lost join's leave out of the
// unqueued hash once its member event is queued, unless another life
// took it over meanwhile.
//
// KEYS: unqueued. ARGV: seq, life.
var lostQueuedScript = goredis.NewScript(`
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and string.sub(rec, 1, #ARGV[2] + 1) == ARGV[2] .. '\n' then
  redis.call('HDEL', KEYS[1], ARGV[1], 't:' .. ARGV[1])
end
return 0
`)

// markLostQueued takes the report out of topic's unqueued hash now that
// QueueMember queued its member event, and the topic out of the life's
// set once no other report of it is pending. A failure leaves both to
// whoever cleans up after this life, which queues the event again, and
// QueueMember leaves that out.
func (e *Engine) markLostQueued(ctx context.Context, topic string, seq uint64, p lostPending) {
	err := lostQueuedScript.Run(ctx, e.rdb, []string{e.keys.presLostUnqueued(topic)},
		strconv.FormatUint(seq, 10), p.life).Err()
	if err != nil {
		e.log.Debug("cannot note a lost join's leave queued", zap.String("topic", topic), zap.Error(err))
		return
	}
	q := &e.pres.lostQueued
	q.index.Lock()
	defer q.index.Unlock()
	e.unindexLostLocked(ctx, p.life, topic)
}

// lostTakeOverScript takes over the reports of a dead life unqueued on a
// topic: those of users the topic lists again are dropped (the comment
// atop presence_lost_queue.go says why), and so are those past their
// end, when the key that makes their queueing once may be gone (their
// hash lives as long as its last report); the others are kept under the
// new life, with the same end, and their users marked in the taken hash
// until then, so that a join of one from now on is queued with its back
// key.
//
// KEYS: unqueued, users, taken, its marks by end, the slot's terms.
// ARGV: dead life, new life. Returns, for each report taken over, its
// seq, after, user, time left (ms) and the term its seq is of ("" when
// unknown: a report of the release before, which kept none).
var lostTakeOverScript = goredis.NewScript(markTakenLua + lostTermLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local seq, rec = all[i], all[i + 1]
  if string.sub(seq, 1, 2) ~= 't:' and string.sub(rec, 1, #ARGV[1] + 1) == ARGV[1] .. '\n' then
    rec = string.sub(rec, #ARGV[1] + 2)
    local after, ends, user = string.match(rec, '^(%d+)\n(%d+)\n(.*)$')
    if not after or tonumber(ends) <= now or redis.call('HEXISTS', KEYS[2], user) == 1 then
      redis.call('HDEL', KEYS[1], seq, 't:' .. seq)
    else
      redis.call('HSET', KEYS[1], seq, ARGV[2] .. '\n' .. rec)
      markTaken(KEYS[3], KEYS[4], KEYS[5], user, tonumber(ends), now)
      out[#out + 1] = seq
      out[#out + 1] = after
      out[#out + 1] = user
      out[#out + 1] = string.format('%d', tonumber(ends) - now)
      out[#out + 1] = lostTerm(KEYS[1], seq, rec)
    end
  end
end
return out
`)

// queueLostOf has the member watcher queue the member events of the
// lost joins' leaves that the dead life reported and did not queue, as
// it cleans up after it. A node without a watcher (started without
// webhooks, where the others have them) leaves them to lapse, and
// forgets the life's set all the same, which nobody would otherwise.
func (e *Engine) queueLostOf(ctx context.Context, dead string) error {
	set := e.keys.presLostTopics(dead)
	fn := e.members.Load()
	if fn == nil {
		return e.rdb.Del(ctx, set).Err()
	}
	for cursor := uint64(0); ; {
		topics, next, err := e.rdb.SScan(ctx, set, cursor, "", reapBatch).Result()
		if err != nil {
			return fmt.Errorf("herald/redis: read the topics of a dead node's lost joins: %w", err)
		}
		for _, topic := range topics {
			if broker.CheckTopic(topic) != nil {
				continue // not ours to touch
			}
			if err := e.takeOverLost(ctx, topic, dead, *fn); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return e.rdb.Del(ctx, set).Err()
}

// takeOverLost takes over dead's unqueued reports on topic and tells fn
// of each. The topic goes in this life's set first, as it does before
// the lost-joins script keeps a report, and out again when none was
// taken over.
func (e *Engine) takeOverLost(ctx context.Context, topic, dead string, fn func(broker.PresenceChange)) error {
	changes, err := e.takeOverLostIndexed(ctx, topic, dead)
	if hook := e.pres.lostQueued.takenOver.Load(); hook != nil && len(changes) > 0 {
		(*hook)(topic)
	}
	for _, c := range changes {
		fn(c)
	}
	return err
}

// takeOverLostIndexed takes over dead's unqueued reports on topic, notes
// them pending, and returns their changes.
func (e *Engine) takeOverLostIndexed(ctx context.Context, topic, dead string) ([]broker.PresenceChange, error) {
	q := &e.pres.lostQueued
	q.index.Lock()
	defer q.index.Unlock()
	life := e.pres.currentLife()
	defer e.unindexLostLocked(ctx, life, topic)
	if err := e.indexLostLocked(ctx, life, topic); err != nil {
		return nil, fmt.Errorf("herald/redis: take over a dead node's lost joins on %s: %w", topic, err)
	}
	keys := []string{e.keys.presLostUnqueued(topic), e.keys.presUsers(topic), e.keys.presLostTaken(topic),
		e.keys.presLostTakenEnds(topic), e.keys.presLostTerms(topic)}
	reply, err := lostTakeOverScript.Run(ctx, e.rdb, keys, dead, life).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("herald/redis: take over a dead node's lost joins on %s: %w", topic, err)
	}
	now := time.Now()
	var changes []broker.PresenceChange
	for i := 0; i+4 < len(reply); i += 5 {
		seq, err1 := strconv.ParseUint(reply[i], 10, 64)
		after, err2 := strconv.ParseUint(reply[i+1], 10, 64)
		left, err3 := strconv.ParseInt(reply[i+3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			e.log.Error("a dead node's lost join's leave has a malformed order", zap.String("topic", topic))
			continue
		}
		// The once key lasts at least as long as the report.
		q.add(lostReport{topic, seq}, lostPending{user: reply[i+2], life: life, keep: time.Duration(left) * time.Millisecond, at: now,
			term: reply[i+4]})
		changes = append(changes, broker.PresenceChange{Topic: topic, User: reply[i+2], After: after, Seq: seq})
	}
	return changes, nil
}
