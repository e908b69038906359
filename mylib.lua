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

-- The stream's delivery state: {entries, pending, 1 if every entry was delivered else 0,
-- entries delivered so far}, or nil and an error reply. The lag field of XINFO is not trusted.
local function stream_state(stream, group)
  if redis.call('EXISTS', stream) == 0 then return nil, redis.error_reply('NOSTREAM task stream missing') end
  local info = redis.call('XINFO', 'STREAM', stream)
  local last_generated, length
  for k = 1, #info, 2 do
    if info[k] == 'last-generated-id' then last_generated = info[k + 1] end
    if info[k] == 'length' then length = info[k + 1] end
  end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, pending, delivered, read
    for k = 1, #g, 2 do
      if g[k] == 'name' then name = g[k + 1] end
      if g[k] == 'pending' then pending = g[k + 1] end
      if g[k] == 'last-delivered-id' then delivered = g[k + 1] end
      if g[k] == 'entries-read' then read = g[k + 1] end
    end
    if name == group then
      local all = (delivered == last_generated) and 1 or 0
      -- entries-read can be unknown (nil); when everything was delivered it is the length.
      if all == 1 then read = length end
      return {length, pending, all, read or 0}
    end
  end
  return nil, redis.error_reply('NOGROUP no such consumer group')
end

-- ---- shuffle mode ----
-- Its state lives beside the stream and is written only by these functions and by the
-- coordinator's job creation, so every checkpoint holds a state they produced:
--   <IN>:job      hash: mode=shuffle, phase (map|reduce), maps (M), parts (R), spill (the job's
--                 directory name under SPILL_DIR), fname (the FNAME field), tasks (written last)
--   <IN>:maps     hash: <m> -> "<range>|<path>" of map task m; failed:<m> -> why map m has no
--                 output; redos:<m> -> how often its output was found lost
--   <IN>:redo     set: map tasks sent back to be redone
--   <IN>:blocked  set: partitions whose reduce task waits for those
-- Shuffle functions take KEYS = stream, failures hash, job hash, maps hash, redo set, blocked set.

local function add_reduce(stream, meta, part)
  local m = redis.call('HMGET', meta, 'maps', 'parts', 'spill')
  redis.call('XADD', stream, '*', 'kind', 'reduce', 'part', part, 'maps', m[1], 'parts', m[2],
             'spill', m[3])
end

-- Re-adds the blocked reduce tasks once no map task is being redone.
local function unblock(stream, meta, redo, blocked)
  if redis.call('SCARD', redo) ~= 0 then return end
  for _, part in ipairs(redis.call('SMEMBERS', blocked)) do add_reduce(stream, meta, part) end
  redis.call('DEL', blocked)
end

local function is_index(s) return s ~= nil and string.match(s, '^[0-9]+$') ~= nil and #s < 10 end

-- wc_progress_v3: the job's completion state, read atomically.
--   KEYS: stream, failures, job, maps, redo, blocked (only stream, job, redo, blocked are read)
--   ARGV: group
-- Reply: {entries, pending, 1 if every entry was delivered else 0, entries delivered so far,
--         1 if the job is done else 0, phase}. Done is nothing pending and everything delivered;
-- for a shuffle job also: in the reduce phase, no map task being redone, no reduce blocked.
-- Phase is 'direct' for a job that is not a shuffle job, else 'map' or 'reduce'.
local function progress(keys, args)
  local s, err = stream_state(keys[1], args[1])
  if s == nil then return err end
  local f = redis.call('HMGET', keys[3], 'mode', 'phase')
  local done = s[2] == 0 and s[3] == 1
  local phase = 'direct'
  if f[1] == 'shuffle' then
    phase = f[2] or 'map'
    done = done and phase == 'reduce' and redis.call('SCARD', keys[5]) == 0 and
             redis.call('SCARD', keys[6]) == 0
  end
  s[5] = done and 1 or 0
  s[6] = phase
  return s
end

-- wc_start_reduce_v1: ends the map phase. KEYS as above; ARGV: group.
-- If the job is in its map phase and every map task is acknowledged, adds the R reduce tasks
-- and sets the phase to reduce, in one step. Reply: 1 added, 0 not a job in its map phase,
-- -1 map tasks remain.
local function start_reduce(keys, args)
  local stream, meta = keys[1], keys[3]
  if redis.call('HGET', meta, 'phase') ~= 'map' then return 0 end
  local s, err = stream_state(stream, args[1])
  if s == nil then return err end
  if s[2] ~= 0 or s[3] ~= 1 then return -1 end
  local parts = tonumber(redis.call('HGET', meta, 'parts'))
  for part = 0, parts - 1 do add_reduce(stream, meta, part) end
  redis.call('HSET', meta, 'phase', 'reduce')
  return 1
end

