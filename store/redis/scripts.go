package redis

import (
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
)

// publishScript takes one publish in one atomic step. meta keeps the last
// message's id beside its seq, so that a node can tell the seq it handed
// over from the same seq given again after a failover (see diverged).
//
// meta's mark is the seq as this server last wrote it, and goes neither to
// replicas nor to the append-only file: on a replica that took over, or a
// server restarted from its append-only file, it differs from seq (or is
// missing), so the topic's next publish starts a new epoch instead of
// giving seqs its old master may have acknowledged already (see
// failover.go). Beside it, meta's run names the server process that wrote
// the mark, as the run key does the one running the script (runLua): a
// snapshot holds the mark, but a server started again from it has another
// run. The id and the mark took the script from 9.6 to 11.3 µs of
// Redis's time per publish here (redis-server 7.0, INFO commandstats over
// 20,000 publishes); the run, from 9.1 to 9.9 µs (medians of 15 rounds
// of 4,000 publishes each, pipelined 16 deep over 100 topics, the old
// and new script in turn).
//
// The stream is trimmed to the history size once every trimEvery
// publishes, not on each: XADD with an exact MAXLEN cost 2.4 µs of Redis's
// time a call, 0.7 µs without, and an exact XTRIM of 16 entries 2.2 µs,
// which took the script from 10.2 to 8.5 µs (one topic, history 100,
// pipelined 16 deep). The stream so holds up to trimEvery-1 entries past
// the history, which readScript does not return. seq, id and epoch are
// written by one HSET, as HINCRBY and two HSETs they cost 0.5 µs more.
//
// A stream that already holds the seq a publish is to give is not the
// epoch's own, and the publish starts a new epoch: on Cluster, a failover
// in the middle of a migration of the topic's slot can leave the stream
// on the new master and meta on the promoted replica, which writes a
// stream of its own in a new epoch, and redis-cli --cluster fix
// --cluster-replace (what redis-cli asks for when the two masters' copies
// differ) then puts the other stream back over it. The XADD came after
// meta was written, so Redis refused the publish (answered internal)
// after the seq was spent and meta named a message that never was; it
// now comes before any write, and Redis's refusal is what tells.
//
// KEYS: meta, hist, the run key (on Cluster, the one of the topic's slot:
// see runLua), and idem when the publish has an idempotency key.
// ARGV: epoch to start if the topic has none, id, time, data, history size,
// history TTL (ms), idempotency TTL (ms), classic channel ("": none),
// topic, sharded channel ("": none; on Cluster, in the keys' slot).
// Returns "epoch\nseq\nid": this publish's result, or the first one's for a
// repeated idempotency key.
var publishScript = goredis.NewScript(`
if #KEYS == 4 then
  local first = redis.call('GET', KEYS[4])
  if first then return first end
end
` + runLua + `
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'mark', 'run')
local epoch = meta[1]
local size = tonumber(ARGV[5])
local n, added
if epoch and meta[2] == meta[3] and (not run or meta[4] == run) then
  n = (tonumber(meta[2]) or 0) + 1
  if size > 0 then
    -- Before any write, so that a refusal leaves the topic as it was.
    added = redis.pcall('XADD', KEYS[2], string.format('%d-0', n), 'i', ARGV[2], 'm', ARGV[3], 'd', ARGV[4])
    if type(added) == 'table' and added.err then
      if not string.find(added.err, 'equal or smaller', 1, true) then return added end
      -- The stream holds this seq already: it is not the epoch's own.
      epoch, added = nil, nil
    end
  end
end
if not epoch or meta[2] ~= meta[3] or (run and meta[4] ~= run) then
  epoch = ARGV[1]
  -- A write Redis refuses when out of memory comes first: it refuses one
  -- only while the script has written nothing, and never refuses a DEL.
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('DEL', KEYS[1], KEYS[2])
  n = 1
end
local seq = string.format('%d', n)
redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', seq, 'id', ARGV[2])
mark(seq)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if size > 0 then
  if not added then
    redis.call('XADD', KEYS[2], seq .. '-0', 'i', ARGV[2], 'm', ARGV[3], 'd', ARGV[4])
  end
  if n % math.min(size, ` + trimEvery + `) == 0 then
    redis.call('XTRIM', KEYS[2], 'MAXLEN', '=', size)
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
local result = epoch .. '\n' .. seq .. '\n' .. ARGV[2]
if #KEYS == 4 then
  redis.call('SET', KEYS[4], result, 'PX', ARGV[7])
end
local payload = ARGV[9] .. '\n' .. epoch .. '\n' .. seq .. '\n' .. ARGV[2] .. '\n' .. ARGV[3] .. '\n' .. ARGV[4]
if ARGV[10] and ARGV[10] ~= '' then redis.call('SPUBLISH', ARGV[10], payload) end
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], payload) end
return result
`)

