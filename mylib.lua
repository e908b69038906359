#!lua name=wordcount
--
-- Redis functions of wordcount. Load with:
--   cat mylib.lua | redis-cli -x FUNCTION LOAD REPLACE
-- (the wordcount binary embeds this file and loads it itself whenever a function is missing).
-- Function names carry a version, so an RDB restored from an older build can never run a
-- function with different semantics under the same name.
--
-- Every function validates all of its arguments before its first write: Redis does not roll
-- back a script that fails midway, so a bad call must fail before it changes anything.
-- Counts arrive as decimal strings of at most 15 digits: scores are doubles, exact to 2^53.

-- wc_commit_v1: atomically acknowledge a batch of tasks and add their word counts.
--   KEYS[1] task stream, KEYS[2] counts sorted set
--   ARGV: group, n, id_1 .. id_n, word_1, count_1, word_2, count_2, ...
-- All n tasks must still be pending in the group (whoever holds them): then they are XACKed
-- and every count is added to its word's score. If one is no longer pending (another worker
-- committed it first), nothing changes and the reply is {0, id}. With n == 1 this is exactly
-- the lab's rule: increments only if XACK returned 1. Reply on success: {1, words applied}.
local function commit(keys, args)
  local stream, zset, group = keys[1], keys[2], args[1]
  local n = tonumber(args[2])
  if n == nil or n < 1 or n ~= math.floor(n) or #args < 2 + n then
    return redis.error_reply('ERR wc_commit: bad task count')
  end
  local first = 3 + n
  -- Distinct ids only: a repeated id would pass the pending check twice and then be
  -- acknowledged once without its counts.
  local seen = {}
  for i = 3, 2 + n do
    if seen[args[i]] then return redis.error_reply('ERR wc_commit: task id repeated: ' .. args[i]) end
    seen[args[i]] = true
  end
  if (#args - first + 1) % 2 ~= 0 then
    return redis.error_reply('ERR wc_commit: words and counts must come in pairs')
  end
  -- One pass validates every count and collects the pairs; nothing is written before it ends.
  local words, counts, m = {}, {}, 0
  local match = string.match
  for i = first, #args, 2 do
    local c = args[i + 1]
    if #c > 15 or not match(c, '^[1-9][0-9]*$') then
      return redis.error_reply('ERR wc_commit: count is not a positive integer: ' .. c)
    end
    m = m + 1
    words[m] = args[i]
    counts[m] = tonumber(c)
  end
  if n > 1 then
    for i = 3, 2 + n do
      local p = redis.call('XPENDING', stream, group, args[i], args[i], 1)
      if #p == 0 then return {0, args[i]} end
    end
  end
  for i = 3, 2 + n do
    if redis.call('XACK', stream, group, args[i]) ~= 1 then
      -- Only reachable for n == 1: for n > 1 every id is distinct and was checked pending above.
      return {0, args[i]}
    end
  end
  -- Apply in chunks: ZMSCORE reads the old scores of up to 2000 words in one call, ZADD writes
  -- the new ones in one call (the same result as one ZINCRBY per word, at a fraction of the
  -- cost per word; unpack() also has a limit of ~8000 values).
  local chunk = 2000
  for lo = 1, m, chunk do
    local hi = math.min(m, lo + chunk - 1)
    local old = redis.call('ZMSCORE', zset, unpack(words, lo, hi))
    local zargs, z = {}, 0
    for k = lo, hi do
      local o = old[k - lo + 1]
      zargs[z + 1] = (o and tonumber(o) or 0) + counts[k]
      zargs[z + 2] = words[k]
      z = z + 2
    end
    redis.call('ZADD', zset, unpack(zargs))
  end
  local applied = m
  return {1, applied}
end

-- wc_fail_v1: give up on a task that cannot be counted (unreadable or malformed file).
--   KEYS[1] task stream, KEYS[2] failures hash; ARGV: group, id, message
-- XACKs the task and, only if that acknowledged it, records id -> message. Reply: 1 or 0.
local function fail(keys, args)
  if #args ~= 3 then return redis.error_reply('ERR wc_fail: expected group, id, message') end
  local acked = redis.call('XACK', keys[1], args[1], args[2])
  if acked == 1 then redis.call('HSET', keys[2], args[2], args[3]) end
  return acked
end

-- wc_progress_v2: the job's completion state, read atomically.
--   KEYS[1] task stream; ARGV: group
-- Reply: {entries in the stream, pending entries, 1 if every entry was delivered else 0,
--         entries delivered so far (acknowledged = delivered - pending)}.
-- "Done" is pending == 0 and everything delivered; the lag field of XINFO is not trusted.
local function progress(keys, args)
  if redis.call('EXISTS', keys[1]) == 0 then return redis.error_reply('NOSTREAM task stream missing') end
  local stream = redis.call('XINFO', 'STREAM', keys[1])
  local last_generated, length
  for k = 1, #stream, 2 do
    if stream[k] == 'last-generated-id' then last_generated = stream[k + 1] end
    if stream[k] == 'length' then length = stream[k + 1] end
  end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', keys[1])) do
    local name, pending, delivered, read
    for k = 1, #g, 2 do
      if g[k] == 'name' then name = g[k + 1] end
      if g[k] == 'pending' then pending = g[k + 1] end
      if g[k] == 'last-delivered-id' then delivered = g[k + 1] end
      if g[k] == 'entries-read' then read = g[k + 1] end
    end
    if name == args[1] then
      local all = (delivered == last_generated) and 1 or 0
      -- entries-read can be unknown (nil); when everything was delivered it is the length.
      if all == 1 then read = length end
      return {length, pending, all, read or 0}
    end
  end
  return redis.error_reply('NOGROUP no such consumer group')
end

redis.register_function('wc_commit_v1', commit)
redis.register_function('wc_fail_v1', fail)
redis.register_function{function_name = 'wc_progress_v2', callback = progress, flags = {'no-writes'}}
