package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The webhooks' state (docs/protocol.md section 11) lives under one hash
// tag, {webhooks}, so that on Cluster it is one slot and every change of
// a topic's occupancy and the event it causes are one script: the event
// queue then holds each topic's events in the order their changes
// happened, whichever nodes made them. It is not kept in the topic's slot
// as the topic's other keys are because that would split the change from
// its event across slots. Occupancy changes only when a node gains its
// first subscriber to a topic or loses its last, not per message, so one
// slot carries it.
//
//	{webhooks}:events     stream, field e: the queued events, oldest first
//	{webhooks}:sender     string: the node that sends them, with a TTL (the lease)
//	{webhooks}:occ:TOPIC  hash: the nodes with subscribers to TOPIC
//	{webhooks}:vac        hash: TOPIC -> its topic_vacated, while it waits
//	{webhooks}:due        sorted set: TOPIC scored by when its wait ends (ms)
//	{webhooks}:silent     set: held TOPICs whose topic_occupied was dropped, so none of their events goes
//	{webhooks}:nodes      sorted set: NODE scored by when its heartbeat lapses (ms, Redis's clock)
//	{webhooks}:held:NODE  hash: TOPIC -> its topic_vacated, for the topics NODE holds
//	{webhooks}:conns:NODE hash: SESSION -> its client_disconnected should NODE die
//	{webhooks}:m...       the order of member events (webhook_members.go)
func (k keys) webhooks(name string) string { return k.prefix + "{webhooks}:" + name }

// occupyScript: KEYS occ, vac, due, events, held, silent; ARGV node,
// topic, event, max, vacated event, max waiting. Returns 1 when the event
// was queued, -1 when it was dropped (the queue holds max events, or max
// waiting topics wait to be vacated: the topic is then held silent), 0
// when there was none to queue.
var occupyScript = goredis.NewScript(`
redis.call('HSET', KEYS[5], ARGV[2], ARGV[5])
if redis.call('HSET', KEYS[1], ARGV[1], 1) == 0 then return 0 end
if redis.call('HLEN', KEYS[1]) > 1 then return 0 end
if redis.call('HDEL', KEYS[2], ARGV[2]) == 1 then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 0
end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6])
  or redis.call('XLEN', KEYS[4]) >= tonumber(ARGV[4]) then
  redis.call('SADD', KEYS[6], ARGV[2])
  return -1
end
redis.call('XADD', KEYS[4], '*', 'e', ARGV[3])
return 1
`)

// vacateScript: KEYS occ, vac, due, held, silent; ARGV node, topic, due
// (ms), event. A topic held silent leaves nothing to wait.
var vacateScript = goredis.NewScript(`
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
if redis.call('SREM', KEYS[5], ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
`)

// vacatedScript: KEYS vac, due, events; ARGV now (ms), max, the occ key
// prefix. Queues the events of up to 100 topics whose wait ended, in
// order, while the queue holds fewer than max (the topic events' share):
// past it they wait for room, not dropped, as their topic_occupied went
// out. Returns 0, the dropped count of the interface. A topic occupied
// again has left vac already.
var vacatedScript = goredis.NewScript(`
local topics = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, t in ipairs(topics) do
  local ev = redis.call('HGET', KEYS[1], t)
  local due = ev and redis.call('EXISTS', ARGV[3] .. t) == 0
  if due and redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[2]) then
    break -- the share is full: it and the rest wait for room, in order
  end
  redis.call('HDEL', KEYS[1], t)
  redis.call('ZREM', KEYS[2], t)
  if due then
    redis.call('XADD', KEYS[3], '*', 'e', ev)
  end
end
return 0
`)