// runLua begins the scripts that write or judge meta's mark: run is the
// run key's value (see runstamp.go), false when there is none (a Redis
// that refuses INFO to the engine's user, or a Cluster slot no connection
// stamped yet: see runstamp_cluster.go), and mark(seq) writes the mark,
// with the run, kept out of replication and the append-only file. A
// topic whose meta holds another run than the run key was written by
// another server process, or loaded from a snapshot, and is not taken as
// this server's own. KEYS[1] is meta, KEYS[3] the run key: on Cluster the
// one of the topic's slot, so that the script names the keys of one slot
// only.
const runLua = `
local run = redis.call('GET', KEYS[3])
local function mark(seq)
  redis.set_repl(redis.REPL_NONE)
  if run then
    redis.call('HSET', KEYS[1], 'mark', seq, 'run', run)
  else
    redis.call('HSET', KEYS[1], 'mark', seq)
  end
  redis.set_repl(redis.REPL_ALL)
end
`

// trimEvery is how many publishes a topic's stream grows by between two
// trims to the history size (see publishScript); a history smaller than
// this is trimmed every history-size publishes, so that it holds at most
// twice its size.
const trimEvery = "16"

// readScript returns a topic's position and history in one atomic step.
// Of the stream it reads no further back than the history size: the
// stream may hold older entries, not trimmed yet (see publishScript).
//
// A resume reads within a budget: with count -1 and a byte budget (ARGV
// 7), it stops after the entry whose fields take what it read past the
// budget; with an epoch (ARGV 8) that is not the topic's, it reads no
// entry. Read whole, a history of 100 messages of 64 KiB took Redis 4.7
// ms a call (redis-server 7.0), for a client that could take at most a
// megabyte of it, or, in another epoch, none. It reads one entry first,
// then chunks of as many as the sizes seen so far say take it past the
// budget (16 at most): chunks of 16 copied 480 KB of 30 KB messages to
// return 60 KB for a budget of 30 KiB. It then returns also the entries
// and bytes of fields the chunks copied, returned or not, which is what
// its call cost Redis.
//
// KEYS: meta, hist, the run key (see runLua), and, where a subscription
// starts, the topic's presence change log and its end. ARGV: epoch to
// start if the topic has none ("" starts none), history TTL (ms), since, count (-1: all, 0:
// none), last seq to read ("+" for no bound), history size, and
// optionally the byte budget (0: none) and the epoch read from ("": any).
// Returns
// {epoch or "", seq, entries as XRANGE gives them, unsure}, with a byte
// budget the entries and bytes copied, and with the change log the ID of its last entry (or, the log gone, the one its end
// keeps; noChange: none) as well, read in the same step, so that a
// subscription's joins and leaves start where its messages do. unsure is
// 1 when meta's mark is not its seq, or its run not the run key's: this
// server process did not write the seq (a replica that took over, or a
// restart from the append-only file or a snapshot), so its master, or
// itself before, may have acknowledged later messages that are lost, and
// a resume cannot be told it recovered everything (see failover.go).
var readScript = goredis.NewScript(runLua + `
local scanned
local function read()
  local epoch = redis.call('HGET', KEYS[1], 'epoch')
  if not epoch then
    if ARGV[1] == '' then return {'', 0, {}} end
    epoch = ARGV[1]
    redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
    mark(0)
    redis.call('DEL', KEYS[2])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {epoch, 0, {}}
  end
  local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
  local count = tonumber(ARGV[4])
  if count == 0 or (ARGV[8] and ARGV[8] ~= '' and ARGV[8] ~= epoch) then return {epoch, seq, {}} end
  local start = string.format('%d-0', math.max(tonumber(ARGV[3]), seq - tonumber(ARGV[6])) + 1)
  local budget = tonumber(ARGV[7] or '0') or 0
  local entries
  if count < 0 and budget > 0 then
    entries = {}
    scanned = {0, 0}
    local bytes, n, past = 0, 1, false
    repeat
      local chunk = redis.call('XRANGE', KEYS[2], start, ARGV[5], 'COUNT', n)
      for _, e in ipairs(chunk) do
        local size = 0
        for i = 2, #e[2], 2 do size = size + #e[2][i] end
        scanned[1], scanned[2] = scanned[1] + 1, scanned[2] + size
        if not past then
          entries[#entries + 1] = e
          bytes = bytes + size
          past = bytes > budget
        end
      end
      if past or #chunk < n then break end
      start = '(' .. chunk[#chunk][1]
      n = math.min(16, math.floor((budget - bytes) / math.ceil(bytes / #entries)) + 1)
    until false
  elseif count < 0 then
    entries = redis.call('XRANGE', KEYS[2], start, ARGV[5])
  else
    entries = redis.call('XRANGE', KEYS[2], start, ARGV[5], 'COUNT', count)
  end
  return {epoch, seq, entries}
end
local r = read()
local m = redis.call('HMGET', KEYS[1], 'seq', 'mark', 'run')
r[4] = (m[1] and (m[1] ~= m[2] or (run and m[3] ~= run))) and 1 or 0
if KEYS[4] then
  local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
  r[5] = last[1] and last[1][1] or redis.call('GET', KEYS[5]) or '0-0'
elseif scanned then
  r[5], r[6] = scanned[1], scanned[2]
end
return r
`)

