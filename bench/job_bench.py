#!/usr/bin/python3
"""Times the whole job on one data set, in one run, on this machine:
  serial       wordcount serial (in-process, all cores)
  direct       wordcount run, MODE direct (the lab's design in C++), embedded Redis
  lab-python   the lab's design in Python (bench/lab_python/lab_job.py), same Redis version
Counts of direct and lab-python are checked against serial (all words / the top 3).

usage: bench/job_bench.py [--files 140] [--rows 20000] [--workers 2] [--skip-python]
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WC = os.path.join(HERE, "..", "build", "wordcount")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def timed(cmd, **kw):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return time.time() - t0, p


def fcall_seconds(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"], capture_output=True, text=True).stdout
    m = re.search(r"cmdstat_fcall:calls=\d+,usec=(\d+)", out)
    return int(m.group(1)) / 1e6 if m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=140)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-python", action="store_true")
    a = ap.parse_args()
    data = os.path.join(HERE, "..", "build", "bench-data", f"job-{a.files}x{a.rows}")
    if not os.path.exists(os.path.join(data, "done")):
        subprocess.run([WC, "gen", "--files", str(a.files), "--rows", str(a.rows), "--seed", "1", data], check=True)
        open(os.path.join(data, "done"), "w").close()
    files = sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".csv"))
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    rows = []
    with tempfile.TemporaryDirectory(prefix="wc_bench_") as tmp:
        ser = os.path.join(tmp, "serial.txt")
        t, _ = timed([WC, "serial", "-q", "--top", "0", "--out", ser, data])
        rows.append(("serial", t, "", "exact (reference)"))
        expected = open(ser, "rb").read()
        top3 = "".join(f"{w}: {c}\n" for c, w in (l.split("\t") for l in expected.decode().splitlines()[:3]))

        # direct: an external Redis on a free port so that its commandstats can be read
        port = free_port()
        rdir = os.path.join(tmp, "redis")
        os.makedirs(rdir)
        redis_proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--dir", rdir, "--logfile", "redis.log"], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            cfg = os.path.join(tmp, "config.json")
            json.dump({"LOGFILE": os.path.join(tmp, "wc.log"), "N_NORMAL_WORKERS": a.workers, "N_CRASHING_WORKERS": 0,
                       "N_SLEEPING_WORKERS": 0}, open(cfg, "w"))
            out = os.path.join(tmp, "direct.txt")
            t, _ = timed([WC, "run", "-q", "--config", cfg, "--data", os.path.join(data, "*.csv"), "--out", out,
                          "--redis", f"redis://127.0.0.1:{port}"])
            ok = "exact" if open(out, "rb").read() == expected else "MISMATCH"
            rows.append(("direct", t, fcall_seconds(port), ok))
            if not a.skip_python:
                subprocess.run(["redis-cli", "-p", str(port), "CONFIG", "RESETSTAT"], capture_output=True)
                t, p = timed(["/usr/bin/python3", os.path.join(HERE, "lab_python", "lab_job.py"), "--redis-port",
                              str(port), "--workers", str(a.workers)] + files)
                ok = "top 3 exact" if p.stdout == top3 else f"top 3 differ: {p.stdout!r}"
                rows.append(("lab-python", t, fcall_seconds(port), ok))
        finally:
            redis_proc.kill()
            redis_proc.wait()
    print(f"{len(files)} files, {mb:.0f} MB, {a.workers} workers, {os.cpu_count()} cores")
    print(f"{'design':<12} {'seconds':>8} {'MB/s':>7} {'in Redis (FCALL s)':>19}  {'vs lab-python':>13}  counts")
    base = next((r[1] for r in rows if r[0] == "lab-python"), None)
    for name, t, redis_s, ok in rows:
        ratio = f"{base / t:.1f}x" if base else "-"
        rs = f"{redis_s:.1f}" if isinstance(redis_s, float) else "-"
        print(f"{name:<12} {t:>8.1f} {mb / t:>7.0f} {rs:>19}  {ratio:>13}  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