// aliveScript: KEYS nodes; ARGV node, ttl (ms). The lapse is on Redis's
// clock, the one every node reads.
var aliveScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`)

// releaseScript: KEYS nodes, vac, due, events, silent; ARGV node to
// release ("": none but the lapsed), delay (ms), occ key prefix, held key
// prefix, conns key prefix, max. Takes up to 10 lapsed nodes, and node,
// out of the holders of their topics (a topic left without one starts its
// wait to be vacated, unless it was held silent) and queues the ends of
// their connections. Returns how many of those were dropped.
var releaseScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 10)
if ARGV[1] ~= '' then table.insert(gone, ARGV[1]) end
local dropped = 0
for _, node in ipairs(gone) do
  local held = ARGV[4] .. node
  local topics = redis.call('HGETALL', held)
  for i = 1, #topics, 2 do
    local occ = ARGV[3] .. topics[i]
    redis.call('HDEL', occ, node)
    if redis.call('HLEN', occ) == 0 and redis.call('SREM', KEYS[5], topics[i]) == 0 then
      redis.call('HSET', KEYS[2], topics[i], topics[i + 1])
      redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), topics[i])
    end
  end
  redis.call('DEL', held)
  local conns = ARGV[5] .. node
  local lost = redis.call('HVALS', conns)
  for _, ev in ipairs(lost) do
    if redis.call('XLEN', KEYS[4]) >= tonumber(ARGV[6]) then
      dropped = dropped + 1
    else
      redis.call('XADD', KEYS[4], '*', 'e', ev)
    end
  end
  redis.call('DEL', conns)
  if ARGV[1] == '' or node ~= ARGV[1] then redis.call('ZREM', KEYS[1], node) end
end
return dropped
`)

// removeClientScript: KEYS conns, events; ARGV session, event, max.
// Returns 0 when the event was dropped.
var removeClientScript = goredis.NewScript(`
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
return 1
`)

// queueScript: KEYS events; ARGV event, max. Returns 0 when dropped.
var queueScript = goredis.NewScript(`
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
return 1
`)

// nextScript: KEYS sender, events; ARGV node, lease (ms), count. Takes or
// renews the lease and returns the oldest entries, or false when another
// node holds the lease.
var nextScript = goredis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', ARGV[3])
`)

// ackScript: KEYS sender, events; ARGV node, the ids to delete. Deletes
// them only while node holds the lease.
var ackScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XDEL', KEYS[2], unpack(ARGV, 2))
return 1
`)

// OccupyTopic records that node has subscribers to topic, and queues
// event when no node had any and the topic was not waiting to be vacated.
// With the queue at max or maxWaiting topics waiting, the topic is held
// silent: neither its topic_occupied nor its topic_vacated is queued.
func (e *Engine) OccupyTopic(ctx context.Context, topic, node string, occupied, vacated []byte, max, maxWaiting int) (bool, error) {
	k := e.keys
	n, err := occupyScript.Run(ctx, e.rdb,
		[]string{k.webhooks("occ:" + topic), k.webhooks("vac"), k.webhooks("due"), k.webhooks("events"),
			k.webhooks("held:" + node), k.webhooks("silent")},
		node, topic, occupied, max, vacated, maxWaiting).Int()
	if err != nil {
		return false, e.fail("occupy topic", err)
	}
	return n < 0, nil
}

// VacateTopic records that node has no subscriber to topic left; when no
// node has any, the topic waits to be vacated until due.
func (e *Engine) VacateTopic(ctx context.Context, topic, node string, due time.Time, event []byte) error {
	k := e.keys
	err := vacateScript.Run(ctx, e.rdb,
		[]string{k.webhooks("occ:" + topic), k.webhooks("vac"), k.webhooks("due"), k.webhooks("held:" + node), k.webhooks("silent")},
		node, topic, due.UnixMilli(), event).Err()
	if err != nil {
		return e.fail("vacate topic", err)
	}
	return nil
}

// QueueVacated queues the event of every topic whose wait ended by now,
// and the member events held past their wait (webhook_members.go).
func (e *Engine) QueueVacated(ctx context.Context, now time.Time, maxVacated, max int) (int, error) {
	k := e.keys
	n, err := vacatedScript.Run(ctx, e.rdb,
		[]string{k.webhooks("vac"), k.webhooks("due"), k.webhooks("events")},
		now.UnixMilli(), maxVacated, k.webhooks("occ:")).Int()
	if err != nil {
		return 0, e.fail("queue vacated topics", err)
	}
	held, err := e.queueOverdueMembers(ctx, max)
	return n + held, err
}