// parseResult reads the publish script's "epoch\nseq\nid".
func parseResult(topic, s string) (broker.PublishResult, error) {
	epoch, rest, ok1 := strings.Cut(s, "\n")
	seqText, id, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 {
		return broker.PublishResult{}, fmt.Errorf("herald/redis: publish result %q is malformed", s)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return broker.PublishResult{}, fmt.Errorf("herald/redis: publish result %q: %w", s, err)
	}
	return broker.PublishResult{Topic: topic, Epoch: epoch, Seq: seq, ID: id}, nil
}

// parseStart reads the read script's reply when it read the change log
// too: the position, and where the log ends.
func parseStart(topic string, v any) (broker.Position, string, error) {
	reply, ok := v.([]any)
	if !ok || len(reply) != 5 {
		return broker.Position{}, "", fmt.Errorf("herald/redis: read reply %v is malformed", v)
	}
	tail, _ := reply[4].(string)
	if !isStreamID(tail) {
		return broker.Position{}, "", fmt.Errorf("herald/redis: change log ID %v is malformed", reply[4])
	}
	res, err := parseRead(topic, reply[:4])
	return res.Position, tail, err
}

// parseRead reads the read script's reply.
func parseRead(topic string, v any) (broker.HistoryResult, error) {
	var res broker.HistoryResult
	reply, ok := v.([]any)
	if !ok || (len(reply) != 4 && len(reply) != 6) {
		return res, fmt.Errorf("herald/redis: read reply %v is malformed", v)
	}
	if len(reply) == 6 {
		entries, _ := reply[4].(int64)
		bytes, _ := reply[5].(int64)
		res.Scanned = broker.Scanned{Entries: int(entries), Bytes: int(bytes)}
	}
	epoch, _ := reply[0].(string)
	seq, _ := reply[1].(int64)
	res.Position = broker.Position{Epoch: epoch, Seq: uint64(seq)}
	unsure, _ := reply[3].(int64)
	res.Unsure = unsure == 1
	entries, _ := reply[2].([]any)
	for _, e := range entries {
		m, err := parseEntry(topic, epoch, e)
		if err != nil {
			return res, err
		}
		res.Messages = append(res.Messages, m)
	}
	return res, nil
}

// parseEntry reads one stream entry: [ "<seq>-0", [field, value, ...] ].
func parseEntry(topic, epoch string, v any) (*broker.Message, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return nil, fmt.Errorf("herald/redis: stream entry %v is malformed", v)
	}
	id, _ := pair[0].(string)
	seqText, _, _ := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("herald/redis: stream entry id %q: %w", id, err)
	}
	m := &broker.Message{Topic: topic, Epoch: epoch, Seq: seq}
	fields, _ := pair[1].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		name, _ := fields[i].(string)
		value, _ := fields[i+1].(string)
		switch name {
		case "i":
			m.ID = value
		case "m":
			m.Time, _ = strconv.ParseInt(value, 10, 64)
		case "d":
			m.Data = []byte(value)
		}
	}
	return m, nil
}

// parsePayload reads a message published by publishScript:
// "topic\nepoch\nseq\nid\ntime\ndata". The fields are read from a copy
// of the few bytes before data: they outlive the message (a topic's last
// ID and epoch in its delivery state, a topic in the broker's delivery
// counts), and as parts of s they would keep every such message's data,
// up to the largest message, alive with them.
func parsePayload(s string) (*broker.Message, error) {
	var f [5]string
	rest := s
	for i := range f {
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, "\n"); !ok {
			return nil, fmt.Errorf("herald/redis: message payload has %d of 6 fields", i+1)
		}
	}
	head := strings.Clone(s[:len(s)-len(rest)])
	for i := range f {
		f[i], head, _ = strings.Cut(head, "\n")
	}
	seq, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("herald/redis: message seq %q: %w", f[2], err)
	}
	ms, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("herald/redis: message time %q: %w", f[4], err)
	}
	return &broker.Message{Topic: f[0], Epoch: f[1], Seq: seq, ID: f[3], Time: ms, Data: []byte(rest)}, nil
}