-- wc_map_done_v1: acknowledges map task <id> (number m) after its output was written.
--   KEYS as above; ARGV: group, id, m. Reply: 1 if this acknowledged it, else 0.
-- If it was being redone and was the last one, the blocked reduce tasks are added again.
local function map_done(keys, args)
  if #args ~= 3 or not is_index(args[3]) then return redis.error_reply('ERR wc_map_done: expected group, id, m') end
  local acked = redis.call('XACK', keys[1], args[1], args[2])
  if acked == 1 and redis.call('SREM', keys[5], args[3]) == 1 then
    unblock(keys[1], keys[3], keys[5], keys[6])
  end
  return acked
end

-- wc_map_fail_v1: gives up on map task <id> (number m): it has no output, its reason is recorded
-- (as wc_fail_v1 does), and reducers go on without it.
--   KEYS as above; ARGV: group, id, m, message. Reply: 1 if this acknowledged it, else 0.
local function map_fail(keys, args)
  if #args ~= 4 or not is_index(args[3]) then
    return redis.error_reply('ERR wc_map_fail: expected group, id, m, message')
  end
  local acked = redis.call('XACK', keys[1], args[1], args[2])
  if acked == 1 then
    redis.call('HSET', keys[2], args[2], args[4])
    redis.call('HSET', keys[4], 'failed:' .. args[3], args[4])
    if redis.call('SREM', keys[5], args[3]) == 1 then unblock(keys[1], keys[3], keys[5], keys[6]) end
  end
  return acked
end

-- wc_redo_maps_v1: a reducer found the outputs of some map tasks missing or corrupt.
--   KEYS as above; ARGV: group, reduce id, part, max_redos, then (m, reason) pairs.
-- Map tasks that failed for good have no output: if all are such, the reply is 2 and the
-- reducer goes on without them. Otherwise, if the reduce task is still pending, it is
-- acknowledged and its partition blocked; every listed map task not being redone yet is added
-- to the stream again (its output lost more than max_redos times: recorded as failed instead);
-- the partition's reduce task comes back when the last redone map task is acknowledged.
-- Reply: 1 sent back, 0 the reduce task was no longer pending (nothing changed), 2 as above.
local function redo_maps(keys, args)
  local stream, failed, meta, maps, redo, blocked = keys[1], keys[2], keys[3], keys[4], keys[5], keys[6]
  local max_redos = tonumber(args[4])
  if #args < 6 or (#args - 4) % 2 ~= 0 or not is_index(args[3]) or max_redos == nil then
    return redis.error_reply('ERR wc_redo_maps: expected group, id, part, max_redos, (m, reason)...')
  end
  local todo = {}
  for i = 5, #args, 2 do
    local m = args[i]
    if not is_index(m) or redis.call('HEXISTS', maps, m) == 0 then
      return redis.error_reply('ERR wc_redo_maps: no such map task: ' .. m)
    end
    if redis.call('HEXISTS', maps, 'failed:' .. m) == 0 then todo[#todo + 1] = {m, args[i + 1]} end
  end
  if #todo == 0 then return 2 end
  if redis.call('XACK', stream, args[1], args[2]) ~= 1 then return 0 end
  redis.call('SADD', blocked, args[3])
  local job = redis.call('HMGET', meta, 'fname', 'parts', 'spill')
  for _, t in ipairs(todo) do
    local m, reason = t[1], t[2]
    if redis.call('SISMEMBER', redo, m) == 0 then
      local desc = redis.call('HGET', maps, m)
      local bar = string.find(desc, '|', 1, true)
      local range, path = string.sub(desc, 1, bar - 1), string.sub(desc, bar + 1)
      local n = redis.call('HINCRBY', maps, 'redos:' .. m, 1)
      if n > max_redos then
        local msg = path .. ': map output lost ' .. n .. ' times, giving up (' .. reason .. ')'
        redis.call('HSET', maps, 'failed:' .. m, msg)
        redis.call('HSET', failed, 'map:' .. m, msg)
      else
        redis.call('SADD', redo, m)
        local fields = {job[1], path, 'kind', 'map', 'map', m, 'parts', job[2], 'spill', job[3]}
        if range ~= '' then
          fields[#fields + 1] = 'range'
          fields[#fields + 1] = range
        end
        redis.call('XADD', stream, '*', unpack(fields))
      end
    end
  end
  unblock(stream, meta, redo, blocked)
  return 1
end

redis.register_function('wc_commit_v1', commit)
redis.register_function('wc_fail_v1', fail)
redis.register_function{function_name = 'wc_progress_v3', callback = progress, flags = {'no-writes'}}
redis.register_function('wc_start_reduce_v1', start_reduce)
redis.register_function('wc_map_done_v1', map_done)
redis.register_function('wc_map_fail_v1', map_fail)
redis.register_function('wc_redo_maps_v1', redo_maps)
