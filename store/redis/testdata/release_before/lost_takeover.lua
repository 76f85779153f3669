-- The script of the release before 027bc4b, as a node of it runs it
-- during a rolling update: lostTakeOverScript (KEYS unqueued, users, taken; ARGV dead life, new life).
local function markTaken(taken, user, ends, now)
  if tonumber(redis.call('HGET', taken, user) or '0') < ends then
    redis.call('HSET', taken, user, string.format('%d', ends))
  end
  if redis.call('PTTL', taken) < ends - now then
    redis.call('PEXPIRE', taken, string.format('%d', ends - now))
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local seq, rec = all[i], all[i + 1]
  if string.sub(rec, 1, #ARGV[1] + 1) == ARGV[1] .. '\n' then
    local after, ends, user = string.match(string.sub(rec, #ARGV[1] + 2), '^(%d+)\n(%d+)\n(.*)$')
    if not after or tonumber(ends) <= now or redis.call('HEXISTS', KEYS[2], user) == 1 then
      redis.call('HDEL', KEYS[1], seq)
    else
      redis.call('HSET', KEYS[1], seq, ARGV[2] .. '\n' .. after .. '\n' .. ends .. '\n' .. user)
      markTaken(KEYS[3], user, tonumber(ends), now)
      out[#out + 1] = seq
      out[#out + 1] = after
      out[#out + 1] = user
      out[#out + 1] = string.format('%d', tonumber(ends) - now)
    end
  end
end
return out
