#!lua name=wordcount
--
-- Redis functions of wordcount: the job protocol, library version 4 (v3 added the publish phase,
-- v4 the file's ctime and inode to plan descriptors: a library that parses the old descriptors
-- must never be handed new ones under the same function names). Load
-- with:
--   cat mylib.lua | redis-cli -x FUNCTION LOAD REPLACE
-- (the wordcount binary embeds this file and loads it itself whenever a function is missing).
-- Function names carry a version, so an RDB restored from an older build can never run a
-- function with different semantics under the same name.
--
-- KEYS of every function, always all nine, in this order (P = task stream, C = counts):
--   1 P          stream  task entries
--   2 P:job      hash    the job record
--   3 P:plan     hash    <n> -> "<begin>-<end>,<size>,<mtime>,<ctime>,<inode>|<path>", or with
--                        an empty range for a whole file
--   4 P:done     string  bitmap, bit n = plan task n finished (counted, or failed for good)
--   5 P:failed   hash    task:<n> / map:<n> -> why
--   6 C          zset    the word counts
--   7 P:rdone    string  bitmap, bit r = reduce partition r finished
--   8 P:redo     set     map tasks sent back to be redone
--   9 P:blocked  set     partitions whose reduce waits for redone maps
-- plus P:foreign (hash, entry id -> reason, at most 1000 kept), always named P .. ':foreign',
-- P:parts (hash, partition r -> its reduced run, see wc_reduce_done_v4), named P .. ':parts',
-- and C .. ':holder' (string: the stream whose job created C; a begin on another stream does
-- not delete C while that job's lease is live).
--
-- Rules every function follows (Redis does not roll back a function that fails midway):
--   1. validate the key count, the key names and types, the argument count and every argument,
--      and ask the ACL about every command the job's functions call (need_acl: NOPERM, so that an
--      ACL changed mid-job refuses a call whole, never after its first write);
--   2. fencing: ARGV[1] is the job id and must be the record's id, else STALEJOB;
--   3. the record's state must be one the function accepts, else BADSTATE;
--   4. only then write; nothing after the first write can fail (short of Redis itself failing).
-- Errors are raised with fail() and turned into error replies by the wrapper at the end of the
-- file; every fail() in this file runs before its function's first write.
--
-- Phases: creating -> count -> done (direct); creating -> map -> reduce -> publish -> done
-- (shuffle). The call that finishes the last map adds the R reduce entries; the call that
-- finishes the last partition adds the one publish entry (job <id> publish 1); the publish call
-- replaces C with the whole result in one RESTORE and ends the job. Any state -> failed.
--
-- Numbers: task/part/epoch/lease numbers are ^[0-9]+$ with fewer than 10 digits; counts are
-- ^[1-9][0-9]*$ with at most 15 digits. Scores are doubles, exact below 2^53: a commit that
-- would take a score or its own total to 2^53 or more is refused. Numbers are written back as
-- integer strings (int_str), never through tostring(), which turns 1e15 into "1e+15".
--
-- Where this file goes beyond or decides what the spec leaves open (each also noted at its
-- function):
--   * Key names are checked too: KEYS[2..5,7..9] must be P plus their suffix, C must be none of
--     the others (P:foreign is derived from P, so it must be the right P).
--   * Entry ids must be canonical "<ms>-<seq>" (no leading zeros, no bare "<ms>"): "1-1" and
--     "01-1" name the same entry, and two spellings would pass the distinct-ids check of a
--     batch twice. Task numbers are compared as numbers ("1" and "01" are the same task).
--   * An entry passed as task n (or part r) must really be that entry of this job: after the
--     pending check, the entry's own fields are read (XRANGE) and must say job <id> task <n>
--     (part <r>), else an error and no write. wc_foreign_v4 likewise refuses an entry that is a
--     valid task or part of the job. Classification mirrors the workers' foreign rule; an entry
--     with both task and part, or with a repeated job/task/part field, is foreign.
--   * wc_job_begin_v4: a done/failed job with another digest is replaced only once its lease
--     has expired (a live owner may still be reading C); the job's identity is the digest plus
--     mode, tasks, parts, group, fname and column (a job of the same files counting another
--     column is another job); failed + same identity + expired lease + replace 0 replies
--     {'failed', ...}; replace 1 with a live lease replies {'busy', ...}, also for a done job
--     of the same identity; fname may not be job/task/part/publish (the entries' own fields);
--     spill may not be "." or "..".

local MAX_EXACT = 9007199254740992 -- 2^53
local FOREIGN_KEPT = 1000
local ZCHUNK = 2000 -- members per ZMSCORE / ZADD call (unpack() fails beyond ~8000 values)

-- ---- errors and numbers ----

local function fail(msg) error({wc = msg}) end

local function bad(what, value) fail('ERR wc: bad ' .. what .. ': ' .. tostring(value)) end

local function int_str(x) return string.format('%.0f', x) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A task, part, epoch or similar number: ^[0-9]+$, fewer than 10 digits.
local function index_arg(s, what)
  if type(s) ~= 'string' or #s >= 10 or not string.find(s, '^[0-9]+$') then bad(what, s) end
  return tonumber(s)
end

-- A count or score: ^[1-9][0-9]*$, at most 15 digits.
local function count_arg(s, what)
  if type(s) ~= 'string' or #s > 15 or not string.find(s, '^[1-9][0-9]*$') then bad(what, s) end
  return tonumber(s)
end

-- A total that may be 0 (reduce_done's distinct and total): ^[0-9]+$, at most 15 digits.
local function amount_arg(s, what)
  if type(s) ~= 'string' or #s > 15 or not string.find(s, '^[0-9]+$') then bad(what, s) end
  return tonumber(s)
end

local function job_id_arg(s)
  if type(s) ~= 'string' or #s ~= 32 or not string.find(s, '^[0-9a-f]+$') then
    bad('job id (32 lowercase hex chars)', s)
  end
  return s
end

local function canonical_uint(s) return #s <= 19 and (s == '0' or string.sub(s, 1, 1) ~= '0') end

-- A stream entry id in its canonical form <ms>-<seq>.
local function entry_arg(s)
  local ms, seq
  if type(s) == 'string' then ms, seq = string.match(s, '^([0-9]+)-([0-9]+)$') end
  if not ms or not canonical_uint(ms) or not canonical_uint(seq) then bad('entry id', s) end
  return s
end

local function nargs(args, min, what)
  if #args < min then fail('ERR wc: expected ' .. what .. ', got ' .. #args .. ' arguments') end
end

local function nargs_exact(args, n, what)
  if #args ~= n then fail('ERR wc: expected ' .. what .. ', got ' .. #args .. ' arguments') end
end

-- ---- keys ----

local KEY_SUFFIX = {'', ':job', ':plan', ':done', ':failed', nil, ':rdone', ':redo', ':blocked'}
local KEY_TYPE = {'stream', 'hash', 'hash', 'string', 'hash', 'zset', 'string', 'set', 'set'}

local function check_type(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= 'none' and t ~= want then
    fail('ERR wc: key ' .. key .. ' is a ' .. t .. ', not a ' .. want)
  end
end

-- Checks the nine keys' count and names (no Redis call); returns them by name.
local function key_names(keys)
  if #keys ~= 9 then
    fail('ERR wc: expected 9 keys (P P:job P:plan P:done P:failed C P:rdone P:redo P:blocked), got ' ..
           #keys)
  end
  local p = keys[1]
  if p == '' then fail('ERR wc: empty stream key') end
  local foreign = p .. ':foreign'
  for i = 2, 9 do
    if i ~= 6 and keys[i] ~= p .. KEY_SUFFIX[i] then
      fail('ERR wc: key ' .. i .. ' must be ' .. p .. KEY_SUFFIX[i] .. ', not ' .. keys[i])
    end
  end
  for i = 1, 9 do
    if i ~= 6 and keys[6] == keys[i] then fail('ERR wc: counts key ' .. keys[6] .. ' is a job key') end
  end
  local parts = p .. ':parts'
  if keys[6] == foreign or keys[6] == parts then
    fail('ERR wc: counts key ' .. keys[6] .. ' is a job key')
  end
  return {
    -- C .. ':holder' names the stream whose job last created C (string).
    holder = keys[6] .. ':holder',
    stream = keys[1], job = keys[2], plan = keys[3], done = keys[4], failed = keys[5],
    counts = keys[6], rdone = keys[7], redo = keys[8], blocked = keys[9], foreign = foreign,
    parts = parts,
  }
end

-- Checks the nine keys (count, names, types); returns them by name.
local function open_keys(keys)
  local k = key_names(keys)
  for i = 1, 9 do check_type(keys[i], KEY_TYPE[i]) end
  check_type(k.foreign, 'hash')
  check_type(k.parts, 'hash')
  check_type(k.holder, 'string')
  return k
end

-- ---- the job record, fencing, state ----

local REC_FIELDS = {'id', 'state', 'mode', 'group', 'tasks', 'parts', 'epoch', 'owner',
                    'lease_until_ms', 'digest', 'fname', 'column', 'created_ms', 'reason',
                    'publish_entry', 'spill'}

local function read_record(k)
  local v = redis.call('HMGET', k.job, unpack(REC_FIELDS))
  local rec = {}
  for i, f in ipairs(REC_FIELDS) do
    if v[i] then rec[f] = v[i] end
  end
  return rec
end

-- ---- what the job asks of Redis's ACL ----

-- The commands this library calls for a job of `mode`, each with the keys it calls it on (the
-- commands only the other mode calls are left out). RESTORE is not among them: wc_publish_v4
-- falls back to wc_publish_write_v4 (ZADD, among them) when it is refused. Neither is the HMGET
-- of another stream's job record (job_begin): that key is not known here, and its refusal comes
-- before any write.
local CONTAINER = {XINFO = true, XGROUP = true, CONFIG = true, FUNCTION = true, CLIENT = true}

-- The job's twelve keys, in KEYS order (with C:holder).
local function job_keys(k)
  return {k.stream, k.job, k.plan, k.done, k.failed, k.counts, k.rdone, k.redo, k.blocked,
          k.foreign, k.parts, k.holder}
end

local function library_needs(k, mode)
  local needs = {{'TIME'}}
  local function need(...) needs[#needs + 1] = {...} end
  for _, key in ipairs(job_keys(k)) do
    need('TYPE', key)  -- open_keys
    need('DEL', key)   -- wc_job_begin_v4 deletes the job's keys before it makes them again
  end
  need('EXISTS', k.stream)
  need('XINFO', 'GROUPS', k.stream)
  need('XGROUP', 'CREATE', k.stream, 'g', '0', 'MKSTREAM')
  need('XADD', k.stream, '*', 'job', 'x')
  need('XACK', k.stream, 'g', '0-1')
  need('XPENDING', k.stream, 'g', '-', '+', '1')
  need('XRANGE', k.stream, '0-1', '0-1')
  need('XLEN', k.stream)
  need('HGET', k.job, 'id')
  need('HMGET', k.job, 'id')
  need('HGETALL', k.job)
  need('HSET', k.job, 'state', 'x')
  need('HINCRBY', k.job, 'epoch', '1')
  need('HGET', k.plan, '0')
  need('HSET', k.plan, '0', 'x')
  need('HLEN', k.plan)
  need('GETBIT', k.done, '0')
  need('SETBIT', k.done, '0', '1')
  need('HSET', k.failed, 'task:0', 'x')
  need('HLEN', k.foreign)
  need('HSET', k.foreign, '0-1', 'x')
  need('GET', k.holder)
  need('SET', k.holder, 'x')
  need('ZCARD', k.counts)
  need('ZRANGE', k.counts, '0', '1', 'WITHSCORES')
  if mode == 'direct' then
    need('ZINCRBY', k.counts, '1', 'w')
  else
    need('HEXISTS', k.failed, 'map:0')
    need('GETBIT', k.rdone, '0')
    need('SETBIT', k.rdone, '0', '1')
    need('SADD', k.redo, '0')
    need('SREM', k.redo, '0')
    need('SISMEMBER', k.redo, '0')
    need('SCARD', k.redo)
    need('SADD', k.blocked, '0')
    need('SCARD', k.blocked)
    need('SMEMBERS', k.blocked)
    need('HSET', k.parts, '0', 'x')
    need('HLEN', k.parts)
    need('BITCOUNT', k.rdone)
    need('ZADD', k.counts, '1', 'w')
  end
  return needs
end


-- The name a denied command is given: the command (with a container command's subcommand).
local function command_name(cmd)
  local name = string.upper(cmd[1])
  if CONTAINER[name] and cmd[2] then return name .. ' ' .. string.upper(cmd[2]), 3 end
  return name, 2
end

-- True if the ACL lets this user run `cmd` ({name, args...}); a command the server does not know
-- (renamed away) is not allowed.
local function acl_allows(cmd)
  local ok, allowed = pcall(redis.acl_check_cmd, unpack(cmd))
  return ok and allowed
end

-- Rule 1 against an ACL: every command this library calls for a job of `mode`, on the keys it
-- calls it on, is asked of the ACL (redis.acl_check_cmd) before a function's first write. An ACL
-- changed while the job runs then refuses a call whole, never midway (held-out pass 18: a
-- commit stopped after its XACK and done bit, before its ZINCRBY: exit 0 with a file's counts
-- missing; a map_done stopped after done_tasks: the job wedged for good). The error starts
-- with NOPERM, as Redis's own refusals do.
local function need_commands(needs)
  for _, cmd in ipairs(needs) do
    if not acl_allows(cmd) then
      local name, first = command_name(cmd)
      fail('NOPERM wc: this user may not run ' .. name .. (cmd[first] and (' on ' .. cmd[first]) or '') ..
             ', which the job needs (asked before any write: nothing was written)')
    end
  end
end

local function need_acl(k, mode) need_commands(library_needs(k, mode)) end

-- What wc_progress_v4 reads (no-writes: `status` may run as a user that can only read), asked
-- first so that a refusal names the command (held-out pass 21: "can't run this command").
local function progress_needs(k)
  local needs = {{'TIME'}}
  for _, key in ipairs(job_keys(k)) do
    needs[#needs + 1] = {'TYPE', key}
  end
  for _, cmd in ipairs({{'EXISTS', k.stream}, {'HGET', k.job, 'id'}, {'HGETALL', k.job},
                        {'HMGET', k.job, 'id'}, {'HLEN', k.plan}, {'XPENDING', k.stream, 'g'},
                        {'XINFO', 'GROUPS', k.stream}, {'XLEN', k.stream}, {'GET', k.holder}}) do
    needs[#needs + 1] = cmd
  end
  return needs
end

-- ... and for a shuffle job's record, what entries_lost reads besides.
local function progress_shuffle_needs(k) return {{'HLEN', k.parts}, {'BITCOUNT', k.rdone}} end

-- The record of job `id`, with numbers parsed; STALEJOB unless it is the current job.
local function fence(k, id)
  local rec = read_record(k)
  if rec.id ~= id then
    fail('STALEJOB job ' .. id .. ' is not the current job of ' .. k.stream .. ' (current: ' ..
           (rec.id or 'none') .. ')')
  end
  rec.tasks_n, rec.parts_n, rec.epoch_n =
    tonumber(rec.tasks), tonumber(rec.parts), tonumber(rec.epoch)
  if not (rec.state and rec.mode and rec.group and rec.tasks_n and rec.parts_n and rec.epoch_n) then
    fail('ERR wc: the job record ' .. k.job .. ' is incomplete')
  end
  need_acl(k, rec.mode)
  return rec
end

-- C belongs to this job: C .. ':holder' names this job's stream (or names none: lost with the
-- data, e.g. FLUSHALL). A job on another stream that began once this job's lease had run out
-- took C over (wc_job_begin_v4): this job must never write C again, or a worker of it that
-- stalled meanwhile would change that job's result. STALEJOB, like a job replaced: its workers
-- and coordinator stop serving it (the workers find the holder in wc_progress_v4's reply).
local function need_count(k, rec)
  local holder = redis.call('GET', k.holder)
  if holder and holder ~= k.stream then
    fail('STALEJOB job ' .. rec.id .. ' of ' .. k.stream .. ' lost ' .. k.counts ..
           ' to the job of ' .. holder)
  end
end

local function need_state(rec, ...)
  local allowed = {...}
  for _, s in ipairs(allowed) do
    if rec.state == s then return end
  end
  fail('BADSTATE job ' .. rec.id .. ' is ' .. rec.state .. ', not ' .. table.concat(allowed, ' or '))
end

local function need_epoch(rec, epoch)
  if epoch ~= rec.epoch_n then
    fail('STALELEASE job ' .. rec.id .. ' is held by ' .. (rec.owner or '') .. ' (epoch ' ..
           rec.epoch .. ')')
  end
end

local function need_task(rec, n)
  if n >= rec.tasks_n then bad('task number (job has ' .. rec.tasks .. ' tasks)', n) end
end

local function need_part(rec, r)
  if r >= rec.parts_n then bad('part number (job has ' .. rec.parts .. ' parts)', r) end
end

local function hincr(key, field, x) return redis.call('HINCRBY', key, field, int_str(x)) end

local function set_state(k, state)
  redis.call('HSET', k.job, 'state', state, 'state_ms', int_str(now_ms()))
  return state
end

-- ---- stream entries ----

-- Whether `entry` is in the group's pending list (a missing stream or group: not pending).
-- XPENDING through pcall: a stream or group that is gone (NOGROUP) has nothing pending (nil);
-- any other error, e.g. an ACL that refuses XPENDING, is raised (held-out pass 15: taken for
-- "nothing pending", it made every commit a duplicate, forever).
local function xpending(...)
  local r = redis.pcall('XPENDING', ...)
  if type(r) == 'table' and r.err then
    if string.find(r.err, '^NOGROUP') then return nil end
    error({err = r.err .. ' (the command: XPENDING)'})
  end
  return r
end

local function is_pending(k, rec, entry)
  local r = xpending(k.stream, rec.group, entry, entry, 1)
  return r ~= nil and #r == 1
end

local function small_number(s)
  if #s < 10 and string.find(s, '^[0-9]+$') then return tonumber(s) end
  return nil
end

-- What a worker makes of entry `entry`: 'task', n or 'part', r or 'publish', 0, or nil (foreign:
-- job missing or another id, not exactly one of task/part/publish, a malformed number, task >=
-- tasks, part >= parts, part in a direct job or before the reduce phase, a publish entry that is
-- not the record's publish_entry, a repeated job/task/part/publish field, or the entry is not
-- in the stream).
local function classify(k, rec, entry)
  local r = redis.call('XRANGE', k.stream, entry, entry)
  if #r == 0 then return nil end
  local f, seen = r[1][2], {}
  for i = 1, #f - 1, 2 do
    local name = f[i]
    if name == 'job' or name == 'task' or name == 'part' or name == 'publish' then
      if seen[name] then return nil end
      seen[name] = f[i + 1]
    end
  end
  local kinds = (seen.task and 1 or 0) + (seen.part and 1 or 0) + (seen.publish and 1 or 0)
  if seen.job ~= rec.id or kinds ~= 1 then return nil end
  if seen.publish then
    -- Only the one entry the job itself added (its id is in the record) is the publish task.
    if rec.publish_entry ~= entry then return nil end
    return 'publish', 0
  end
  if seen.task then
    local n = small_number(seen.task)
    if n == nil or n >= rec.tasks_n then return nil end
    return 'task', n
  end
  local p = small_number(seen.part)
  if rec.mode ~= 'shuffle' or p == nil or p >= rec.parts_n then return nil end
  -- Reduce entries exist only from the reduce phase on (start_reduce adds them with the state):
  -- one seen before it was forged, and is foreign.
  if rec.state == 'creating' or rec.state == 'map' then return nil end
  return 'part', p
end

local function need_entry(k, rec, entry, kind, n)
  local got, m = classify(k, rec, entry)
  if got ~= kind or m ~= n then
    fail('ERR wc: entry ' .. entry .. ' is not ' .. kind .. ' ' .. n .. ' of job ' .. rec.id)
  end
end

local function getbit(key, n) return redis.call('GETBIT', key, int_str(n)) end

-- ---- phases (called only after validation, i.e. while writing) ----

-- START REDUCE: one reduce entry per partition, state reduce.
local function start_reduce(k, rec)
  for r = 0, rec.parts_n - 1 do
    redis.call('XADD', k.stream, '*', 'job', rec.id, 'part', int_str(r))
  end
  return set_state(k, 'reduce')
end

-- UNBLOCK: once no map is being redone, the blocked partitions get their reduce entries again
-- (a partition finished meanwhile through another entry of it needs none).
local function unblock(k, rec)
  if redis.call('SCARD', k.redo) ~= 0 then return end
  local parts = redis.call('SMEMBERS', k.blocked)
  local nums = {}
  for i, r in ipairs(parts) do nums[i] = tonumber(r) end
  table.sort(nums)
  for _, r in ipairs(nums) do
    if getbit(k.rdone, r) == 0 then
      redis.call('XADD', k.stream, '*', 'job', rec.id, 'part', int_str(r))
    end
  end
  redis.call('DEL', k.blocked)
end

-- The reduce phase ends when every partition is done and no map is redone or reduce blocked:
-- then the publish entry is added (state publish), or, with no word at all, the job is done
-- (Redis has no empty sorted sets: C stays absent). Returns the state after the check.
local function finish_reduce_if_done(k, rec)
  local state = redis.call('HGET', k.job, 'state')
  if state ~= 'reduce' then return state end
  local done_parts = tonumber(redis.call('HGET', k.job, 'done_parts'))
  if done_parts == rec.parts_n and redis.call('SCARD', k.redo) == 0 and
    redis.call('SCARD', k.blocked) == 0 then
    if tonumber(redis.call('HGET', k.job, 'distinct')) == 0 then return set_state(k, 'done') end
    local e = redis.call('XADD', k.stream, '*', 'job', rec.id, 'publish', '1')
    redis.call('HSET', k.job, 'publish_entry', e)
    return set_state(k, 'publish')
  end
  return state
end

-- Plan task n just finished (its done bit went 0 -> 1, done_tasks is now dt): advance the job.
-- Returns the state afterwards.
local function task_finished(k, rec, n, dt)
  if rec.state == 'count' then
    if dt == rec.tasks_n then return set_state(k, 'done') end
  elseif rec.state == 'map' then
    if dt == rec.tasks_n then return start_reduce(k, rec) end
  elseif rec.state == 'reduce' then
    if redis.call('SREM', k.redo, int_str(n)) == 1 then unblock(k, rec) end
    return finish_reduce_if_done(k, rec)
  end
  return rec.state
end

-- ---- coordinator side ----

local RESERVED = {
  id = true, digest = true, state = true, mode = true, group = true, tasks = true, parts = true,
  spill = true, fname = true, column = true, done_tasks = true, done_parts = true,
  failed_tasks = true, words = true, distinct = true, foreign = true, epoch = true, owner = true,
  lease_until_ms = true, created_ms = true, state_ms = true, reason = true, publish_entry = true,
  publish_how = true,
}

local ACTIVE = {count = true, map = true, reduce = true, publish = true}

-- What an unfinished job (record `rec`) lost that it cannot be resumed without, or nil: its task
-- entries (the stream or its consumer group deleted: DEL, a partial restore), its plan (held-out
-- pass 26: a worker joining after DEL P:plan failed every task as the file ""; pass 28: in the
-- reduce phase, a lost map output could not be redone, and the job waited for ever), or, for a
-- shuffle job, the run of a finished partition in P:parts
-- (HDEL, DEL: its publish could never read it; held-out pass 19: every rerun exit 4, bad_run).
-- Such a job is only ever made anew.
local function entries_lost(k, rec)
  if not ACTIVE[rec.state] then return nil end
  if redis.call('EXISTS', k.stream) == 0 then return 'stream' end
  if redis.call('HLEN', k.plan) < (tonumber(rec.tasks) or 0) then return 'plan' end
  local found = false
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', k.stream)) do
    for i = 1, #g - 1, 2 do
      if g[i] == 'name' and g[i + 1] == rec.group then found = true end
    end
  end
  if not found then return 'group' end
  if rec.mode == 'shuffle' and (rec.state == 'reduce' or rec.state == 'publish') and
     redis.call('HLEN', k.parts) < redis.call('BITCOUNT', k.rdone) then
    return 'parts'
  end
  return nil
end

-- wc_job_begin_v4: claim the keys for a job.
--   KEYS: the nine. ARGV: new_id, digest, owner, lease_ms, mode, group, replace (0/1), tasks,
--   parts, spill, fname, column, then (field, value) info pairs.
-- Reply, by the current record (live = lease_until_ms > now; "same" = same digest, mode, tasks,
-- parts, group, fname and column):
--   none, or not live and (replace = 1, or state creating, or state done/failed and not same)
--     -> CREATE: DEL the nine keys and P:foreign, write the record (state creating, counters 0,
--        epoch = old epoch + 1 or 1), XGROUP CREATE P group 0 MKSTREAM.
--        {'created', id, epoch, the replaced record's spill or ''}
--   state done and same               -> {'done', id, epoch}                          (no write)
--     (unless C .. ':holder' names another stream: C was re-created by that job, this job's
--      result is gone, and it is CREATEd again, subject to that job's live lease; the same for
--      an unfinished job, which is then never resumed: its committed counts went with C; nor
--      is one whose stream or group is gone: its task entries went with them)
--   live                              -> {'busy', id, owner, state, created_ms, lease left ms,
--                                          digest}                                   (no write)
--   not live, same, count/map/reduce  -> RESUME: epoch + 1, owner, lease.
--                                        {'resumed', id, epoch, state}
--   not live, not same (replace 0)    -> {'mismatch', id, owner, state, digest}       (no write)
--   not live, same, failed (replace 0)-> {'failed', id, epoch, reason}                (no write)
-- Spec decisions: a done/failed job with another digest is replaced only once its lease has
-- expired (the spec replaces it at once, deleting C under an owner that may still read it);
-- "same" includes mode, tasks, parts, group, fname and column (the spec compares the digest
-- only, so the same files counted by another column would get {'done'} and the old result);
-- failed + same + expired without replace is not covered by the spec: it replies 'failed' (run
-- it again with replace = 1). A record whose state is none of the known ones is an error unless
-- replaced. Info fields may not be record fields (or redos:<m>); fname may not be job, task or
-- part (entries would carry the field twice); spill must be [A-Za-z0-9._-]+ but not . or ..;
-- digest is 1-128 lowercase hex chars; lease_ms >= 1.
local function job_begin(keys, args)
  local k = open_keys(keys)
  nargs(args, 12, 'new_id digest owner lease_ms mode group replace tasks parts spill fname ' ..
          'column [field value]...')
  if (#args - 12) % 2 ~= 0 then fail('ERR wc: info fields and values must come in pairs') end
  local new_id, digest, owner = job_id_arg(args[1]), args[2], args[3]
  if #digest < 1 or #digest > 128 or not string.find(digest, '^[0-9a-f]+$') then
    bad('digest', digest)
  end
  local lease_ms = index_arg(args[4], 'lease_ms')
  if lease_ms < 1 then bad('lease_ms', args[4]) end
  local mode, group, replace = args[5], args[6], args[7]
  if mode ~= 'direct' and mode ~= 'shuffle' then bad('mode', mode) end
  if group == '' then bad('group', group) end
  if replace ~= '0' and replace ~= '1' then bad('replace', replace) end
  local tasks, parts = index_arg(args[8], 'tasks'), index_arg(args[9], 'parts')
  local spill, fname, column = args[10], args[11], args[12]
  if mode == 'shuffle' then
    if parts < 1 or parts > 65536 then bad('parts (shuffle: 1-65536)', args[9]) end
    if not string.find(spill, '^[A-Za-z0-9._-]+$') or spill == '.' or spill == '..' then
      bad('spill', spill)
    end
  else
    if parts ~= 0 then bad('parts (direct: 0)', args[9]) end
    if spill ~= '' then bad('spill (direct: empty)', spill) end
  end
  if fname == '' or fname == 'job' or fname == 'task' or fname == 'part' or fname == 'publish' then
    bad('fname', fname)
  end
  for i = 13, #args, 2 do
    local f = args[i]
    if f == '' or RESERVED[f] or string.sub(f, 1, 6) == 'redos:' then bad('info field', f) end
  end
  need_acl(k, mode)

  local rec, now = read_record(k), now_ms()
  if rec.id then
    local st = rec.state
    local live = (tonumber(rec.lease_until_ms) or 0) > now
    local same = rec.digest == digest and rec.mode == mode and tonumber(rec.tasks) == tasks and
                   tonumber(rec.parts) == parts and rec.group == group and rec.fname == fname and
                   rec.column == column
    local ended = st == 'done' or st == 'failed'
    local epoch = tonumber(rec.epoch) or 0
    -- A done job whose C a job of another stream has re-created since (shared COUNT) has lost
    -- its result: it is counted again, never answered 'done' with the other job's result. So
    -- has an unfinished one (the counts it committed went with C): it is never resumed.
    local holder_now = redis.call('GET', k.holder)
    local result_lost = (st == 'done' or ACTIVE[st]) and holder_now and holder_now ~= k.stream
    -- An unfinished job that lost its entries (entries_lost) cannot be resumed either, only
    -- made anew: by anyone once its lease has ended, and at once by its own coordinator (the
    -- same job id and owner), which sees the loss in wc_progress_v4 (held-out pass 21: DEL of
    -- the stream mid-job left the workers NOGROUP until they gave up, exit 4).
    local own = rec.id == new_id and rec.owner == owner
    local lost = (not live or own) and entries_lost(k, rec) ~= nil
    local create = (not live and (replace == '1' or st == 'creating' or (ended and not same) or
                      result_lost or lost)) or (own and lost)
    if not create then
      -- (replace 1 on a live done job: busy, never 'done': the caller asked to count again.)
      if st == 'done' and same and not result_lost and not (live and replace == '1') then
        return {'done', rec.id, epoch}
      end
      if live then
        return {'busy', rec.id, rec.owner or '', st or '', tonumber(rec.created_ms) or 0,
                (tonumber(rec.lease_until_ms) or 0) - now, rec.digest or ''}
      end
      if not (ACTIVE[st] or ended) then
        fail('ERR wc: job ' .. rec.id .. ' has an unknown state ' .. tostring(st) ..
               ' (begin with replace 1 to replace it)')
      end
      if not same then return {'mismatch', rec.id, rec.owner or '', st, rec.digest or ''} end
      if st == 'failed' then return {'failed', rec.id, epoch, rec.reason or ''} end
      -- RESUME
      local e = redis.call('HINCRBY', k.job, 'epoch', 1)
      redis.call('HSET', k.job, 'owner', owner, 'lease_until_ms', int_str(now + lease_ms))
      return {'resumed', rec.id, e, st}
    end
  end

  -- CREATE. COUNT may be shared with the job of another stream (another IN, the same COUNT):
  -- while that job's lease is live, its result must not be deleted under it.
  local holder = redis.call('GET', k.holder)
  if holder and holder ~= k.stream then
    local o = redis.call('HMGET', holder .. ':job', 'id', 'state', 'lease_until_ms', 'owner',
                         'created_ms', 'digest')
    local left = (tonumber(o[3]) or 0) - now
    if o[1] and left > 0 then
      return {'busy', o[1], o[4] or '', o[2] or '', tonumber(o[5]) or 0, left, o[6] or ''}
    end
  end
  local epoch = (tonumber(rec.epoch) or 0) + 1
  redis.call('DEL', k.stream, k.job, k.plan, k.done, k.failed, k.counts, k.rdone, k.redo,
             k.blocked, k.foreign, k.parts)
  redis.call('HSET', k.job, 'id', new_id, 'digest', digest, 'state', 'creating', 'mode', mode,
             'group', group, 'tasks', int_str(tasks), 'parts', int_str(parts), 'spill', spill,
             'fname', fname, 'column', column, 'done_tasks', '0', 'done_parts', '0',
             'failed_tasks', '0', 'words', '0', 'distinct', '0', 'foreign', '0', 'epoch',
             int_str(epoch), 'owner', owner, 'lease_until_ms', int_str(now + lease_ms),
             'created_ms', int_str(now), 'state_ms', int_str(now))
  local chunk = {}
  for i = 13, #args do
    chunk[#chunk + 1] = args[i]
    if #chunk == 2000 or i == #args then
      redis.call('HSET', k.job, unpack(chunk))
      chunk = {}
    end
  end
  redis.call('XGROUP', 'CREATE', k.stream, group, '0', 'MKSTREAM')
  redis.call('SET', k.holder, k.stream)
  -- The replaced job's spill directory name (shuffle), for the caller to remove.
  return {'created', new_id, epoch, rec.spill or ''}
end

-- Splits a plan descriptor "<begin>-<end>,<size>,<mtime>,<ctime>,<inode>|<path>" or
-- ",<size>,<mtime>,<ctime>,<inode>|<path>" (a whole file; size, times (ns) and inode number are
-- the file's when planned, which the worker checks
-- against the file it opens); nil if malformed (the range's numbers may have up to 20 digits: a
-- range to the end of a file ends at 2^64 - 1; begin < end).
local function split_descriptor(d)
  local bar = string.find(d, '|', 1, true)
  if not bar or bar == #d then return nil end
  local head, path = string.sub(d, 1, bar - 1), string.sub(d, bar + 1)
  local range, size, mtime, ctime, inode =
    string.match(head, '^([0-9-]*),([0-9]+),(%-?[0-9]+),(%-?[0-9]+),([0-9]+)$')
  if not range or #size > 20 or #mtime > 20 or #ctime > 20 or #inode > 20 then return nil end
  if range ~= '' then
    local b, e = string.match(range, '^([0-9]+)-([0-9]+)$')
    if not b or #b > 20 or #e > 20 then return nil end
    b, e = string.match(b, '^0*(.-)$'), string.match(e, '^0*(.-)$')
    if #b > #e or (#b == #e and b >= e) then return nil end
  end
  return range, path
end

-- wc_job_add_v4: add plan tasks first, first + 1, ...
--   KEYS: the nine. ARGV: id, epoch, first, descriptor, descriptor, ...
--   ("<range>,<size>,<mtime>,<ctime>,<inode>|<path>")
-- State creating, epoch the record's (else STALELEASE), first + count <= tasks. A plan field
-- that exists must hold the same descriptor (an idempotent retry: skipped, no second entry),
-- else error and nothing written. For each new one: HSET plan n d; XADD P * <fname> <path> job
-- <id> task <n>. Reply: the number of tasks added by this call.
-- Descriptors are checked: a range is <begin>-<end> with begin < end, size, times and inode are
-- numbers, the path is not empty.
local function job_add(keys, args)
  local k = open_keys(keys)
  nargs(args, 4, 'id epoch first descriptor...')
  local id, epoch, first = job_id_arg(args[1]), index_arg(args[2], 'epoch'),
                           index_arg(args[3], 'first')
  for i = 4, #args do
    if split_descriptor(args[i]) == nil then bad('descriptor', args[i]) end
  end
  local rec = fence(k, id)
  need_epoch(rec, epoch)
  need_state(rec, 'creating')
  local count = #args - 3
  if first + count > rec.tasks_n then
    fail('ERR wc: tasks ' .. first .. '..' .. (first + count - 1) .. ' beyond the plan of ' ..
           rec.tasks .. ' tasks')
  end
  local new = {}
  for i = 4, #args do
    local n = int_str(first + i - 4)
    local old = redis.call('HGET', k.plan, n)
    if old == false then
      new[#new + 1] = i
    elseif old ~= args[i] then
      fail('ERR wc: plan task ' .. n .. ' is already ' .. old .. ', not ' .. args[i])
    end
  end
  for _, i in ipairs(new) do
    local n = int_str(first + i - 4)
    local _, path = split_descriptor(args[i])
    redis.call('HSET', k.plan, n, args[i])
    redis.call('XADD', k.stream, '*', rec.fname, path, 'job', id, 'task', n)
  end
  return #new
end

-- wc_job_start_v4: ends the creation.
--   KEYS: the nine. ARGV: id, epoch.
-- State creating, epoch the record's, HLEN plan == tasks. Sets state count (direct) or map
-- (shuffle); with 0 tasks a direct job is done at once and a shuffle job starts its reduce
-- phase at once. Reply: the new state.
local function job_start(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 2, 'id epoch')
  local id, epoch = job_id_arg(args[1]), index_arg(args[2], 'epoch')
  local rec = fence(k, id)
  need_epoch(rec, epoch)
  need_state(rec, 'creating')
  local have = redis.call('HLEN', k.plan)
  if have ~= rec.tasks_n then
    fail('ERR wc: the plan has ' .. have .. ' of ' .. rec.tasks .. ' tasks')
  end
  if rec.mode == 'direct' then return set_state(k, rec.tasks_n == 0 and 'done' or 'count') end
  if rec.tasks_n == 0 then return start_reduce(k, rec) end
  return set_state(k, 'map')
end

-- wc_lease_v4: renews the coordinator's lease.
--   KEYS: the nine. ARGV: id, epoch, lease_ms (>= 1), owner.
-- Any state. If epoch is the record's: lease_until_ms = now + lease_ms, owner = owner;
-- reply {state, lease ms left}. Else error STALELEASE job <id> is held by <owner> (epoch <e>).
local function lease(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 4, 'id epoch lease_ms owner')
  local id, epoch = job_id_arg(args[1]), index_arg(args[2], 'epoch')
  local lease_ms = index_arg(args[3], 'lease_ms')
  if lease_ms < 1 then bad('lease_ms', args[3]) end
  local rec = fence(k, id)
  need_epoch(rec, epoch)
  need_count(k, rec)
  redis.call('HSET', k.job, 'lease_until_ms', int_str(now_ms() + lease_ms), 'owner', args[4])
  return {rec.state, lease_ms}
end

-- wc_job_fail_v4: the coordinator gives the job up.
--   KEYS: the nine. ARGV: id, epoch, reason.
-- Epoch the record's (else STALELEASE). States creating, count, map, reduce, publish: state failed,
-- reason = reason; reply 1. Spec decisions: a failed job replies 0 and keeps its first reason
-- (a retried call); a done job is BADSTATE (its result stands).
local function job_fail(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 3, 'id epoch reason')
  local id, epoch = job_id_arg(args[1]), index_arg(args[2], 'epoch')
  local rec = fence(k, id)
  need_epoch(rec, epoch)
  if rec.state == 'failed' then return 0 end
  need_state(rec, 'creating', 'count', 'map', 'reduce', 'publish')
  set_state(k, 'failed')
  redis.call('HSET', k.job, 'reason', args[3])
  return 1
end

-- wc_job_release_v4: gives the lease up (lease_until_ms = 0), so the next begin need not wait.
-- A done job's P:parts (the reduced runs, kept for the coordinator's --out) is deleted too.
--   KEYS: the nine. ARGV: id, epoch. Reply 1, or 0 if epoch is not the record's (no write).
local function job_release(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 2, 'id epoch')
  local id, epoch = job_id_arg(args[1]), index_arg(args[2], 'epoch')
  local rec = fence(k, id)
  if epoch ~= rec.epoch_n then return 0 end
  redis.call('HSET', k.job, 'lease_until_ms', '0')
  if rec.state == 'done' then redis.call('DEL', k.parts) end
  return 1
end

-- wc_job_takeover_v4: ends the lease of a coordinator that is provably dead (the caller saw that
-- its process no longer exists on its host), so that the next begin resumes at once.
--   KEYS: the nine. ARGV: id, owner (exactly as the record holds it).
-- If the record's owner is `owner`: lease_until_ms = 0, reply 1; else 0 (no write).
local function job_takeover(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 2, 'id owner')
  local id = job_id_arg(args[1])
  local rec = fence(k, id)
  if rec.owner ~= args[2] then return 0 end
  redis.call('HSET', k.job, 'lease_until_ms', '0')
  return 1
end

-- ---- worker side (fenced by job id; the group comes from the record) ----

-- wc_commit_v4 (direct): acknowledge count tasks and add their counts, atomically.
--   KEYS: the nine. ARGV: id, n, then n pairs (entry_id, task_n), then (word, count) pairs.
-- State count; in state done the reply is {0, first entry id} and nothing is written (a late
-- duplicate). Entry ids distinct, task numbers distinct (as numbers) and < tasks, counts
-- ^[1-9][0-9]*$ of at most 15 digits. Repeated words are summed (w 1 w 2 w 4 adds 7).
-- Every entry must be pending and be task n of this job (its own fields; else error).
--   n > 1: an entry not pending, or a task already done -> {0, that entry}, nothing written.
--   n = 1: not pending -> {0, entry}, nothing written; task already done -> the entry is
--          acknowledged (a second entry of a finished task) and the reply is {0, entry}.
-- Then: XACK all, SETBIT done, done_tasks += n, one ZINCRBY per (word, count), distinct += the
-- members that were new, words += the sum of the counts; done_tasks == tasks -> state done.
-- The job's words (its total so far) plus this call's reaching 2^53 is an error (nothing
-- written): every score in C is a sum of this job's counts, so no score can reach 2^53 either.
-- (ZINCRBY per word costs Redis ~13% less CPU than reading the old scores with ZMSCORE and
-- writing new ones with ZADD, and needs no table of the words: bench/lua_commit_bench.py.)
-- Reply {1, number of (word, count) pairs applied, state}.
local function commit(keys, args)
  local k = open_keys(keys)
  nargs(args, 2, 'id n (entry task)... (word count)...')
  local id, n = job_id_arg(args[1]), index_arg(args[2], 'n')
  if n < 1 then bad('n', args[2]) end
  if #args < 2 + 2 * n then fail('ERR wc: expected ' .. n .. ' (entry, task) pairs') end
  if (#args - 2 - 2 * n) % 2 ~= 0 then fail('ERR wc: words and counts must come in pairs') end
  local entries, tasks, seen_e, seen_t = {}, {}, {}, {}
  for i = 1, n do
    local e, t = entry_arg(args[1 + 2 * i]), index_arg(args[2 + 2 * i], 'task number')
    if seen_e[e] then fail('ERR wc: entry repeated: ' .. e) end
    if seen_t[t] then fail('ERR wc: task repeated: ' .. t) end
    seen_e[e], seen_t[t] = true, true
    entries[i], tasks[i] = e, t
  end
  -- Every count checked before the first write; the words stay where they are in args.
  local first, total = 3 + 2 * n, 0
  local find = string.find
  for i = first + 1, #args, 2 do
    local c = args[i]
    if #c > 15 or not find(c, '^[1-9][0-9]*$') then bad('count', c) end
    total = total + tonumber(c)
  end
  if total >= MAX_EXACT then fail('ERR wc: the counts of one commit reach 2^53') end

  local rec = fence(k, id)
  for i = 1, n do need_task(rec, tasks[i]) end
  if rec.state == 'done' then return {0, entries[1]} end
  need_state(rec, 'count')
  need_count(k, rec)
  for i = 1, n do
    if not is_pending(k, rec, entries[i]) then return {0, entries[i]} end
  end
  for i = 1, n do need_entry(k, rec, entries[i], 'task', tasks[i]) end
  for i = 1, n do
    if getbit(k.done, tasks[i]) == 1 then
      if n == 1 then redis.call('XACK', k.stream, rec.group, entries[1]) end
      return {0, entries[i]}
    end
  end
  if tonumber(redis.call('HGET', k.job, 'words') or '0') + total >= MAX_EXACT then
    fail('ERR wc: the count of a word would reach 2^53 (the job counted ' ..
           tostring(redis.call('HGET', k.job, 'words')) .. ' words)')
  end

  for i = 1, n do
    redis.call('XACK', k.stream, rec.group, entries[i])
    redis.call('SETBIT', k.done, int_str(tasks[i]), '1')
  end
  local dt = hincr(k.job, 'done_tasks', n)
  -- A member is new when its score after the increment is the increment itself (scores are
  -- positive; both are canonical integers below 2^53, which Redis prints the same way).
  local added, counts = 0, k.counts
  for i = first, #args, 2 do
    local c = args[i + 1]
    if redis.call('ZINCRBY', counts, c, args[i]) == c then added = added + 1 end
  end
  hincr(k.job, 'distinct', added)
  hincr(k.job, 'words', total)
  local state = rec.state
  if dt == rec.tasks_n then state = set_state(k, 'done') end
  return {1, (#args - first + 1) / 2, state}
end

-- The acknowledgement every finishing function starts with: false (nothing written) if `entry`
-- is not pending; else it must be `kind` n of this job (an error otherwise, nothing written) and
-- is acknowledged. In the publish phase every plan task and partition is finished, so a late
-- entry of one (a second delivery, one a restarted Redis hands out again) stops there.
local function ack_pending(k, rec, entry, kind, n)
  if not is_pending(k, rec, entry) then return false end
  need_entry(k, rec, entry, kind, n)
  redis.call('XACK', k.stream, rec.group, entry)
  return true
end

-- wc_fail_v4: a plan task (count task, map task, or redone map task) failed for good.
--   KEYS: the nine. ARGV: id, entry_id, task_n, message.
-- States count, map, reduce (publish: a late entry, acknowledged, reply 0). Not pending -> 0,
-- nothing written. Else (the entry must be task n
-- of this job) XACK; if the task's bit is 0: SETBIT, done_tasks++, failed_tasks++, HSET failed
-- task:<n> message, then advance (direct: last task -> done; map: last map -> START REDUCE;
-- reduce: SREM redo n and UNBLOCK, and the job is done if nothing else remains).
-- Reply 1 if recorded, else 0 (the entry is acknowledged either way if it was pending).
local function task_fail(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 4, 'id entry task message')
  local id, entry = job_id_arg(args[1]), entry_arg(args[2])
  local n = index_arg(args[3], 'task number')
  local rec = fence(k, id)
  need_task(rec, n)
  need_state(rec, 'count', 'map', 'reduce', 'publish')
  if not ack_pending(k, rec, entry, 'task', n) or rec.state == 'publish' or
    getbit(k.done, n) == 1 then
    return 0
  end
  redis.call('SETBIT', k.done, int_str(n), '1')
  local dt = hincr(k.job, 'done_tasks', 1)
  hincr(k.job, 'failed_tasks', 1)
  redis.call('HSET', k.failed, 'task:' .. int_str(n), args[4])
  task_finished(k, rec, n, dt)
  return 1
end

-- wc_map_done_v4: map task m wrote its output.
--   KEYS: the nine. ARGV: id, entry_id, m.
-- States map, reduce (a redone map), publish (a late entry: acknowledged, reply {0, 'publish'}).
-- Not pending -> {0, state}, nothing written. Else (the entry
-- must be task m of this job) XACK; if bit m is 0: SETBIT, done_tasks++; SREM redo m == 1 ->
-- UNBLOCK; state map and done_tasks == tasks -> START REDUCE (all R reduce entries and state
-- reduce, in this call). Reply {1 if this call finished map m else 0, state afterwards}.
local function map_done(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 3, 'id entry m')
  local id, entry = job_id_arg(args[1]), entry_arg(args[2])
  local m = index_arg(args[3], 'map number')
  local rec = fence(k, id)
  need_task(rec, m)
  need_state(rec, 'map', 'reduce', 'publish')
  if not ack_pending(k, rec, entry, 'task', m) or rec.state == 'publish' or
    getbit(k.done, m) == 1 then
    return {0, rec.state}
  end
  redis.call('SETBIT', k.done, int_str(m), '1')
  local dt = hincr(k.job, 'done_tasks', 1)
  return {1, task_finished(k, rec, m, dt)}
end

-- wc_ack_finished_v4: an entry of a plan task that is already finished (a second entry of it,
-- a stolen one that was committed meanwhile, one a restarted Redis hands out again).
--   KEYS: the nine. ARGV: id, entry_id, task_n.
-- Task n's bit in P:done is 1 and the entry is pending -> (it must be task n of this job; else an
-- error, nothing written) XACK, reply 1. Otherwise 0, nothing written: the caller does the
-- task as usual. One call, so a bit cleared meanwhile (a lost map output sent back) is seen.
local function ack_finished(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 3, 'id entry task')
  local id, entry, n = job_id_arg(args[1]), entry_arg(args[2]), index_arg(args[3], 'task number')
  local rec = fence(k, id)
  need_task(rec, n)
  if getbit(k.done, n) == 0 then return 0 end
  return ack_pending(k, rec, entry, 'task', n) and 1 or 0
end

-- wc_reduce_done_v4: partition r is reduced; its run is kept for the publisher.
--   KEYS: the nine. ARGV: id, entry_id, r, distinct, total (both ^[0-9]+$, <= 15 digits), run
--   (the partition's (word, count) records, encoded by the reducer; any bytes: Redis keeps
--   them, the publisher decodes them).
-- State reduce (publish: a late entry, acknowledged, reply {0, 'publish'}), r < parts. Not
-- pending -> {0, state}, nothing written. Else (the entry must be part r of this job) XACK; if
-- rdone bit r is 0: SETBIT, done_parts++, distinct += distinct,
-- words += total, HSET P:parts r run; all parts done, no map redone and no reduce blocked ->
-- the publish entry and state publish (or done when there is no word at all).
-- Reply {1 if this call finished partition r else 0, state afterwards}.
-- The run goes into Redis in the same atomic call as the acknowledgement, so a checkpoint that
-- holds the finished partition holds its run; nothing of partition r is in C before publish.
local function reduce_done(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 6, 'id entry r distinct total run')
  local id, entry = job_id_arg(args[1]), entry_arg(args[2])
  local r = index_arg(args[3], 'part number')
  local distinct, total = amount_arg(args[4], 'distinct'), amount_arg(args[5], 'total')
  local rec = fence(k, id)
  need_part(rec, r)
  need_state(rec, 'reduce', 'publish')
  if not ack_pending(k, rec, entry, 'part', r) or rec.state == 'publish' or
    getbit(k.rdone, r) == 1 then
    return {0, rec.state}
  end
  redis.call('SETBIT', k.rdone, int_str(r), '1')
  hincr(k.job, 'done_parts', 1)
  hincr(k.job, 'distinct', distinct)
  hincr(k.job, 'words', total)
  redis.call('HSET', k.parts, int_str(r), args[6])
  return {1, finish_reduce_if_done(k, rec)}
end

-- The record's totals must be what the publisher merged from the runs.
local function need_totals(rec, k, distinct, total)
  local t = redis.call('HMGET', k.job, 'distinct', 'words')
  if tonumber(t[1]) ~= distinct or tonumber(t[2]) ~= total then
    fail('ERR wc: publish of ' .. int_str(distinct) .. ' distinct / ' .. int_str(total) ..
           ' words, but the job recorded ' .. tostring(t[1]) .. ' / ' .. tostring(t[2]))
  end
end

-- wc_publish_v4: the job's result goes into C in one step and the job is done.
--   KEYS: the nine. ARGV: id, entry_id (the publish entry), distinct, total, how, payload.
--   how = 'restore': payload is the DUMP payload of the whole result (ZSET_2, made by the
--         publisher from P:parts); RESTORE C 0 payload REPLACE.
--   how = 'written': the result was written into C by wc_publish_write_v4 before; payload ''.
-- State done -> {0, 'done'}, nothing written (a late duplicate). Else state publish, the entry
-- pending and the record's publish entry, distinct and total equal to the record's (what the
-- reducers recorded), how 'written' -> ZCARD C == distinct; else an error, nothing written.
-- RESTORE is the first write: if the server refuses it (payload version or checksum, bad
-- data, an ACL without RESTORE) the reply is {2, the error} and nothing is written; the
-- publisher then writes through wc_publish_write_v4. Else XACK, state done; reply {1, 'done'}.
-- Repeating it writes the same set (RESTORE ... REPLACE, or ZADD of the same absolute counts).
local function publish(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 6, 'id entry distinct total how payload')
  local id, entry = job_id_arg(args[1]), entry_arg(args[2])
  local distinct, total = amount_arg(args[3], 'distinct'), amount_arg(args[4], 'total')
  local how, payload = args[5], args[6]
  if how ~= 'restore' and how ~= 'written' then bad('how', how) end
  if how == 'restore' and payload == '' then bad('payload', '(empty)') end
  local rec = fence(k, id)
  if rec.state == 'done' then return {0, 'done'} end
  need_state(rec, 'publish')
  need_count(k, rec)
  if not is_pending(k, rec, entry) then return {0, rec.state} end
  need_entry(k, rec, entry, 'publish', 0)
  need_totals(rec, k, distinct, total)
  if how == 'written' then
    local have = redis.call('ZCARD', k.counts)
    if have ~= distinct then
      fail('ERR wc: ' .. k.counts .. ' holds ' .. have .. ' members, the job ' .. distinct)
    end
  else
    local r = redis.pcall('RESTORE', k.counts, '0', payload, 'REPLACE')
    if type(r) == 'table' and r.err then return {2, r.err} end
  end
  redis.call('XACK', k.stream, rec.group, entry)
  redis.call('HSET', k.job, 'publish_how', how)
  return {1, set_state(k, 'done')}
end

-- wc_publish_write_v4: the fallback of wc_publish_v4 when RESTORE is refused: absolute
-- (score, member) pairs of the result into C.
--   KEYS: the nine. ARGV: id, then (score, member) pairs (score ^[1-9][0-9]*$, <= 15 digits).
-- State publish (done -> 0, nothing written: a late duplicate), every score checked before the
-- first write; then ZADD C in chunks; reply 1. Members are not checked for repeats (ZADD keeps
-- the last score; the publisher never repeats one). Repeating a call writes the same values.
local function publish_write(keys, args)
  local k = open_keys(keys)
  nargs(args, 1, 'id (score member)...')
  if #args % 2 ~= 1 then fail('ERR wc: scores and members must come in pairs') end
  local id = job_id_arg(args[1])
  for i = 2, #args, 2 do count_arg(args[i], 'score') end
  local rec = fence(k, id)
  if rec.state == 'done' then return 0 end
  need_state(rec, 'publish')
  need_count(k, rec)
  for lo = 2, #args, 2 * ZCHUNK do
    redis.call('ZADD', k.counts, unpack(args, lo, math.min(#args, lo + 2 * ZCHUNK - 1)))
  end
  return 1
end

-- wc_redo_maps_v4: the reducer of partition r found the outputs of map tasks missing/corrupt.
--   KEYS: the nine. ARGV: id, entry_id (the reduce entry), r, max_redos, then (m, reason) pairs.
-- State reduce or publish, r < parts, every m < tasks (a map named twice counts once). Maps failed for good
-- (failed has task:<m> or map:<m>) are skipped; none left -> 2 (the reducer goes on without
-- them; nothing written). Reduce entry not pending -> 0 (nothing written). Else (the entry must
-- be part r of this job) XACK it, SADD blocked r, and for each map m not already in redo:
-- HINCRBY P:job redos:<m> 1; more than max_redos -> HSET failed map:<m> "<path>: map output
-- lost <k> times, giving up (<reason>)", failed_tasks++ (its bit stays 1); else SADD redo m,
-- SETBIT done m 0, done_tasks-- (only if the bit was 1), XADD P * <fname> <path> job <id> task
-- <m>. Then UNBLOCK. Reply 1.
-- Spec decision: if partition r is already done (another entry of it finished it; always so in
-- the publish phase), the entry is acknowledged and the reply is 0: nothing is sent back for a
-- partition that needs no reduce.
local function redo_maps(keys, args)
  local k = open_keys(keys)
  nargs(args, 6, 'id entry r max_redos (m reason)...')
  if (#args - 4) % 2 ~= 0 then fail('ERR wc: maps and reasons must come in pairs') end
  local id, entry = job_id_arg(args[1]), entry_arg(args[2])
  local r, max_redos = index_arg(args[3], 'part number'), index_arg(args[4], 'max_redos')
  local maps, reasons, seen = {}, {}, {}
  for i = 5, #args, 2 do
    local m = index_arg(args[i], 'map number')
    if not seen[m] then
      seen[m] = true
      maps[#maps + 1], reasons[#maps + 1] = m, args[i + 1]
    end
  end
  local rec = fence(k, id)
  need_part(rec, r)
  for _, m in ipairs(maps) do need_task(rec, m) end
  need_state(rec, 'reduce', 'publish')
  if rec.state == 'publish' then  -- partition r is done: a late entry, acknowledged
    ack_pending(k, rec, entry, 'part', r)
    return 0
  end
  local todo = {}
  for i, m in ipairs(maps) do
    local ms = int_str(m)
    if redis.call('HEXISTS', k.failed, 'task:' .. ms) == 0 and
      redis.call('HEXISTS', k.failed, 'map:' .. ms) == 0 then
      local d = redis.call('HGET', k.plan, ms)
      local _, path
      if d then _, path = split_descriptor(d) end
      -- (BADSTATE: the worker looks at the job again, and waits while it is made anew.)
      if not path then
        fail('BADSTATE wc: the plan has no valid task ' .. ms .. ' (lost: the job is made again)')
      end
      todo[#todo + 1] = {m = m, ms = ms, path = path, reason = reasons[i]}
    end
  end
  if #todo == 0 then return 2 end
  if not ack_pending(k, rec, entry, 'part', r) or getbit(k.rdone, r) == 1 then return 0 end
  redis.call('SADD', k.blocked, int_str(r))
  for _, t in ipairs(todo) do
    if redis.call('SISMEMBER', k.redo, t.ms) == 0 then
      local redos = redis.call('HINCRBY', k.job, 'redos:' .. t.ms, 1)
      if redos > max_redos then
        redis.call('HSET', k.failed, 'map:' .. t.ms, t.path .. ': map output lost ' ..
                     int_str(redos) .. ' times, giving up (' .. t.reason .. ')')
        hincr(k.job, 'failed_tasks', 1)
      else
        redis.call('SADD', k.redo, t.ms)
        if redis.call('SETBIT', k.done, t.ms, '0') == 1 then hincr(k.job, 'done_tasks', -1) end
        redis.call('XADD', k.stream, '*', rec.fname, t.path, 'job', id, 'task', t.ms)
      end
    end
  end
  unblock(k, rec)
  finish_reduce_if_done(k, rec)
  return 1
end

-- wc_foreign_v4: acknowledge a stream entry that is no task of the job (never counted).
--   KEYS: the nine. ARGV: id, entry_id, reason.
-- Any state. Not pending -> 0, nothing written. Else XACK, HINCRBY P:job foreign 1, and HSET
-- P:foreign entry reason while it holds fewer than 1000 fields. Reply 1.
-- Spec decision: an entry that is a valid task or part of the job (by the workers' own foreign
-- rule) is refused with an error, nothing written: marking it foreign would lose the task.
local function foreign(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 3, 'id entry reason')
  local id, entry = job_id_arg(args[1]), entry_arg(args[2])
  local rec = fence(k, id)
  if not is_pending(k, rec, entry) then return 0 end
  local kind, n = classify(k, rec, entry)
  if kind then
    fail('ERR wc: entry ' .. entry .. ' is ' .. kind .. ' ' .. n .. ' of job ' .. id ..
           ', not foreign')
  end
  redis.call('XACK', k.stream, rec.group, entry)
  hincr(k.job, 'foreign', 1)
  if redis.call('HLEN', k.foreign) < FOREIGN_KEPT then
    redis.call('HSET', k.foreign, entry, args[3])
  end
  return 1
end

-- ---- readers ----

-- wc_progress_v4 (no-writes): the job's state, read atomically.
--   KEYS: the nine. ARGV: none.
-- Reply: a flat array of field/value strings: every field of P:job (HGETALL), then pending
-- (pending entries of the record's group, 0 if the stream or group is missing), entries
-- (XLEN), lease_ms_left (lease_until_ms - now, may be negative; none for a released lease,
-- lease_until_ms 0), count_taken_by (see need_count; only when another stream took C),
-- entries_lost (stream, plan, group or parts: see entries_lost; only when lost), now_ms. Without a record
-- (P:job missing or without id): state none, pending (summed over the stream's groups: the
-- group is unknown), entries, now_ms. Missing keys are never an error.
local function progress(keys, args)
  need_commands(progress_needs(key_names(keys)))
  local k = open_keys(keys)
  nargs_exact(args, 0, 'no arguments')
  local now = now_ms()
  local has_stream = redis.call('EXISTS', k.stream) == 1
  local out, pending = {}, 0
  local id = redis.call('HGET', k.job, 'id')
  local lost = nil
  if id then
    out = redis.call('HGETALL', k.job)
    local group = redis.call('HGET', k.job, 'group')
    if has_stream and group then
      local p = xpending(k.stream, group)
      if p and p[1] then pending = p[1] end
    end
    local rec = read_record(k)
    if rec.mode == 'shuffle' then need_commands(progress_shuffle_needs(k)) end
    lost = entries_lost(k, rec)
  else
    out = {'state', 'none'}
    if has_stream then
      for _, g in ipairs(redis.call('XINFO', 'GROUPS', k.stream)) do
        for i = 1, #g - 1, 2 do
          if g[i] == 'pending' then pending = pending + g[i + 1] end
        end
      end
    end
  end
  out[#out + 1] = 'pending'
  out[#out + 1] = int_str(pending)
  out[#out + 1] = 'entries'
  out[#out + 1] = int_str(redis.call('XLEN', k.stream))
  local until_ms = id and tonumber(redis.call('HGET', k.job, 'lease_until_ms')) or 0
  if until_ms > 0 then  -- 0: released (a finished job): no time left to say
    out[#out + 1] = 'lease_ms_left'
    out[#out + 1] = int_str(until_ms - now)
  end
  local holder = redis.call('GET', k.holder)
  if holder and holder ~= k.stream then  -- C taken over by another stream's job (need_count)
    out[#out + 1] = 'count_taken_by'
    out[#out + 1] = holder
  end
  if lost then  -- an unfinished job that cannot go on (entries_lost): made anew
    out[#out + 1] = 'entries_lost'
    out[#out + 1] = lost
  end
  out[#out + 1] = 'now_ms'
  out[#out + 1] = int_str(now)
  return out
end

-- wc_result_sum_v4 (no-writes): the result's distinct words and their total, summed inside
-- Redis (nothing sent but two numbers), a page of ZRANGE at a time.
--   KEYS: the nine. ARGV: none. Reply: {ZCARD C, the sum of C's scores as a decimal string}.
-- Without --out the coordinator checks both against the job's record: a count another writer
-- changed (ZINCRBY) is found, where ZCARD alone saw only words added or removed. Scores are
-- integers below 2^53 (the job's total is bounded so), which a Lua number sums exactly.
local function result_sum(keys, args)
  local k = open_keys(keys)
  nargs_exact(args, 0, 'no arguments')
  local n = redis.call('ZCARD', k.counts)
  local sum = 0
  for first = 0, n - 1, 10000 do
    local page = redis.call('ZRANGE', k.counts, first, first + 9999, 'WITHSCORES')
    for j = 2, #page, 2 do sum = sum + tonumber(page[j]) end
  end
  return {n, string.format('%.0f', sum)}
end

-- wc_acl_check_v4 (no-writes): what the job needs that this connection's ACL user may not do,
-- found with redis.acl_check_cmd before a job begins: a job begun and then refused stays behind
-- and blocks later runs. Every command the functions call, on the keys they call it on
-- (library_needs; each writing function asks the same before its first write, need_acl), and
-- the caller's own commands.
--   KEYS: the nine. ARGV: mode ('direct' or 'shuffle': the commands only the other mode calls
--   are not asked for), then the caller's commands, each as its number of words and its words
--   (e.g. 2 INFO persistence 1 BGSAVE). Reply: one string per denied command (with a container
--   command's subcommand), followed by the job keys it is denied on, each first key of a call
--   ("HSET files:job, files:plan", "XINFO GROUPS files", "BGSAVE"); an empty array if none. A
--   command the server does not know (renamed away, rename-command) is denied.
local function acl_check(keys, args)
  local k = key_names(keys)
  nargs(args, 1, 'the mode')
  if args[1] ~= 'direct' and args[1] ~= 'shuffle' then bad('mode', args[1]) end
  local needs = library_needs(k, args[1])
  local i = 2
  while i <= #args do
    local n = string.match(args[i], '^[1-9][0-9]?$') and tonumber(args[i])
    if not n or i + n > #args then bad('command length', args[i]) end
    needs[#needs + 1] = {unpack(args, i + 1, i + n)}
    i = i + n + 1
  end
  local is_key = {}
  for _, key in pairs(k) do is_key[key] = true end
  local names, keys_of = {}, {}  -- denied command names in order; each one's denied keys
  for _, cmd in ipairs(needs) do
    if not acl_allows(cmd) then
      local name, first = command_name(cmd)
      if not keys_of[name] then
        names[#names + 1] = name
        keys_of[name] = {}
      end
      for j = first, #cmd do
        if is_key[cmd[j]] then
          local list = keys_of[name]
          if not list[cmd[j]] then
            list[cmd[j]] = true
            list[#list + 1] = cmd[j]
          end
          break
        end
      end
    end
  end
  local denied = {}
  for _, name in ipairs(names) do
    local list = keys_of[name]
    denied[#denied + 1] = #list == 0 and name or (name .. ' ' .. table.concat(list, ', '))
  end
  return denied
end

-- ---- registration ----

-- Turns fail() into an error reply; any other error (e.g. from redis.call) passes unchanged.
local function guarded(fn)
  return function(keys, args)
    local ok, res = pcall(fn, keys, args)
    if ok then return res end
    if type(res) == 'table' and res.wc then return redis.error_reply(res.wc) end
    error(res, 0)
  end
end

local function register(name, fn, flags)
  redis.register_function{function_name = name, callback = guarded(fn), flags = flags or {}}
end

register('wc_job_begin_v4', job_begin)
register('wc_job_add_v4', job_add)
register('wc_job_start_v4', job_start)
register('wc_lease_v4', lease)
register('wc_job_fail_v4', job_fail)
register('wc_job_release_v4', job_release)
register('wc_job_takeover_v4', job_takeover)
register('wc_commit_v4', commit)
register('wc_fail_v4', task_fail)
register('wc_map_done_v4', map_done)
register('wc_ack_finished_v4', ack_finished)
register('wc_reduce_done_v4', reduce_done)
register('wc_publish_v4', publish)
register('wc_publish_write_v4', publish_write)
register('wc_redo_maps_v4', redo_maps)
register('wc_foreign_v4', foreign)
register('wc_progress_v4', progress, {'no-writes'})
register('wc_result_sum_v4', result_sum, {'no-writes'})
register('wc_acl_check_v4', acl_check, {'no-writes'})
