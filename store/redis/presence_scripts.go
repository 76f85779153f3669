package redis

import (
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
)

// presenceLua is what the presence scripts share. An entry is stored as
// "<owner life>\n<user>" under its session in the topic's pres hash; users
// holds "<sessions>\n<info>" under each named user: its sessions on the
// topic and the info its join carried, in one field so that a read of the
// topic is one HGETALL. A join or leave is published on the topic's
// channels as "\n" followed by 'j' or 'l' and the netstrings
// "<len>:<bytes>" of topic, user, session and info: a message payload
// starts with its topic, never empty, so a change is never taken for a
// message (see parseChange).
//
// Every presence script's KEYS[5] is the topic's names index: a user is
// added to it when it is added to users, and removed with it.
//
// remove(pres, users, session, owner, classic, sharded, topic) removes
// session's entry when owner is "" or owns it, and publishes the leave of
// its user's last session; it returns that leave's payload, true when it
// removed an entry without a leave, false when there was none.
//
// The scripts return the payloads of the joins and leaves they published,
// so that the node that caused one can tell the webhooks, once for the
// cluster (Engine.WatchMembers). Each returned payload is followed by the
// netstring "<after> <seq>": the topic's changes are numbered in its seq
// key (KEYS[4]) in the order the scripts decide them, so that the webhook
// queue, in another slot, can put the nodes' reports back in that order
// (webhook_members.go). after is the number of the change before, 0 when
// the key had lapsed: it lives a minute past the topic's last change, and
// a new count starts from Redis's clock in ms, past the old one.
const presenceLua = `
local function ns(s) return #s .. ':' .. s end
local function order()
  local after = tonumber(redis.call('GET', KEYS[4]) or '0')
  local seq = after + 1
  if after == 0 then
    local t = redis.call('TIME')
    seq = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  redis.call('SET', KEYS[4], string.format('%d', seq), 'PX', 60000)
  return ns(string.format('%d %d', after, seq))
end
local function announce(classic, sharded, kind, topic, user, session, info)
  local payload = '\n' .. kind .. ns(topic) .. ns(user) .. ns(session) .. ns(info)
  if sharded ~= '' then redis.call('SPUBLISH', sharded, payload) end
  if classic ~= '' then redis.call('PUBLISH', classic, payload) end
  return payload .. order()
end
local function remove(pres, users, session, owner, classic, sharded, topic)
  local cur = redis.call('HGET', pres, session)
  if not cur then return false end
  local nl = string.find(cur, '\n', 1, true)
  if owner ~= '' and string.sub(cur, 1, nl - 1) ~= owner then return false end
  local user = string.sub(cur, nl + 1)
  redis.call('HDEL', pres, session)
  if user == '' then return true end
  local member = redis.call('HGET', users, user)
  if not member then return true end
  nl = string.find(member, '\n', 1, true)
  local n = tonumber(string.sub(member, 1, nl - 1)) - 1
  if n > 0 then
    redis.call('HSET', users, user, n .. string.sub(member, nl))
  else
    redis.call('HDEL', users, user)
    redis.call('ZREM', KEYS[5], user)
    return announce(classic, sharded, 'l', topic, user, session, '')
  end
  return true
end
`

// addPresenceScript records an entry unless its session has one on the
// topic; a session present under another life of a node is taken over by
// this one (see Engine.reclaim), and nothing else changes.
//
// KEYS: pres, users, owned (this life's), seq, names, and, but on
// Cluster, the life's topic set, to which the script adds the topic. ARGV: session, life,
// user, info, classic channel, sharded channel, topic. Returns the join's
// payload when it published one, else "1" when it added the entry, "0"
// when the session had one.
var addPresenceScript = goredis.NewScript(presenceLua + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local nl = string.find(cur, '\n', 1, true)
  if string.sub(cur, 1, nl - 1) ~= ARGV[2] then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(cur, nl))
    redis.call('SADD', KEYS[3], ARGV[1])
    if KEYS[6] then redis.call('SADD', KEYS[6], ARGV[7]) end
  end
  return '0'
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\n' .. ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
if KEYS[6] then redis.call('SADD', KEYS[6], ARGV[7]) end
if ARGV[3] == '' then return '1' end
local member = redis.call('HGET', KEYS[2], ARGV[3])
if member then
  local nl = string.find(member, '\n', 1, true)
  redis.call('HSET', KEYS[2], ARGV[3], (tonumber(string.sub(member, 1, nl - 1)) + 1) .. string.sub(member, nl))
