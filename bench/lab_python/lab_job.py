#!/usr/bin/python3
"""The lab's design in Python (pandas + redis-py), as a baseline for bench/job_bench.py.

client: clears its keys, creates the stream `files` and group `worker`, XADDs one entry per
file, starts N worker processes and waits. worker: XREADGROUP one file, count the `text`
column like the reference (read_csv(lineterminator='\\n'), str(), split(" ")), commit through
lab_commit (XACK, then one ZINCRBY per word), steal idle entries with XAUTOCLAIM, exit when
nothing is pending or undelivered.

usage: lab_job.py --redis-port P --workers N FILE...
"""
import argparse
import collections
import multiprocessing
import os
import sys

import pandas as pd
import redis

STREAM, GROUP, COUNT = "files", "worker", "count"


def count_file(path):
    df = pd.read_csv(path, lineterminator="\n", na_values=["None"])
    c = collections.Counter()
    for t in df["text"]:
        t = str(t)
        if t == "\n":
            continue
        c.update(t.split(" "))
    return c


def worker(port, name):
    r = redis.Redis(port=port)
    while True:
        got = r.xreadgroup(GROUP, name, {STREAM: ">"}, count=1, block=100)
        entries = got[0][1] if got else []
        if not entries:
            _, claimed, _ = r.xautoclaim(STREAM, GROUP, name, 5000, "0-0", count=1)
            entries = claimed
        if not entries:
            pending = r.xpending(STREAM, GROUP)["pending"]
            info = [g for g in r.xinfo_groups(STREAM) if g["name"] == GROUP.encode()][0]
            last = r.xinfo_stream(STREAM)["last-generated-id"]
            if pending == 0 and info["last-delivered-id"] == last:
                return
            continue
        eid, fields = entries[0]
        counts = count_file(fields[b"fname"].decode())
        args = [GROUP, eid]
        for w, n in counts.items():
            args += [w, n]
        r.fcall("lab_commit", 2, STREAM, COUNT, *args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    r = redis.Redis(port=a.redis_port)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab_mylib.lua")) as fh:
        r.function_load(fh.read(), replace=True)
    r.delete(STREAM, COUNT)
    r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    for f in a.files:
        r.xadd(STREAM, {"fname": f})
    procs = [multiprocessing.Process(target=worker, args=(a.redis_port, f"w{i}")) for i in range(a.workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    for w, n in r.zrevrange(COUNT, 0, 2, withscores=True):
        print(f"{w.decode()}: {int(n)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
