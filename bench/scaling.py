#!/usr/bin/python3
"""The lab's two analysis questions, measured for `wordcount run` (MODE direct) on this machine:
  1. efficiency as workers grow (1, 2, 4, 8, 16, 32) at a fixed input;
  2. efficiency as the input grows (multiples of the 140 x 20,000-row set) at 8 workers.
Efficiency = speed-up / workers for (1), and MB/s relative to the smallest input for (2).
Writes a CSV per question and, if gnuplot is installed (`make bench-deps`), a PNG beside it.

usage: bench/scaling.py [--out bench/results] [--files 140] [--sizes 0.1,0.5,1,2] [--workers 1,2,4,8,16,32]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WC = os.path.join(HERE, "..", "build", "wordcount")


def dataset(files, rows=20000):
    d = os.path.join(HERE, "..", "build", "bench-data", f"job-{files}x{rows}")
    if not os.path.exists(os.path.join(d, "done")):
        subprocess.run([WC, "gen", "--files", str(files), "--rows", str(rows), "--seed", "1", d], check=True,
                       capture_output=True)
        open(os.path.join(d, "done"), "w").close()
    return d, sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".csv")) / 1e6


def run_job(data, workers, tmp):
    cfg = os.path.join(tmp, "config.json")
    json.dump({"LOGFILE": os.path.join(tmp, "wc.log"), "N_NORMAL_WORKERS": workers, "N_CRASHING_WORKERS": 0,
               "N_SLEEPING_WORKERS": 0}, open(cfg, "w"))
    t0 = time.time()
    p = subprocess.run([WC, "run", "-q", "--config", cfg, "--data", os.path.join(data, "*.csv")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"run failed: {p.stderr[-2000:]}")
    return time.time() - t0


def plot(csv, png, title, xlabel, ycol, ylabel, logx):
    if not shutil.which("gnuplot"):
        return False
    script = f"""
set terminal pngcairo size 800,500
set output '{png}'
set datafile separator ','
set key autotitle columnhead bottom right
set title '{title}'
set xlabel '{xlabel}'
set ylabel '{ylabel}'
set grid
{'set logscale x 2' if logx else ''}
set yrange [0:*]
plot '{csv}' using 1:{ycol} with linespoints lw 2 pt 7 title '{ylabel}'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--files", type=int, default=140)
    ap.add_argument("--workers", default="1,2,4,8,16,32")
    ap.add_argument("--sizes", default="0.1,0.5,1,2")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wc_scaling_") as tmp:
        data, mb = dataset(a.files)
        rows = []
        for w in [int(x) for x in a.workers.split(",")]:
            t = run_job(data, w, tmp)
            rows.append((w, t))
            print(f"workers {w:>2}: {t:6.1f} s  {mb / t:6.1f} MB/s", flush=True)
        base = rows[0][1] * rows[0][0]
        csv1 = os.path.join(a.out, "workers.csv")
        with open(csv1, "w") as fh:
            fh.write("workers,seconds,MB_per_s,speedup,efficiency\n")
            for w, t in rows:
                fh.write(f"{w},{t:.2f},{mb / t:.1f},{rows[0][1] / t:.2f},{base / (t * w):.3f}\n")
        plot(csv1, os.path.join(a.out, "workers.png"), f"direct mode, {mb:.0f} MB, 2-core machine",
             "workers", 5, "efficiency (speed-up / workers)", True)

        rows = []
        for f in [float(x) for x in a.sizes.split(",")]:
            d, m = dataset(max(1, round(a.files * f)))
            t = run_job(d, 8, tmp)
            rows.append((m, t))
            print(f"input {m:7.0f} MB: {t:6.1f} s  {m / t:6.1f} MB/s", flush=True)
        csv2 = os.path.join(a.out, "input.csv")
        with open(csv2, "w") as fh:
            fh.write("MB,seconds,MB_per_s,relative_efficiency\n")
            for m, t in rows:
                fh.write(f"{m:.0f},{t:.2f},{m / t:.1f},{(m / t) / (rows[0][0] / rows[0][1]):.3f}\n")
        plot(csv2, os.path.join(a.out, "input.png"), "direct mode, 8 workers, 2-core machine", "input (MB)", 3,
             "MB/s", True)
    print(f"results in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
