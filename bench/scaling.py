#!/usr/bin/python3
"""The lab's two analysis questions, measured for `wordcount run` in both modes on this machine:
  1. efficiency as workers grow (1, 2, 4, 8, 16, 32) at a fixed input (the 140 x 20,000-row set);
  2. efficiency as the input grows (0.1x to 10x of that set, i.e. into GBs) at 8 workers.
Efficiency = speed-up over 1 worker / workers for (1); MB/s for (2), whose flatness is the
answer. Every run uses the embedded Redis with checkpoints every 2 s and is checked against
`wordcount serial` (top 3). Writes bench/results/{workers,input}-<mode>.csv, the peak RSS of
the largest worker (from the job log) included, and, if gnuplot is installed
(`make bench-deps`), workers.png and input.png with one line per mode.

usage: bench/scaling.py [--out bench/results] [--modes direct,shuffle] [--workers 1,2,4,8,16,32 | ""]
                        [--sizes 0.1,0.5,1,2,4,10] [--repeat 1]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WC = os.path.join(HERE, "..", "build", "wordcount")
BASE_FILES = 140


def dataset(files, rows=20000):
    d = os.path.join(HERE, "..", "build", "bench-data", f"job-{files}x{rows}")
    if not os.path.exists(os.path.join(d, "done")):
        subprocess.run([WC, "gen", "--files", str(files), "--rows", str(rows), "--seed", "1", d], check=True,
                       capture_output=True)
        open(os.path.join(d, "done"), "w").close()
    return d, sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".csv")) / 1e6


_top3 = {}


def top3(data):
    if data not in _top3:
        p = subprocess.run([WC, "serial", "-q", "--top", "3", data], capture_output=True, text=True, check=True)
        _top3[data] = p.stdout
    return _top3[data]


def run_job(data, workers, mode, tmp):
    """(seconds, largest worker peak RSS in MB) of one run."""
    cfg = os.path.join(tmp, "config.json")
    log = os.path.join(tmp, "wc.log")
    json.dump({"LOGFILE": log, "N_NORMAL_WORKERS": workers, "N_CRASHING_WORKERS": 0, "N_SLEEPING_WORKERS": 0,
               "CHECKPOINT_INTERVAL": 2, "MODE": mode, "SPILL_DIR": os.path.join(tmp, "spill")}, open(cfg, "w"))
    t0 = time.time()
    p = subprocess.run([WC, "run", "-q", "--config", cfg, "--data", os.path.join(data, "*.csv")],
                       capture_output=True, text=True)
    t = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"run failed: {p.stderr[-2000:]}")
    if p.stdout != top3(data):
        sys.exit(f"{mode} with {workers} workers: top 3 {p.stdout!r} differ from serial's {top3(data)!r}")
    with open(log) as fh:
        rss = [int(x) for x in re.findall(r"max_rss_kb=(\d+)", fh.read())]
    return t, max(rss) / 1024 if rss else float("nan")


def measure(data, workers, mode, tmp, repeat):
    runs = [run_job(data, workers, mode, tmp) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def plot(png, title, xlabel, ylabel, series, ycol, logx):
    if not shutil.which("gnuplot"):
        return False
    lines = ", ".join(f"'{csv}' using 2:{ycol} with linespoints lw 2 pt 7 title '{name}'" for name, csv in series)
    script = f"""
set terminal pngcairo size 800,500
set output '{png}'
set datafile separator ','
set key top right
set title '{title}'
set xlabel '{xlabel}'
set ylabel '{ylabel}'
set grid
{'set logscale x 2' if logx else ''}
set yrange [0:*]
plot {lines}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--modes", default="direct,shuffle")
    ap.add_argument("--workers", default="1,2,4,8,16,32")
    ap.add_argument("--sizes", default="0.1,0.5,1,2,4,10")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    modes = a.modes.split(",")
    machine = f"{os.cpu_count()}-core machine"
    with tempfile.TemporaryDirectory(prefix="wc_scaling_") as tmp:
        data, mb = dataset(BASE_FILES)
        series = []
        for mode in modes if a.workers else []:  # --workers "": the input question only
            rows = []
            for w in [int(x) for x in a.workers.split(",")]:
                t, rss = measure(data, w, mode, tmp, a.repeat)
                rows.append((w, t, rss))
                print(f"{mode:<8} workers {w:>2}: {t:6.2f} s  {mb / t:6.1f} MB/s  worker peak RSS {rss:5.0f} MB",
                      flush=True)
            csv = os.path.join(a.out, f"workers-{mode}.csv")
            with open(csv, "w") as fh:
                fh.write("mode,workers,seconds,MB_per_s,speedup,efficiency,worker_rss_MB\n")
                for w, t, rss in rows:
                    speedup = rows[0][1] / t
                    fh.write(f"{mode},{w},{t:.2f},{mb / t:.1f},{speedup:.2f},{speedup / (w / rows[0][0]):.3f},"
                             f"{rss:.0f}\n")
            series.append((mode, csv))
        if series:
            plot(os.path.join(a.out, "workers.png"), f"{mb:.0f} MB input, {machine}", "workers",
                 "efficiency (speed-up over 1 worker / workers)", series, 6, True)
            plot(os.path.join(a.out, "workers-seconds.png"), f"{mb:.0f} MB input, {machine}", "workers",
                 "seconds", series, 3, True)

        series = []
        for mode in modes:
            rows = []
            for f in [float(x) for x in a.sizes.split(",")]:
                d, m = dataset(max(1, round(BASE_FILES * f)))
                t, rss = measure(d, 8, mode, tmp, a.repeat)
                rows.append((m, t, rss))
                print(f"{mode:<8} input {m:7.0f} MB: {t:6.2f} s  {m / t:6.1f} MB/s  worker peak RSS {rss:5.0f} MB",
                      flush=True)
            csv = os.path.join(a.out, f"input-{mode}.csv")
            with open(csv, "w") as fh:
                fh.write("mode,MB,seconds,MB_per_s,relative_efficiency,worker_rss_MB\n")
                for m, t, rss in rows:
                    fh.write(f"{mode},{m:.0f},{t:.2f},{m / t:.1f},{(m / t) / (rows[0][0] / rows[0][1]):.3f},"
                             f"{rss:.0f}\n")
            series.append((mode, csv))
        plot(os.path.join(a.out, "input.png"), f"8 workers, {machine}", "input (MB)", "MB/s", series, 4, True)
    print(f"results in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