else
  redis.call('HSET', KEYS[2], ARGV[3], '1\n' .. ARGV[4])
  redis.call('ZADD', KEYS[5], 0, ARGV[3])
  return announce(ARGV[5], ARGV[6], 'j', ARGV[7], ARGV[3], ARGV[1], ARGV[4])
end
return '1'
`)

// removePresenceScript removes a session's entry, whoever owns it.
//
// KEYS: pres, users, owned (this life's), seq, names. ARGV: session, classic channel,
// sharded channel, topic. Returns the leave's payload when it published
// one, else "1" when there was an entry, "0" when not.
var removePresenceScript = goredis.NewScript(presenceLua + `
redis.call('SREM', KEYS[3], ARGV[1])
local r = remove(KEYS[1], KEYS[2], ARGV[1], '', ARGV[2], ARGV[3], ARGV[4])
if type(r) == 'string' then return r end
if r then return '1' end
return '0'
`)

// reapPresenceScript removes up to a batch of the entries a dead node life
// owned on a topic, publishing the leaves. An entry another life took over
// since stays.
//
// KEYS: pres, users, owned (the dead life's), seq, names. ARGV: dead life, batch,
// classic channel, sharded channel, topic. Returns how many of the dead
// life's sessions are left to look at, followed by the payloads of the
// leaves it published.
var reapPresenceScript = goredis.NewScript(presenceLua + `
local sessions = redis.call('SPOP', KEYS[3], tonumber(ARGV[2]))
local leaves = ''
for _, s in ipairs(sessions) do
  local r = remove(KEYS[1], KEYS[2], s, ARGV[1], ARGV[3], ARGV[4], ARGV[5])
  if type(r) == 'string' then leaves = leaves .. r end
end
return tostring(redis.call('SCARD', KEYS[3])) .. leaves
`)

// heartbeatScript keeps a node life registered until Redis's clock passes
// now plus the lapse, and reports whether it was registered and not lapsed
// already ("1"), or is new or was lapsed ("0"). Redis's clock is the one
// every node reads, so nodes' clocks may disagree.
//
// KEYS: nodes. ARGV: life, lapse (ms).
var heartbeatScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if old >= now then return '1' end
return '0'
`)

// lapsedScript returns up to ARGV[1] node lives whose heartbeat lapsed.
//
// KEYS: nodes.
var lapsedScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[1]))
`)

// isChange reports whether a payload on a topic channel is a join or
// leave rather than a message.
func isChange(payload string) bool { return strings.HasPrefix(payload, "\n") }

// parseChange reads a join or leave published by the presence scripts.
func parseChange(payload string) (broker.PresenceChange, error) {
	c, rest, err := parseChangePrefix(payload)
	if err == nil && rest != "" {
		return c, fmt.Errorf("herald/redis: presence change %q has trailing bytes", payload)
	}
	return c, err
}

// parseChangePrefix parses the change payload starts with and returns what
// follows it.
func parseChangePrefix(payload string) (broker.PresenceChange, string, error) {
	var c broker.PresenceChange
	if len(payload) < 2 || payload[0] != '\n' || (payload[1] != 'j' && payload[1] != 'l') {
		return c, "", fmt.Errorf("herald/redis: presence change %q is malformed", payload)
	}
	c.Join = payload[1] == 'j'
	rest := payload[2:]
	var f [4]string
	for i := range f {
		text, tail, ok := strings.Cut(rest, ":")
		n, err := strconv.Atoi(text)
		if !ok || err != nil || n < 0 || n > len(tail) {
			return c, "", fmt.Errorf("herald/redis: presence change %q: field %d is malformed", payload, i+1)
		}
		f[i], rest = tail[:n], tail[n:]
	}
	c.Topic, c.User, c.Session = f[0], f[1], f[2]
	if f[3] != "" {
		c.Info = []byte(f[3])
	}
	return c, rest, nil
}
