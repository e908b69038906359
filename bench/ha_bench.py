#!/usr/bin/python3
"""Time lost per Redis crash: checkpoints and restarts (the lab's way, REDIS_HA "none") against
replicas and Sentinel failover (REDIS_HA "sentinel"), on one data set, in one run.

For each design it runs the job without crashes and with the Redis (the single server, or the
current primary) SIGKILLed by the coordinator every --interval seconds (REDIS_RESTART_INTERVAL;
REDIS_DOWNTIME 1 s for the single server, whose restart waits that long; a killed primary's
replacement is Sentinel's to choose). Time lost per crash = (seconds with crashes - seconds
without) / crashes. Every run's full counts are checked against `wordcount serial`. HA runs use
SENTINEL_DOWN_AFTER_MS --down-after-ms.

Both designs get the same smaller commits (--commit-max-tasks 8, --commit-max-words 100000):
with the defaults (64 tasks, 400,000 words, ~1 s of Redis time, more on a loaded machine) a
direct-mode commit carries more work than fits between two crashes 2 s apart, and a busy
primary is taken for a dead one by Sentinel (failovers without a crash, counted in the table).
A run that does not finish within --timeout is reported as such.

--commit-wait: instead, replicas only, without and with COMMIT_WAIT_REPLICAS 1 (each
acknowledging call followed by WAIT 1): time per WAIT (median of the workers' wait_us), the
run's time without and with crashes, and the work a failover loses (tasks counted again per
crash, from the summary's counted_again_at_least).

usage: bench/ha_bench.py [--data DIR] [--files 140 --rows 20000] [--mode direct|shuffle]
                         [--interval 2] [--workers 2] [--repeat 1] [--down-after-ms 2000]
                         [--commit-max-tasks 8] [--commit-max-words 100000] [--timeout 600]
                         [--commit-wait]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WC = os.path.join(HERE, "..", "build", "wordcount")


def dataset(args):
    if args.data:
        return args.data
    d = os.path.join(HERE, "..", "build", "bench-data", f"job-{args.files}x{args.rows}")
    if not os.path.exists(os.path.join(d, "done")):
        subprocess.run([WC, "gen", "--files", str(args.files), "--rows", str(args.rows), "--seed", "1", d],
                       check=True, capture_output=True)
        open(os.path.join(d, "done"), "w").close()
    return d


def run(tmp, data, args, ha, interval, wait=0):
    log = os.path.join(tmp, "wc.log")
    cfg = {"LOGFILE": log, "N_NORMAL_WORKERS": args.workers, "N_CRASHING_WORKERS": 0, "N_SLEEPING_WORKERS": 0,
           "MODE": args.mode, "STATE_DIR": os.path.join(tmp, "state"), "CHECKPOINT_INTERVAL": 2,
           "REDIS_RESTART_INTERVAL": interval, "REDIS_DOWNTIME": 1, "REDIS_RETRY_SECONDS": 120,
           "REDIS_HA": ha, "SENTINEL_DOWN_AFTER_MS": args.down_after_ms, "COMMIT_MAX_TASKS": args.commit_max_tasks,
           "COMMIT_MAX_WORDS": args.commit_max_words, "COMMIT_WAIT_REPLICAS": wait}
    path = os.path.join(tmp, "config.json")
    with open(path, "w") as fh:
        json.dump(cfg, fh)
    out = os.path.join(tmp, "out.txt")
    t0 = time.time()
    p = subprocess.Popen([WC, "run", "-q", "--config", path, "--data", os.path.join(data, "*.csv"), "--out", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = p.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        p.terminate()  # SIGTERM: the coordinator stops its workers and Redis
        p.communicate()
        return None
    seconds = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{ha} interval {interval}: exit {p.returncode}: {stderr[-2000:]}")
    with open(log) as fh:
        lines = fh.read().splitlines()
    crashes = sum(" redis_crash " in l for l in lines)
    gaps = [float(l.split("no_primary_s=")[1].split()[0]) for l in lines if " failover " in l and "no_primary_s=" in l]
    # A failover without a crash before it: Sentinel took a busy primary for a dead one.
    spurious = sum(1 for g in gaps if g == 0.0)
    gaps = [g for g in gaps if g > 0.0]
    with open(out, "rb") as fh:
        counts = fh.read()
    waits = [int(l.split(" wait_us=")[1].split()[0]) for l in lines if " wait_us=" in l]
    acks = sum(1 for l in lines if l.endswith(" result=accepted") and any(f" {e} " in l for e in ("commit", "map", "reduce")))
    again = next((int(l.split("counted_again_at_least=")[1].split()[0]) for l in lines if " job_done " in l), -1)
    RUN_DETAIL.update(waits=waits, acks=acks, again=again)
    return seconds, crashes, gaps, counts, spurious


RUN_DETAIL = {}  # of the last run: WAIT times (us), acknowledging calls, tasks counted again


def commit_wait(args, data, reference, tmp):
    """Replicas only: COMMIT_WAIT_REPLICAS 0 against 1, without and with crashes."""
    rows = []
    for wait in (0, 1):
        result = {}
        for interval in (0, args.interval):
            runs = []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory(dir=tmp) as d:
                    r = run(d, data, args, "sentinel", interval, wait)
                if r is None:
                    print(f"  wait {wait} crash every {interval or '-'} s: did not finish in {args.timeout} s", flush=True)
                    continue
                seconds, crashes, _, counts, spurious = r
                if counts != reference:
                    sys.exit(f"wait {wait} interval {interval}: counts differ from serial")
                w = RUN_DETAIL["waits"]
                runs.append(dict(seconds=seconds, crashes=crashes, again=RUN_DETAIL["again"], acks=RUN_DETAIL["acks"],
                                 wait_ms=statistics.median(w) / 1000 if w else 0.0, spurious=spurious))
                print(f"  wait {wait} crash every {interval or '-'} s: {seconds:.2f} s, {crashes} crashes, "
                      f"{RUN_DETAIL['acks']} acknowledgements, WAIT median {runs[-1]['wait_ms']:.2f} ms, "
                      f"{RUN_DETAIL['again']} tasks counted again, {spurious} failovers without a crash", flush=True)
            result[interval] = runs
        med = lambda interval, k: statistics.median(r[k] for r in result[interval]) if result[interval] else float("nan")
        base, with_crashes, crashes = med(0, "seconds"), med(args.interval, "seconds"), med(args.interval, "crashes")
        again = med(args.interval, "again")
        rows.append((wait, med(0, "wait_ms"), med(0, "acks"), base, with_crashes, crashes,
                     (with_crashes - base) / crashes if crashes else float("nan"),
                     again / crashes if crashes else float("nan")))
    print(f"\n{args.mode} mode, replicas + Sentinel, {args.workers} workers, COMMIT_MAX_TASKS {args.commit_max_tasks}, "
          f"crash every {args.interval} s, medians of {args.repeat}:")
    print("| COMMIT_WAIT_REPLICAS | WAIT ms (median) | acknowledgements | no crashes s | with crashes s | crashes "
          "| s lost per crash | tasks counted again per crash |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for wait, wait_ms, acks, base, wc_, crashes, lost, again in rows:
        print(f"| {wait} | {wait_ms:.2f} | {acks:.0f} | {base:.2f} | {wc_:.2f} | {crashes:.0f} | {lost:.2f} | {again:.2f} |")
    print("counts: every run equal to serial")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    ap.add_argument("--files", type=int, default=140)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--mode", default="direct", choices=["direct", "shuffle"])
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--down-after-ms", type=int, default=2000)
    ap.add_argument("--commit-max-tasks", type=int, default=8)
    ap.add_argument("--commit-max-words", type=int, default=100000)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--commit-wait", action="store_true", help="replicas only: COMMIT_WAIT_REPLICAS 0 against 1")
    args = ap.parse_args()
    data = dataset(args)
    with tempfile.TemporaryDirectory(prefix="wc_ha_bench_") as tmp:
        ref = os.path.join(tmp, "serial.txt")
        subprocess.run([WC, "serial", "-q", "--top", "0", "--out", ref, data], check=True, capture_output=True)
        with open(ref, "rb") as fh:
            reference = fh.read()
        if args.commit_wait:
            return commit_wait(args, data, reference, tmp)
        rows = []
        for ha in ("none", "sentinel"):
            result = {}
            for interval in (0, args.interval):
                runs = []
                for _ in range(args.repeat):
                    with tempfile.TemporaryDirectory(dir=tmp) as d:
                        r = run(d, data, args, ha, interval)
                    if r is None:
                        print(f"  {ha:8} crash every {interval or '-'} s: did not finish in {args.timeout} s",
                              flush=True)
                        runs.append((float("inf"), 0, [], 0))
                        continue
                    seconds, crashes, gaps, counts, spurious = r
                    if counts != reference:
                        sys.exit(f"{ha} interval {interval}: counts differ from serial")
                    runs.append((seconds, crashes, gaps, spurious))
                    print(f"  {ha:8} crash every {interval or '-'} s: {seconds:.2f} s, {crashes} crashes, "
                          f"{spurious} failovers without a crash", flush=True)
                result[interval] = runs
            base = statistics.median(r[0] for r in result[0])
            with_crashes = statistics.median(r[0] for r in result[args.interval])
            crashes = statistics.median(r[1] for r in result[args.interval])
            gaps = [g for r in result[args.interval] for g in r[2]]
            lost = (with_crashes - base) / crashes if crashes else float("nan")
            spurious = sum(r[3] for rs in result.values() for r in rs)
            rows.append((ha, base, with_crashes, crashes, lost, gaps, spurious))
    print(f"\n{args.mode} mode, {args.workers} workers, COMMIT_MAX_TASKS {args.commit_max_tasks}, crash every "
          f"{args.interval} s, medians of {args.repeat}:")
    print("| Redis | no crashes s | with crashes s | crashes | s lost per crash | no primary s (failover) "
          "| failovers without a crash |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for ha, base, wc_, crashes, lost, gaps, spurious in rows:
        gap = f"{min(gaps):.2f}-{max(gaps):.2f}" if gaps else "-"
        print(f"| {ha} | {base:.2f} | {wc_:.2f} | {crashes:.0f} | {lost:.2f} | {gap} | {spurious} |")
    print("counts: every run equal to serial")


if __name__ == "__main__":
    main()