// NodeAlive records that node runs, until ttl from now on Redis's clock.
func (e *Engine) NodeAlive(ctx context.Context, node string, ttl time.Duration) error {
	if err := aliveScript.Run(ctx, e.rdb, []string{e.keys.webhooks("nodes")}, node, ttl.Milliseconds()).Err(); err != nil {
		return e.fail("webhook heartbeat", err)
	}
	return nil
}

// ReleaseNodes takes the nodes whose heartbeat lapsed, and node when not
// "", out of the holders of their topics.
func (e *Engine) ReleaseNodes(ctx context.Context, node string, delay time.Duration, max int) (int, error) {
	k := e.keys
	n, err := releaseScript.Run(ctx, e.rdb,
		[]string{k.webhooks("nodes"), k.webhooks("vac"), k.webhooks("due"), k.webhooks("events"), k.webhooks("silent")},
		node, delay.Milliseconds(), k.webhooks("occ:"), k.webhooks("held:"), k.webhooks("conns:"), max).Int()
	if err != nil {
		return 0, e.fail("release the topics and connections of stopped nodes", err)
	}
	return n, nil
}

// AddClient records that node has the connection session, with the event
// to queue should node die with it.
func (e *Engine) AddClient(ctx context.Context, node, session string, lost []byte) error {
	if err := e.rdb.HSet(ctx, e.keys.webhooks("conns:"+node), session, lost).Err(); err != nil {
		return e.fail("record a connection", err)
	}
	return nil
}

// RemoveClient forgets session and queues event in one step.
func (e *Engine) RemoveClient(ctx context.Context, node, session string, event []byte, max int) (bool, error) {
	n, err := removeClientScript.Run(ctx, e.rdb, []string{e.keys.webhooks("conns:" + node), e.keys.webhooks("events")},
		session, event, max).Int()
	if err != nil {
		return false, e.fail("queue a connection's end", err)
	}
	return n == 0, nil
}

// QueueEvent queues event.
func (e *Engine) QueueEvent(ctx context.Context, event []byte, max int) (bool, error) {
	n, err := queueScript.Run(ctx, e.rdb, []string{e.keys.webhooks("events")}, event, max).Int()
	if err != nil {
		return false, e.fail("queue event", err)
	}
	return n == 0, nil
}

// NextEvents gives node, when it holds or takes the sender's lease, the
// oldest events, at most n. The cursor names their stream ids.
func (e *Engine) NextEvents(ctx context.Context, node string, n int, lease time.Duration) ([][]byte, string, bool, error) {
	k := e.keys
	res, err := nextScript.Run(ctx, e.rdb, []string{k.webhooks("sender"), k.webhooks("events")},
		node, lease.Milliseconds(), n).Slice()
	if err == goredis.Nil {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, e.fail("read webhook events", err)
	}
	events := make([][]byte, 0, len(res))
	ids := make([]string, 0, len(res))
	for _, entry := range res {
		id, ev, err := streamEntry(entry)
		if err != nil {
			return nil, "", false, err
		}
		events, ids = append(events, ev), append(ids, id)
	}
	return events, strings.Join(ids, " "), true, nil
}

// streamEntry reads one XRANGE entry, [id, [field, value, ...]].
func streamEntry(entry any) (string, []byte, error) {
	pair, ok := entry.([]any)
	if !ok || len(pair) != 2 {
		return "", nil, fmt.Errorf("herald/redis: a webhook event entry is %T", entry)
	}
	id, _ := pair[0].(string)
	fields, _ := pair[1].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		if f, _ := fields[i].(string); f == "e" {
			v, _ := fields[i+1].(string)
			return id, []byte(v), nil
		}
	}
	return "", nil, fmt.Errorf("herald/redis: webhook event %s has no event", id)
}

// AckEvents deletes the events of cursor while node holds the lease.
func (e *Engine) AckEvents(ctx context.Context, node, cursor string) error {
	if cursor == "" {
		return nil
	}
	args := []any{node}
	for _, id := range strings.Fields(cursor) {
		args = append(args, id)
	}
	if err := ackScript.Run(ctx, e.rdb, []string{e.keys.webhooks("sender"), e.keys.webhooks("events")}, args...).Err(); err != nil {
		return e.fail("acknowledge webhook events", err)
	}
	return nil
}
