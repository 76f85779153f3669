-- The script of the release before 027bc4b, as a node of it runs it
-- during a rolling update: memberScript (KEYS last, held, due, events, then once and back, or back).
local function release(last, held, due, events, topic, max, all)
  local cur = tonumber(redis.call('GET', last) or '0')
  local dropped, moved = 0, false
  while true do
    local first = redis.call('ZRANGE', held, 0, 0, 'WITHSCORES')
    if #first == 0 then break end
    local nl = string.find(first[1], '\n', 1, true)
    if not all and tonumber(string.sub(first[1], 1, nl - 1)) > cur then break end
    redis.call('ZREM', held, first[1])
    if redis.call('XLEN', events) >= max then
      dropped = dropped + 1
    else
      redis.call('XADD', events, '*', 'e', string.sub(first[1], nl + 1))
    end
    cur, moved = math.max(cur, tonumber(first[2])), true
  end
  if moved then redis.call('SET', last, string.format('%d', cur), 'PX', 120000) end
  if redis.call('EXISTS', held) == 0 then redis.call('ZREM', due, topic) end
  return dropped
end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if ARGV[10] == 'lost' then
  local back = redis.call('GET', KEYS[6])
  if back and tonumber(back) > tonumber(ARGV[3]) and redis.call('ZCOUNT', KEYS[2], back, back) == 0 then return 0 end
  if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[9]) then return 0 end
elseif ARGV[10] == 'back' and tonumber(redis.call('GET', KEYS[5]) or '0') < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[9])
end
local n = redis.call('ZCARD', KEYS[2])
local all = n >= tonumber(ARGV[7]) or (n == 0 and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[8]))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2] .. '\n' .. ARGV[4])
local dropped = release(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[5]), all)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('ZADD', KEYS[3], 'NX', now() + tonumber(ARGV[6]), ARGV[1])
end
return dropped
