#!/usr/bin/python3
"""Redis CPU of the direct-mode commit's word loop, two ways, same batches, same server:
  zmscore-zadd  the earlier wc_commit_v3 loop: sum repeated words in a Lua table, read the old
                scores with ZMSCORE and write the new ones with ZADD, 2000 members a call
  zincrby       today's loop: check every count, then one ZINCRBY per (word, count)
  noop          the FCALL with the same arguments and no loop (argument parsing alone)
Each batch is BATCH distinct words out of a VOCAB-word vocabulary, like a worker's combined
commit; the sorted set starts empty for every pass and ends with ~VOCAB members. The figure
is the redis-server's CPU time (INFO cpu, user + sys) for all batches of a pass; medians of
--repeat passes, taken in turns so that a noisy neighbour hits every design alike.

usage: bench/lua_commit_bench.py [--batches 30] [--batch 60000] [--vocab 300000] [--repeat 5]
Needs python3-redis (make bench-deps).
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

import redis

from job_bench import free_port  # noqa: E402  (same folder)

LIB = r"""#!lua name=commitbench
local ZCHUNK = 2000
local function zmscore_zadd(keys, args)
  local words, sums, pos, m = {}, {}, {}, 0
  for i = 1, #args, 2 do
    local w, c = args[i], args[i + 1]
    if #c > 15 or not string.find(c, '^[1-9][0-9]*$') then error('bad count') end
    c = tonumber(c)
    local p = pos[w]
    if p == nil then
      m = m + 1
      pos[w], words[m], sums[m] = m, w, c
    else
      sums[p] = sums[p] + c
    end
  end
  local scores = {}
  for lo = 1, m, ZCHUNK do
    local hi = math.min(m, lo + ZCHUNK - 1)
    local old = redis.call('ZMSCORE', keys[1], unpack(words, lo, hi))
    for j = lo, hi do
      local o = old[j - lo + 1]
      scores[j] = (o and tonumber(o) or 0) + sums[j]
    end
  end
  for lo = 1, m, ZCHUNK do
    local hi = math.min(m, lo + ZCHUNK - 1)
    local z, nz = {}, 0
    for j = lo, hi do
      z[nz + 1], z[nz + 2], nz = scores[j], words[j], nz + 2
    end
    redis.call('ZADD', keys[1], unpack(z))
  end
  return m
end
local function zincrby(keys, args)
  local find = string.find
  for i = 2, #args, 2 do
    local c = args[i]
    if #c > 15 or not find(c, '^[1-9][0-9]*$') then error('bad count') end
  end
  local added = 0
  for i = 1, #args, 2 do
    local c = args[i + 1]
    if redis.call('ZINCRBY', keys[1], c, args[i]) == c then added = added + 1 end
  end
  return added
end
local function noop(keys, args) return #args end
redis.register_function('zmscore_zadd', zmscore_zadd)
redis.register_function('zincrby', zincrby)
redis.register_function('noop', noop)
"""


def cpu(r):
    i = r.info("cpu")
    return i["used_cpu_user"] + i["used_cpu_sys"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--batch", type=int, default=60000)
    ap.add_argument("--vocab", type=int, default=300000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="lua-commit-bench-")
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                            "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        r.function_load(LIB, replace=True)
        rnd = random.Random(1)
        vocab = [("w%x" % rnd.getrandbits(40)).encode() for _ in range(a.vocab)]
        batches = []
        for _ in range(a.batches):
            args = []
            for w in rnd.sample(vocab, a.batch):
                args += [w, str(rnd.randint(1, 50))]
            batches.append(args)
        designs = ["noop", "zmscore_zadd", "zincrby"]
        secs, cards = {d: [] for d in designs}, {}
        for _ in range(a.repeat):
            for fn in designs:
                r.delete("c")
                c0 = cpu(r)
                for args in batches:
                    r.fcall(fn, 1, "c", *args)
                secs[fn].append(cpu(r) - c0)
                cards[fn] = r.zcard("c")
        if cards["zmscore_zadd"] != cards["zincrby"]:
            raise SystemExit("the two loops left different sets")
        pairs = a.batches * a.batch
        print(f"{a.batches} batches x {a.batch} words ({pairs} pairs), vocabulary {a.vocab}, "
              f"medians of {a.repeat}")
        print("| loop | Redis CPU s | us per pair | vs zmscore-zadd |")
        print("|---|---:|---:|---:|")
        base = statistics.median(secs["zmscore_zadd"])
        for fn in designs:
            m = statistics.median(secs[fn])
            print(f"| {fn.replace('_', '-')} | {m:.2f} | {m / pairs * 1e6:.2f} | {m / base:.2f} |")
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
