#!/usr/bin/python3
"""Chaos soak (not part of CI): runs the chaos scenario of tests/job/chaos_test.py over many
seeds and prints a table of runs, Redis restarts, killed workers, tasks counted again and
mismatches against `wordcount serial` (which must stay zero).

usage: scripts/soak.py [--wordcount build/wordcount] [--seeds 1-50] [--persistence rdb,aof]
                       [--modes direct,shuffle]
"""
import argparse
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "job"))
import chaos_test  # noqa: E402
import job_test as jt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordcount", default=os.path.join(HERE, "..", "build", "wordcount"))
    ap.add_argument("--seeds", default="1-20")
    ap.add_argument("--persistence", default="rdb,aof")
    ap.add_argument("--modes", default="direct,shuffle")
    args = ap.parse_args()
    jt.WC = os.path.abspath(args.wordcount)
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    print(f"{'seed':>4} {'mode':>7} {'pers':>4} {'secs':>6} {'restarts':>8} {'forced':>6} {'worker kills':>12} "
          f"{'recounted':>9} {'result':>8}")
    totals = {"runs": 0, "restarts": 0, "kills": 0, "mismatches": 0}
    runs = [(mode, persistence, seed) for mode in args.modes.split(",")
            for persistence in args.persistence.split(",") for seed in seeds]
    for mode, persistence, seed in runs:
        jt.MODE = mode
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="wc_soak_") as tmp:
            try:
                stderr, kills = chaos_test.chaos_run(tmp, seed, persistence)
                m = re.search(r"survived (\d+) Redis restart\(s\) \((?:(\d+) forced, (\d+) unplanned|\d+ seen on "
                              r"the external server)\) and (\d+) killed worker\(s\)"
                              r"(?:, \d+ crashed \(crash point\))?; (?:>= )?(\S+) task", stderr)
                restarts, forced, _, wkills, again = m.groups()
                forced = forced or "-"  # an external server's restarts are seen, not forced
                result = "exact"
            except AssertionError as e:
                restarts = forced = wkills = again = "?"
                result = "MISMATCH" if "differ" in str(e) else "ERROR"
                totals["mismatches"] += result == "MISMATCH"
                print(str(e)[:500], file=sys.stderr)
        totals["runs"] += 1
        totals["restarts"] += int(restarts) if restarts.isdigit() else 0
        totals["kills"] += int(wkills) if wkills.isdigit() else 0
        print(f"{seed:>4} {mode:>7} {persistence:>4} {time.time() - t0:>6.1f} {restarts:>8} {forced:>6} {wkills:>12} "
              f"{again:>9} {result:>8}", flush=True)
    print(f"\n{totals['runs']} runs, {totals['restarts']} Redis restarts, {totals['kills']} worker kills, "
          f"{totals['mismatches']} mismatches")
    return 1 if totals["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
