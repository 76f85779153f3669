package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts behind the webhooks' state (webhooks.go): each change of a
// topic's occupancy, a node's life or a connection, with the event it
// causes, in one step.

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
// (ms), event. A topic held silent leaves nothing to wait, and so does a
// node that held it no more: the report ran before (it is sent again when
// its call failed after it ran, see webhook_replicas.go), or the node was
// released (ReleaseNodes started the wait). Once the first wait ended
// and its topic_vacated was queued, another would be queued after the
// delay.
var vacateScript = goredis.NewScript(`
redis.call('HDEL', KEYS[4], ARGV[2])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
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

// addClientScript: KEYS conns; ARGV session, event. A script, as the
// other reports are, so that it goes with them through runConfirmed.
var addClientScript = goredis.NewScript(`
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
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

// nextScript: KEYS sender, events, last sender, waiting, term; ARGV node,
// lease (ms), count, wait (ms). Takes or renews the lease and returns the
// term, which goes up each time another node than the last sender takes
// the lease (the last sender and the term are kept without a TTL), and
// the oldest entries, or false when another node holds the lease. A lease that lapsed is the last sender's
// to take again at once; another node takes it only once it found it
// lapsed wait before (waiting: node -> when, Redis's clock), so that the sender that comes back from a failover longer than
// the lease goes on sending, with what it knows of what it sent
// (api/hooks webhook_repeats.go), while one that died is replaced.
var nextScript = goredis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return false end
local last = redis.call('GET', KEYS[3])
if not holder and last and last ~= ARGV[1] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local since = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '')
  if not since or now - since > 2 * tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[4], ARGV[1], now)
    redis.call('PEXPIRE', KEYS[4], 2 * tonumber(ARGV[4]))
    return false
  end
  if now - since < tonumber(ARGV[4]) then return false end
  redis.call('DEL', KEYS[4])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[1])
  redis.call('INCR', KEYS[5])
end
return {tonumber(redis.call('GET', KEYS[5]) or '0'), redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', ARGV[3])}
`)

// ackScript: KEYS sender, events; ARGV node, the ids to delete. Deletes
// them only while node holds the lease.
var ackScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XDEL', KEYS[2], unpack(ARGV, 2))
return 1
`)
